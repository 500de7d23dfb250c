package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// TestProgressPlainLines checks the lines written when the output is not
// a terminal: one per interval that passed while bytes arrived, and a
// final one with the total time.
func TestProgressPlainLines(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	var out bytes.Buffer
	p := newProgress(&out, "upload", 4<<20, clock.now)
	steps := []struct {
		advance time.Duration
		bytes   int
	}{
		{time.Second, 1 << 20},     // too soon to draw
		{4 * time.Second, 1 << 20}, // 5s since the start: draw
		{time.Second, 1 << 20},     // 1s since the last line: quiet
		{5 * time.Second, 1 << 20}, // draw
	}
	for _, s := range steps {
		clock.t = clock.t.Add(s.advance)
		p.add(s.bytes)
	}
	p.finish()
	want := []string{
		"upload 2.0 MiB / 4.0 MiB  50%  409.6 KiB/s",
		"upload 4.0 MiB / 4.0 MiB 100%  372.4 KiB/s",
		"upload 4.0 MiB / 4.0 MiB 100%  372.4 KiB/s  in 11s",
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestProgressTerminal checks that on a terminal the line is redrawn in
// place, padded over a longer previous line, and ended once.
func TestProgressTerminal(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	var out bytes.Buffer
	p := newProgress(&out, "download", -1, clock.now)
	p.tty, p.every = true, 100*time.Millisecond
	clock.t = clock.t.Add(time.Second)
	p.add(2 << 20)
	clock.t = clock.t.Add(time.Second)
	p.add(0)
	p.finish()
	got := out.String()
	want := "\rdownload 2.0 MiB  2.0 MiB/s" +
		"\rdownload 2.0 MiB  1.0 MiB/s" +
		"\rdownload 2.0 MiB  1.0 MiB/s  in 2s\n"
	if got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
}

// TestProgressReader counts the bytes read through it.
func TestProgressReader(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	p := newProgress(io.Discard, "x", 10, clock.now)
	n, err := io.Copy(io.Discard, p.reader(strings.NewReader("0123456789")))
	if err != nil || n != 10 || p.done != 10 {
		t.Fatalf("copied %d (%v), counted %d", n, err, p.done)
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{16 << 20, "16.0 MiB"}, {5 << 30, "5.0 GiB"}, {3 << 40, "3.0 TiB"},
	}
	for _, tt := range tests {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1500", 1500, true}, {"4KiB", 4096, true}, {"16 MiB", 16 << 20, true},
		{"2GiB", 2 << 30, true}, {"-1", 0, false}, {"1.5MiB", 0, false}, {"MiB", 0, false},
		{"9999999999GiB", 0, false}, {"12MB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

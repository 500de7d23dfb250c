package api

import (
	"strconv"
	"testing"
	"time"
)

func TestLoginBackoffTable(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	b := newLoginBackoff(clock, 10)

	tests := []struct {
		name    string
		advance time.Duration
		fail    bool
		user    string
		addr    string
		want    time.Duration
	}{
		{"fresh", 0, false, "alice", "10.0.0.1", 0},
		{"f1", 0, true, "alice", "10.0.0.1", 0},
		{"f2", time.Minute, true, "alice", "10.0.0.2", 0},
		{"f3", time.Minute, true, "alice", "10.0.0.3", 0},
		{"f4", time.Minute, true, "ALICE", "10.0.0.4", 0},
		{"f5 blocks", time.Minute, true, "alice", "10.0.0.5", 11 * time.Minute},
		{"blocked by name, any case", time.Minute, false, "Alice", "10.0.0.9", 10 * time.Minute},
		{"another name from a failing address is free", 0, false, "bob", "10.0.0.1", 0},
		{"oldest failure leaves the window: one more try", 10 * time.Minute, false, "alice", "10.0.0.9", 0},
		{"which fails again", 0, true, "alice", "10.0.0.9", time.Minute},
		{"window passed", time.Hour, false, "alice", "10.0.0.9", 0},
	}
	for _, tt := range tests {
		now = now.Add(tt.advance)
		if tt.fail {
			b.fail(tt.user, tt.addr)
		}
		if got := b.wait(tt.user, tt.addr); got != tt.want {
			t.Fatalf("%s: wait = %v, want %v", tt.name, got, tt.want)
		}
	}

	// The table stays bounded: the least recently failed keys go first.
	for i := range 50 {
		b.fail("u"+strconv.Itoa(i), "10.1.0."+strconv.Itoa(i))
	}
	if n := b.len(); n > 10 {
		t.Fatalf("table holds %d keys, capacity 10", n)
	}
	// Stale entries are dropped lazily.
	now = now.Add(time.Hour)
	b.fail("late", "10.2.0.1")
	if n := b.len(); n != 2 {
		t.Fatalf("after the window the table holds %d keys, want 2", n)
	}
	b.succeed("late")
	if n := b.len(); n != 1 {
		t.Fatalf("success kept the username: %d keys", n)
	}
}

func TestDecodeBasic(t *testing.T) {
	tests := []struct {
		in, user, pass string
		ok             bool
	}{
		{"YWxpY2U6cHc=", "alice", "pw", true},
		{"YWxp Y2U6cHc=", "alice", "pw", true}, // junk dropped
		{"YWxpY2U6cHc", "", "", false},         // padding missing
		{"YWxpY2U", "", "", false},
		{"YQ==", "a", "", true}, // no colon: username only
		{"", "", "", true},
		{"A", "", "", false},
		{"6Tpw", "\u00e9", "p", true}, // Latin-1 fallback
		{"YTpiOmM=", "a", "b:c", true},
	}
	for _, tt := range tests {
		u, p, ok := decodeBasic(tt.in)
		if u != tt.user || p != tt.pass || ok != tt.ok {
			t.Errorf("decodeBasic(%q) = %q, %q, %v; want %q, %q, %v", tt.in, u, p, ok, tt.user, tt.pass, tt.ok)
		}
	}
}

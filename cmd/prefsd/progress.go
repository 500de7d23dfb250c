package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress reports how far a transfer has got: bytes done of the total,
// the share done and the rate. On a terminal it redraws one line in place
// with \r several times a second; otherwise it writes a plain line every
// few seconds, so logs stay readable. It draws from the transferring
// goroutine, as bytes pass, and needs no goroutine of its own.
type progress struct {
	w     io.Writer
	label string
	total int64 // -1 if unknown
	tty   bool
	now   func() time.Time
	every time.Duration

	start, last time.Time
	done        int64
	width       int // of the last line drawn on a terminal
}

// newProgress starts reporting a transfer of total bytes (-1 if unknown)
// on w.
func newProgress(w io.Writer, label string, total int64, now func() time.Time) *progress {
	p := &progress{w: w, label: label, total: total, tty: isTerminal(w), now: now}
	p.every = 5 * time.Second
	if p.tty {
		p.every = 100 * time.Millisecond
	}
	p.start = now()
	p.last = p.start
	return p
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// add counts n more bytes and draws if it is time to.
func (p *progress) add(n int) {
	p.done += int64(n)
	if t := p.now(); t.Sub(p.last) >= p.every {
		p.last = t
		p.draw(t, false)
	}
}

// finish draws the final state and ends the line.
func (p *progress) finish() {
	p.draw(p.now(), true)
}

func (p *progress) draw(t time.Time, final bool) {
	elapsed := t.Sub(p.start)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", p.label, formatBytes(p.done))
	if p.total >= 0 {
		fmt.Fprintf(&b, " / %s", formatBytes(p.total))
		if p.total > 0 {
			fmt.Fprintf(&b, " %3d%%", p.done*100/p.total)
		}
	}
	if elapsed > 0 {
		fmt.Fprintf(&b, "  %s/s", formatBytes(int64(float64(p.done)/elapsed.Seconds())))
	}
	if final {
		fmt.Fprintf(&b, "  in %s", elapsed.Round(time.Millisecond))
	}
	line := b.String()
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := ""
	if n := p.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	p.width = len(line)
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(p.w, "\r%s%s%s", line, pad, end)
}

// reader returns r counting its bytes into p.
func (p *progress) reader(r io.Reader) io.Reader { return &progressReader{r: r, p: p} }

type progressReader struct {
	r io.Reader
	p *progress
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.p.add(n)
	return n, err
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// scheduler hands out operations to the client goroutines and decides
// when the run ends: after the deadline, after the operation budget, or
// when the context is done. With a rate it is open-loop: operation n is
// due at start + n/rate whatever happened to earlier ones.
type scheduler struct {
	start   time.Time
	warmEnd time.Time
	// end is when no more operations start; zero means no deadline.
	end time.Time
	// rate is the target of operations a second; 0 means every client
	// sends its next operation as soon as the previous one is answered.
	rate float64
	// ops is the number of measured operations to send; 0 means no limit.
	ops int64

	seq      atomic.Int64
	measured atomic.Int64
}

// next waits for the next operation to be due and returns the time it
// was due (the time to measure latency from), whether it falls in the
// warm-up, and false once the run is over.
func (s *scheduler) next(ctx context.Context) (due time.Time, warmup, ok bool) {
	if ctx.Err() != nil {
		return time.Time{}, false, false
	}
	if s.rate > 0 {
		n := s.seq.Add(1) - 1
		due = s.start.Add(time.Duration(float64(n) * float64(time.Second) / s.rate))
	} else {
		due = time.Now()
	}
	if !s.end.IsZero() && !due.Before(s.end) {
		return time.Time{}, false, false
	}
	warmup = due.Before(s.warmEnd)
	if !warmup && s.ops > 0 && s.measured.Add(1) > s.ops {
		return time.Time{}, false, false
	}
	if s.rate > 0 {
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return time.Time{}, false, false
			}
		}
	}
	return due, warmup, true
}

// kindStats are one goroutine's results for one operation kind.
type kindStats struct {
	hist     *Histogram
	errors   int64
	byStatus map[string]int64
}

// workerStats are one client goroutine's results. The goroutine records
// into them and the progress reporter reads them, under mu.
type workerStats struct {
	mu    sync.Mutex
	kinds [numKinds]kindStats
}

// newWorkerStats returns empty statistics for one goroutine.
func newWorkerStats() *workerStats {
	ws := &workerStats{}
	for k := range ws.kinds {
		ws.kinds[k] = kindStats{hist: NewHistogram(), byStatus: map[string]int64{}}
	}
	return ws
}

// snapshot is the merged results of every goroutine at one moment.
type snapshot struct {
	kinds [numKinds]kindStats
}

// newSnapshot returns an empty snapshot.
func newSnapshot() *snapshot {
	s := &snapshot{}
	for k := range s.kinds {
		s.kinds[k] = kindStats{hist: NewHistogram(), byStatus: map[string]int64{}}
	}
	return s
}

// add merges one goroutine's results into s.
func (s *snapshot) add(ws *workerStats) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for k := range s.kinds {
		mergeKind(&s.kinds[k], &ws.kinds[k])
	}
}

// mergeKind adds src's results to dst.
func mergeKind(dst, src *kindStats) {
	dst.hist.Merge(src.hist)
	dst.errors += src.errors
	for st, n := range src.byStatus {
		dst.byStatus[st] += n
	}
}

// total returns every kind's results merged.
func (s *snapshot) total() kindStats {
	t := kindStats{hist: NewHistogram(), byStatus: map[string]int64{}}
	for k := range s.kinds {
		mergeKind(&t, &s.kinds[k])
	}
	return t
}

// runner drives one benchmark run.
type runner struct {
	client *http.Client
	sched  *scheduler
	newWL  func(id int) *workload
	conc   int
	stats  []*workerStats

	// done and failed count every finished operation, warm-up included,
	// for the progress line; saw429 records a 429 answer.
	done   atomic.Int64
	failed atomic.Int64
	saw429 atomic.Bool
}

// initStats gives every client goroutine its statistics; it must run
// before runWorkers and before anything takes a snapshot.
func (r *runner) initStats() {
	r.stats = make([]*workerStats, r.conc)
	for i := range r.conc {
		r.stats[i] = newWorkerStats()
	}
}

// runWorkers runs the client goroutines until the scheduler ends the run
// and returns when every one of them has stopped.
func (r *runner) runWorkers(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range r.conc {
		wg.Go(func() { r.worker(ctx, r.newWL(i), r.stats[i]) })
	}
	wg.Wait()
}

// worker sends one operation at a time until the run ends.
func (r *runner) worker(ctx context.Context, wl *workload, ws *workerStats) {
	for {
		due, warmup, ok := r.sched.next(ctx)
		if !ok {
			return
		}
		k := wl.mix.pick(wl.rng)
		start := due
		if r.sched.rate <= 0 {
			start = time.Now()
		}
		status := r.do(ctx, wl, k)
		if ctx.Err() != nil {
			// Interrupted: the answer says nothing about the cluster.
			return
		}
		latency := time.Since(start)
		r.done.Add(1)
		if status != "" {
			r.failed.Add(1)
			if status == "429" {
				r.saw429.Store(true)
			}
		}
		if warmup {
			continue
		}
		ws.mu.Lock()
		ks := &ws.kinds[k]
		if status == "" {
			ks.hist.Record(int64(latency))
		} else {
			ks.errors++
			ks.byStatus[status]++
		}
		ws.mu.Unlock()
	}
}

// do sends one operation of kind k and returns "" on a 2xx answer, the
// status code otherwise, or "timeout" or "transport" when no answer came.
func (r *runner) do(ctx context.Context, wl *workload, k kind) string {
	req, err := wl.request(k)
	if err != nil {
		return "transport"
	}
	resp, err := r.client.Do(req.WithContext(ctx))
	if err != nil {
		return transportStatus(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return strconv.Itoa(resp.StatusCode)
	}
	if err != nil {
		return transportStatus(err)
	}
	return ""
}

// transportStatus names a failure to get an answer.
func transportStatus(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "transport"
}

// snapshot merges every goroutine's results so far.
func (r *runner) snapshot() *snapshot {
	s := newSnapshot()
	for _, ws := range r.stats {
		s.add(ws)
	}
	return s
}

// second is one entry of the per-second timeline.
type second struct {
	// T is the end of the interval in seconds since measuring began.
	T         float64 `json:"t"`
	Ops       int64   `json:"ops"`
	Errors    int64   `json:"errors"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
}

// reporter prints the progress line once a second and builds the
// timeline of the measured part of the run.
type reporter struct {
	r        *runner
	out      io.Writer
	terminal bool
	// hint is printed once, the first time a 429 is seen.
	hint     string
	hinted   bool
	timeline []second

	prev     *snapshot
	prevAt   time.Time
	prevDone int64
}

// run reports until stop is closed, then records the last, partial,
// interval of the timeline and returns.
func (p *reporter) run(stop <-chan struct{}) {
	p.prev, p.prevAt = newSnapshot(), p.r.sched.start
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case now := <-tick.C:
			p.step(now, false)
		case <-stop:
			p.step(time.Now(), true)
			return
		}
	}
}

// step records the interval ending at now and prints the progress line.
func (p *reporter) step(now time.Time, last bool) {
	warmEnd := p.r.sched.warmEnd
	cur := p.r.snapshot()
	total := cur.total()
	if now.After(warmEnd) {
		prevTotal := p.prev.total()
		delta := total.hist.Clone()
		delta.Sub(prevTotal.hist)
		from := p.prevAt
		if from.Before(warmEnd) {
			from = warmEnd
		}
		secs := now.Sub(from).Seconds()
		e := second{
			T:      now.Sub(warmEnd).Seconds(),
			Ops:    int64(delta.Count()),
			Errors: total.errors - prevTotal.errors,
			P50Ms:  ms(delta.Quantile(0.5)),
			P99Ms:  ms(delta.Quantile(0.99)),
		}
		if secs > 0 {
			e.OpsPerSec = float64(e.Ops+e.Errors) / secs
		}
		if !last || e.Ops+e.Errors > 0 {
			p.timeline = append(p.timeline, e)
		}
	}
	done := p.r.done.Load()
	rate := float64(done-p.prevDone) / now.Sub(p.prevAt).Seconds()
	phase, p99 := "", "-"
	if p.prevAt.Before(warmEnd) {
		phase = " (warm-up)"
	}
	if total.hist.Count() > 0 {
		p99 = fmtMs(total.hist.Quantile(0.99))
	}
	if now.After(warmEnd) {
		// Nothing is measured before the warm-up ends, so until then the
		// previous snapshot stays empty and loses nothing recorded late.
		p.prev = cur
	}
	p.prevAt, p.prevDone = now, done

	line := fmt.Sprintf("%6.1fs  %9.0f ops/s  %8d errors  p99 %s%s",
		now.Sub(p.r.sched.start).Seconds(), rate, p.r.failed.Load(), p99, phase)
	switch {
	case last && p.terminal:
		fmt.Fprint(p.out, "\n")
	case last:
	case p.terminal:
		fmt.Fprintf(p.out, "\r%s\x1b[K", line)
	default:
		fmt.Fprintln(p.out, line)
	}
	if !p.hinted && p.r.saw429.Load() {
		p.hinted = true
		if p.terminal && !last {
			fmt.Fprint(p.out, "\n")
		}
		fmt.Fprintln(p.out, p.hint)
	}
}

// ms converts nanoseconds to milliseconds.
func ms(ns int64) float64 { return float64(ns) / 1e6 }

// fmtMs formats nanoseconds as milliseconds for people.
func fmtMs(ns int64) string { return strconv.FormatFloat(ms(ns), 'f', 3, 64) + "ms" }

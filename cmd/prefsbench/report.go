package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"text/tabwriter"
	"time"
)

// results is what a run measured; it is also the -json file's content.
type results struct {
	Config         configView       `json:"config"`
	Started        time.Time        `json:"started"`
	MeasuredSecs   float64          `json:"measured_seconds"`
	OpsPerSec      float64          `json:"ops_per_sec"`
	Kinds          []kindResult     `json:"kinds"`
	Total          kindResult       `json:"total"`
	ErrorsByStatus map[string]int64 `json:"errors_by_status"`
	Timeline       []second         `json:"timeline"`
}

// configView is the run's configuration as the -json file records it.
type configView struct {
	Target      string   `json:"target"`
	Addrs       []string `json:"addrs"`
	Prefix      string   `json:"prefix"`
	Users       int      `json:"users"`
	Keys        int      `json:"keys"`
	ValueSize   int      `json:"value_size"`
	Concurrency int      `json:"concurrency"`
	Duration    string   `json:"duration,omitempty"`
	Ops         int64    `json:"ops,omitempty"`
	Rate        float64  `json:"rate,omitempty"`
	Mix         string   `json:"mix"`
	Warmup      string   `json:"warmup"`
	Timeout     string   `json:"timeout"`
	Seed        uint64   `json:"seed"`
}

// kindResult summarizes one operation kind, or all of them. Count is the
// successful operations, the only ones the latencies describe; Errors the
// failed ones.
type kindResult struct {
	Kind           string           `json:"kind"`
	Count          int64            `json:"count"`
	Errors         int64            `json:"errors"`
	ErrorsByStatus map[string]int64 `json:"errors_by_status"`
	OpsPerSec      float64          `json:"ops_per_sec"`
	MeanMs         float64          `json:"mean_ms"`
	P50Ms          float64          `json:"p50_ms"`
	P90Ms          float64          `json:"p90_ms"`
	P99Ms          float64          `json:"p99_ms"`
	P999Ms         float64          `json:"p99_9_ms"`
	MaxMs          float64          `json:"max_ms"`
}

// summarize turns merged statistics into a result over a measured period.
func summarize(name string, ks kindStats, measured time.Duration) kindResult {
	h := ks.hist
	r := kindResult{
		Kind:           name,
		Count:          int64(h.Count()),
		Errors:         ks.errors,
		ErrorsByStatus: maps.Clone(ks.byStatus),
		MeanMs:         h.Mean() / 1e6,
		P50Ms:          ms(h.Quantile(0.5)),
		P90Ms:          ms(h.Quantile(0.9)),
		P99Ms:          ms(h.Quantile(0.99)),
		P999Ms:         ms(h.Quantile(0.999)),
		MaxMs:          ms(h.Max()),
	}
	if s := measured.Seconds(); s > 0 {
		r.OpsPerSec = float64(r.Count) / s
	}
	return r
}

// newResults builds the results of a run from its final statistics.
func newResults(cfg configView, started time.Time, measured time.Duration, snap *snapshot, timeline []second, m mix) *results {
	res := &results{
		Config:       cfg,
		Started:      started,
		MeasuredSecs: measured.Seconds(),
		Timeline:     timeline,
	}
	if res.Timeline == nil {
		res.Timeline = []second{}
	}
	for k := range numKinds {
		if m[k] > 0 || snap.kinds[k].hist.Count() > 0 || snap.kinds[k].errors > 0 {
			res.Kinds = append(res.Kinds, summarize(k.String(), snap.kinds[k], measured))
		}
	}
	res.Total = summarize("total", snap.total(), measured)
	res.OpsPerSec = res.Total.OpsPerSec
	res.ErrorsByStatus = res.Total.ErrorsByStatus
	return res
}

// writeTable prints one row per operation kind and one for the total.
func (r *results) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tcount\terrors\tops/s\tp50\tp90\tp99\tp99.9\tmax\t")
	for _, k := range append(slices.Clone(r.Kinds), r.Total) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", k.Kind, k.Count, k.Errors, k.OpsPerSec,
			fmtMsF(k.P50Ms), fmtMsF(k.P90Ms), fmtMsF(k.P99Ms), fmtMsF(k.P999Ms), fmtMsF(k.MaxMs))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "measured %.2fs, %.1f ops/s; latencies of successful operations only\n", r.MeasuredSecs, r.OpsPerSec)
	if len(r.ErrorsByStatus) > 0 {
		fmt.Fprint(w, "errors by status:")
		for _, st := range slices.Sorted(maps.Keys(r.ErrorsByStatus)) {
			fmt.Fprintf(w, " %s=%d", st, r.ErrorsByStatus[st])
		}
		fmt.Fprintln(w)
	}
	return nil
}

// fmtMsF formats milliseconds for the table.
func fmtMsF(v float64) string { return fmt.Sprintf("%.3fms", v) }

// writeJSON writes the results to path.
func (r *results) writeJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

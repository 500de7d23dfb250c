package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// report is everything one comparison measured.
type report struct {
	Started time.Time      `json:"started"`
	Options map[string]any `json:"options"`
	Systems []systemResult `json:"systems"`
}

// systemResult is what was measured of one system.
type systemResult struct {
	System    string           `json:"system"`
	Version   string           `json:"version,omitempty"`
	Workloads []workloadResult `json:"workloads"`
	// Failovers are the times from SIGKILL of the leader to the first
	// successful write, in milliseconds.
	Failovers []float64 `json:"failovers_ms,omitempty"`
	// RSSMB is the largest resident set of a member after the workloads.
	RSSMB float64 `json:"max_rss_mb"`
}

// view returns the options as they go in the JSON report.
func (o *options) view() map[string]any {
	return map[string]any{
		"systems": o.systems, "workloads": o.workloads, "duration": o.duration.String(),
		"warmup": o.warmup.String(), "users": o.users, "keys": o.keys, "value_size": o.valueSize,
		"failovers": o.failovers, "nodes": o.nodes,
	}
}

// write writes the report as indented JSON.
func (r *report) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// print writes the comparison table: one row per workload, one column
// group per system, and the first system's ratio to the second's.
func (r *report) print(w io.Writer) {
	if len(r.Systems) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%d nodes each on loopback, data on the same disk, fsync on every commit; %s measured per workload after %s warm-up\n",
		r.Options["nodes"], r.Options["duration"], r.Options["warmup"])
	for _, s := range r.Systems {
		if s.Version != "" {
			fmt.Fprintf(w, "  %s: %s\n", s.System, s.Version)
		}
	}
	fmt.Fprintln(w)
	cmp := len(r.Systems) == 2
	head := fmt.Sprintf("%-24s %7s", "workload", "clients")
	for _, s := range r.Systems {
		head += fmt.Sprintf(" │ %10s %7s %7s %7s", s.System+" ops/s", "p50 ms", "p99 ms", "cpu µs")
	}
	if cmp {
		head += fmt.Sprintf(" │ %7s %7s", "ops/s ×", "p99 ×")
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, strings.Repeat("─", len([]rune(head))))
	var notes []string
	for i, wr := range r.Systems[0].Workloads {
		line := fmt.Sprintf("%-24s %7d", wr.Label, wr.Clients)
		for _, s := range r.Systems {
			if i >= len(s.Workloads) {
				line += fmt.Sprintf(" │ %10s %7s %7s %7s", "-", "-", "-", "-")
				continue
			}
			x := s.Workloads[i]
			line += fmt.Sprintf(" │ %10.0f %7.2f %7.2f %7.0f", x.OpsPerSec, x.P50Ms, x.P99Ms, x.CPUMicrosPerOp)
			if x.Errors > 0 {
				notes = append(notes, fmt.Sprintf("%s %s: %d of %d requests failed %v", s.System, x.Name, x.Errors, x.Count+x.Errors, x.ErrorsByStatus))
			}
		}
		if cmp && i < len(r.Systems[1].Workloads) {
			a, b := wr, r.Systems[1].Workloads[i]
			line += fmt.Sprintf(" │ %7s %7s", ratio(a.OpsPerSec, b.OpsPerSec), ratio(a.P99Ms, b.P99Ms))
		}
		fmt.Fprintln(w, line)
	}
	if len(r.Systems[0].Failovers) > 0 {
		line := fmt.Sprintf("%-32s", "failover ms (median, max)")
		for _, s := range r.Systems {
			med, most := medianMax(s.Failovers)
			line += fmt.Sprintf(" │ %10.0f %15.0f %7s", med, most, "")
		}
		if cmp {
			a, _ := medianMax(r.Systems[0].Failovers)
			b, _ := medianMax(r.Systems[1].Failovers)
			line += fmt.Sprintf(" │ %15s", "time "+ratio(a, b))
		}
		fmt.Fprintln(w, line)
	}
	line := fmt.Sprintf("%-32s", "largest member RSS, MiB")
	for _, s := range r.Systems {
		line += fmt.Sprintf(" │ %10.0f %23s", s.RSSMB, "")
	}
	fmt.Fprintln(w, line)
	for _, n := range notes {
		fmt.Fprintln(w, "note:", n)
	}
	fmt.Fprintln(w, "cpu µs: CPU time of all members per operation, over the run scaled to its measured part (setup included, so slightly high)")
	for _, s := range r.Systems {
		var parts []string
		for _, x := range s.Workloads {
			parts = append(parts, fmt.Sprintf("%s %.0f", x.Name, x.ClientCPUMicrosPerOp))
		}
		fmt.Fprintf(w, "  load generator's own cpu µs per operation against %s: %s\n", s.System, strings.Join(parts, ", "))
	}
	if len(r.Systems[0].Failovers) > 0 {
		fmt.Fprintln(w, "failover: SIGKILL of the leader to the first successful write through a survivor, runs:")
		for _, s := range r.Systems {
			ms := make([]string, len(s.Failovers))
			for i, f := range s.Failovers {
				ms[i] = fmt.Sprintf("%.0f", f)
			}
			fmt.Fprintf(w, "  %s: %s ms\n", s.System, strings.Join(ms, ", "))
		}
	}
}

// ratio formats a/b, or "-" where b is zero.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// medianMax returns the median and the largest of xs.
func medianMax(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	s := slices.Sorted(slices.Values(xs))
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return med, s[len(s)-1]
}

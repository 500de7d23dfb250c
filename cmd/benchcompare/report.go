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
		"failovers": o.failovers, "nodes": o.nodes, "rounds": o.rounds,
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
	rows := make([][]workloadResult, len(r.Systems))
	rounds := 0
	for i, s := range r.Systems {
		rows[i] = medianRounds(s.Workloads)
		for _, x := range s.Workloads {
			rounds = max(rounds, x.Round)
		}
	}
	head := fmt.Sprintf("%-24s %7s", "workload", "clients")
	for _, s := range r.Systems {
		head += fmt.Sprintf(" │ %10s %7s %7s %7s", s.System+" ops/s", "p50 ms", "p99 ms", "cpu µs")
	}
	if cmp {
		head += fmt.Sprintf(" │ %7s %7s", "ops/s ×", "p99 ×")
		if rounds > 1 {
			head += fmt.Sprintf(" %13s", "ops/s × range")
		}
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, strings.Repeat("─", len([]rune(head))))
	for i, wr := range rows[0] {
		line := fmt.Sprintf("%-24s %7d", wr.Label, wr.Clients)
		for j := range r.Systems {
			if i >= len(rows[j]) {
				line += fmt.Sprintf(" │ %10s %7s %7s %7s", "-", "-", "-", "-")
				continue
			}
			x := rows[j][i]
			line += fmt.Sprintf(" │ %10.0f %7.2f %7.2f %7.0f", x.OpsPerSec, x.P50Ms, x.P99Ms, x.CPUMicrosPerOp)
		}
		if cmp {
			a, b := r.Systems[0].Workloads, r.Systems[1].Workloads
			ops := roundRatios(a, b, wr.Name, func(x workloadResult) float64 { return x.OpsPerSec })
			p99 := roundRatios(a, b, wr.Name, func(x workloadResult) float64 { return x.P99Ms })
			line += fmt.Sprintf(" │ %7s %7s", medianRatio(ops), medianRatio(p99))
			if rounds > 1 && len(ops) > 0 {
				line += fmt.Sprintf(" %13s", fmt.Sprintf("%.2f – %.2f", slices.Min(ops), slices.Max(ops)))
			}
		}
		fmt.Fprintln(w, line)
	}
	var notes []string
	for _, s := range r.Systems {
		for _, x := range s.Workloads {
			if x.Errors > 0 {
				name := x.Name
				if rounds > 1 {
					name += fmt.Sprintf(" (round %d)", x.Round)
				}
				notes = append(notes, fmt.Sprintf("%s %s: %d of %d requests failed %v", s.System, name, x.Errors, x.Count+x.Errors, x.ErrorsByStatus))
			}
		}
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
	if rounds > 1 {
		fmt.Fprintf(w, "%d rounds: each figure is the median of its rounds; the ratios are the medians of each round's ratio, and their range\n", rounds)
	}
	for i, s := range r.Systems {
		var parts []string
		for _, x := range rows[i] {
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

// medianRounds returns one row per workload, in the order the workloads
// first ran: each figure is its median over the rounds, and the counts of
// operations and errors are summed.
func medianRounds(rs []workloadResult) []workloadResult {
	var order []string
	runs := map[string][]workloadResult{}
	for _, x := range rs {
		if _, ok := runs[x.Name]; !ok {
			order = append(order, x.Name)
		}
		runs[x.Name] = append(runs[x.Name], x)
	}
	out := make([]workloadResult, 0, len(order))
	for _, name := range order {
		xs := runs[name]
		med := func(f func(workloadResult) float64) float64 {
			v := make([]float64, len(xs))
			for i, x := range xs {
				v[i] = f(x)
			}
			m, _ := medianMax(v)
			return m
		}
		m := workloadResult{workload: xs[0].workload}
		m.OpsPerSec = med(func(x workloadResult) float64 { return x.OpsPerSec })
		m.P50Ms = med(func(x workloadResult) float64 { return x.P50Ms })
		m.P90Ms = med(func(x workloadResult) float64 { return x.P90Ms })
		m.P99Ms = med(func(x workloadResult) float64 { return x.P99Ms })
		m.P999Ms = med(func(x workloadResult) float64 { return x.P999Ms })
		m.CPUMicrosPerOp = med(func(x workloadResult) float64 { return x.CPUMicrosPerOp })
		m.ClientCPUMicrosPerOp = med(func(x workloadResult) float64 { return x.ClientCPUMicrosPerOp })
		for _, x := range xs {
			m.Count += x.Count
			m.Errors += x.Errors
		}
		out = append(out, m)
	}
	return out
}

// roundRatios returns, for every round in which both a and b ran the named
// workload, a's figure divided by b's; rounds where b's is zero are left out.
func roundRatios(a, b []workloadResult, name string, f func(workloadResult) float64) []float64 {
	var out []float64
	for _, x := range a {
		if x.Name != name {
			continue
		}
		for _, y := range b {
			if y.Name == name && y.Round == x.Round && f(y) != 0 {
				out = append(out, f(x)/f(y))
			}
		}
	}
	return out
}

// medianRatio formats the median of ratios, or "-" if there is none.
func medianRatio(ratios []float64) string {
	if len(ratios) == 0 {
		return "-"
	}
	m, _ := medianMax(ratios)
	return fmt.Sprintf("%.2f", m)
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

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prefsd/prefsd/internal/testbin"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(*options) bool
	}{
		{name: "defaults", check: func(o *options) bool {
			return len(o.systems) == 2 && len(o.workloads) == len(workloads) && o.duration == 10*time.Second && o.failovers == 3 && o.nodes == 3
		}},
		{name: "one system, two workloads", args: []string{"-systems", "etcd", "-workloads", "write-1, read-64"}, check: func(o *options) bool {
			return len(o.systems) == 1 && o.systems[0] == "etcd" && strings.Join(o.workloads, ",") == "write-1,read-64"
		}},
		{name: "duplicate systems once", args: []string{"-systems", "prefsd,prefsd"}, check: func(o *options) bool {
			return len(o.systems) == 1
		}},
		{name: "five nodes", args: []string{"-nodes", "5"}, check: func(o *options) bool { return o.nodes == 5 }},
		{name: "four nodes", args: []string{"-nodes", "4"}, wantErr: "-nodes"},
		{name: "three rounds", args: []string{"-rounds", "3"}, check: func(o *options) bool { return o.rounds == 3 }},
		{name: "no rounds", args: []string{"-rounds", "0"}, wantErr: "-rounds"},
		{name: "unknown system", args: []string{"-systems", "consul"}, wantErr: "unknown system"},
		{name: "unknown workload", args: []string{"-workloads", "write-2"}, wantErr: "unknown workload"},
		{name: "zero duration", args: []string{"-duration", "0s"}, wantErr: "-duration"},
		{name: "negative failovers", args: []string{"-failovers", "-1"}, wantErr: "-failovers"},
		{name: "no value size", args: []string{"-value-size", "0"}, wantErr: "-value-size"},
		{name: "stray argument", args: []string{"now"}, wantErr: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("options %+v", o)
			}
		})
	}
}

func TestMedianMax(t *testing.T) {
	tests := []struct {
		in       []float64
		med, max float64
	}{
		{nil, 0, 0},
		{[]float64{5}, 5, 5},
		{[]float64{9, 1, 5}, 5, 9},
		{[]float64{4, 1, 3, 2}, 2.5, 4},
	}
	for _, tt := range tests {
		med, most := medianMax(tt.in)
		if med != tt.med || most != tt.max {
			t.Errorf("medianMax(%v) = %v, %v, want %v, %v", tt.in, med, most, tt.med, tt.max)
		}
	}
}

// requirePrinted fails t unless r's table holds every one of wants.
func requirePrinted(t *testing.T, r *report, wants ...string) {
	t.Helper()
	var out bytes.Buffer
	r.print(&out)
	for _, want := range wants {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// resultRow is a measured workload for the report tests: 100 operations,
// p50 a quarter of p99.
func resultRow(w string, round int, ops, p99 float64) workloadResult {
	wl, _ := findWorkload(w)
	return workloadResult{workload: wl, Round: round, OpsPerSec: ops, P50Ms: p99 / 4, P99Ms: p99, Count: 100}
}

func TestReportPrint(t *testing.T) {
	row := func(w string, ops, p99 float64) workloadResult { return resultRow(w, 1, ops, p99) }
	r := &report{
		Options: map[string]any{"duration": "10s", "warmup": "2s", "nodes": 5},
		Systems: []systemResult{
			{System: "prefsd", Workloads: []workloadResult{row("write-64", 3000, 20), row("read-64", 8000, 10)}, Failovers: []float64{800, 600, 700}, RSSMB: 40},
			{System: "etcd", Version: "etcd Version: 3.4.23", Workloads: []workloadResult{row("write-64", 2000, 40), row("read-64", 0, 0)}, Failovers: []float64{1000}, RSSMB: 80},
		},
	}
	r.Systems[1].Workloads[1].Errors = 7
	requirePrinted(t, r,
		"5 nodes each on loopback",
		"etcd: etcd Version: 3.4.23",
		"writes                        64",
		"1.50    0.50", // 3000/2000 ops, 20/40 p99
		"-       -",    // no etcd reads to divide by
		"700", "1000",  // failover medians
		"time 0.70",
		"etcd read-64: 7 of 107 requests failed",
		"prefsd: 800, 600, 700 ms",
	)
}

// With several rounds, the table shows each system's median round and the
// median and range of the per-round ratios.
func TestReportPrintRounds(t *testing.T) {
	row := func(round int, ops, p99 float64) workloadResult { return resultRow("write-64", round, ops, p99) }
	r := &report{
		Options: map[string]any{"duration": "10s", "warmup": "2s", "nodes": 3},
		Systems: []systemResult{
			{System: "prefsd", Workloads: []workloadResult{row(1, 3000, 20), row(2, 4000, 30), row(3, 3500, 25)}},
			{System: "etcd", Workloads: []workloadResult{row(1, 2000, 40), row(2, 2000, 40), row(3, 3500, 50)}},
		},
	}
	r.Systems[1].Workloads[1].Errors = 3
	requirePrinted(t, r,
		"ops/s × range",
		// prefsd's median round 3500 ops/s, p99 25 ms; etcd's 2000 and 40;
		// ratios by round 1.50, 2.00, 1.00, and of p99 0.50, 0.75, 0.50.
		"3500    6.25   25.00",
		"2000   10.00   40.00",
		"1.50    0.50   1.00 – 2.00",
		"3 rounds: each figure is the median of its rounds",
		"etcd write-64 (round 2): 3 of 103 requests failed",
	)
}

// TestCompare runs the whole comparison briefly against real processes:
// prefsd always, etcd as well where it is installed.
func TestCompare(t *testing.T) {
	dir := t.TempDir()
	prefsd := testbin.Prefsd(t)
	t.Cleanup(testbin.Cleanup)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "prefsbench"), "./cmd/prefsbench")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build prefsbench: %v\n%s", err, out)
	}
	systems := "prefsd"
	if _, err := exec.LookPath("etcd"); err == nil {
		systems += ",etcd"
	} else {
		t.Log("etcd is not installed: measuring prefsd only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	results := filepath.Join(dir, "results.json")
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{
		"-prefsd", prefsd, "-prefsbench", filepath.Join(dir, "prefsbench"),
		"-dir", filepath.Join(dir, "run"), "-systems", systems, "-workloads", "write-16,stale-64-one-node",
		"-duration", "500ms", "-warmup", "0s", "-users", "4", "-keys", "4", "-failovers", "1", "-json", results,
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if want := strings.Count(systems, ",") + 1; len(rep.Systems) != want {
		t.Fatalf("%d systems in the results, want %d", len(rep.Systems), want)
	}
	for _, s := range rep.Systems {
		if len(s.Workloads) != 2 || len(s.Failovers) != 1 {
			t.Fatalf("%s: %d workloads and %d failovers, want 2 and 1", s.System, len(s.Workloads), len(s.Failovers))
		}
		for _, w := range s.Workloads {
			if w.Count == 0 || w.Errors != 0 {
				t.Errorf("%s %s: %d succeeded, %d failed %v", s.System, w.Name, w.Count, w.Errors, w.ErrorsByStatus)
			}
		}
		if s.Failovers[0] <= 0 {
			t.Errorf("%s: failover took %v ms", s.System, s.Failovers[0])
		}
	}
	if !strings.Contains(stdout.String(), "stale reads, one node") {
		t.Errorf("no table on stdout:\n%s", stdout.String())
	}
}

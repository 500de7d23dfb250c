package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// workload is one prefsbench run, the same for every system.
type workload struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	Mix     string `json:"mix"`
	Clients int    `json:"clients"`
	// OneNode sends every request to the first member only, to measure
	// what one node serves; otherwise requests go round-robin to all.
	OneNode bool `json:"one_node,omitempty"`
}

// workloads are the comparison's rows, in the order they run and print.
var workloads = []workload{
	{Name: "write-1", Label: "writes", Mix: "write=100", Clients: 1},
	{Name: "write-16", Label: "writes", Mix: "write=100", Clients: 16},
	{Name: "write-64", Label: "writes", Mix: "write=100", Clients: 64},
	{Name: "write-256", Label: "writes", Mix: "write=100", Clients: 256},
	{Name: "read-64", Label: "linearizable reads", Mix: "read=100", Clients: 64},
	{Name: "stale-64", Label: "stale reads", Mix: "stale=100", Clients: 64},
	{Name: "stale-64-one-node", Label: "stale reads, one node", Mix: "stale=100", Clients: 64, OneNode: true},
}

// workloadNames returns the names of every workload.
func workloadNames() []string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.Name
	}
	return names
}

// findWorkload returns the named workload.
func findWorkload(name string) (workload, bool) {
	for _, w := range workloads {
		if w.Name == name {
			return w, true
		}
	}
	return workload{}, false
}

// benchResults is the part of prefsbench's -json output read here.
type benchResults struct {
	Total struct {
		Count  int64   `json:"count"`
		Errors int64   `json:"errors"`
		P50Ms  float64 `json:"p50_ms"`
		P90Ms  float64 `json:"p90_ms"`
		P99Ms  float64 `json:"p99_ms"`
		P999Ms float64 `json:"p99_9_ms"`
	} `json:"total"`
	OpsPerSec      float64          `json:"ops_per_sec"`
	ErrorsByStatus map[string]int64 `json:"errors_by_status"`
}

// workloadResult is one workload's outcome on one system.
type workloadResult struct {
	workload
	Round          int              `json:"round"`
	OpsPerSec      float64          `json:"ops_per_sec"`
	Count          int64            `json:"count"`
	Errors         int64            `json:"errors"`
	ErrorsByStatus map[string]int64 `json:"errors_by_status,omitempty"`
	P50Ms          float64          `json:"p50_ms"`
	P90Ms          float64          `json:"p90_ms"`
	P99Ms          float64          `json:"p99_ms"`
	P999Ms         float64          `json:"p99_9_ms"`
	// CPUMicrosPerOp is the CPU time every member used during the run,
	// warm-up included, per operation measured: what an operation costs
	// the servers, whatever the load generator used.
	CPUMicrosPerOp float64 `json:"cpu_us_per_op"`
	// ClientCPUMicrosPerOp is the same for the load generator: on a small
	// machine it shares the cores with the servers, and where the servers
	// are cheap it, not they, sets the pace.
	ClientCPUMicrosPerOp float64 `json:"client_cpu_us_per_op"`
}

// runWorkload runs prefsbench against a cluster and reads its results.
func runWorkload(ctx context.Context, o *options, c *cluster, w workload, round int) (workloadResult, error) {
	res := workloadResult{workload: w, Round: round}
	var addrs []string
	for _, n := range c.nodes {
		addrs = append(addrs, n.url)
	}
	if w.OneNode {
		addrs = addrs[:1]
	}
	base := filepath.Join(o.dir, c.system, w.Name)
	if o.rounds > 1 {
		base += fmt.Sprintf("-round%d", round)
	}
	args := []string{
		"-target", c.system, "-addr", strings.Join(addrs, ","), "-prefix", "bc",
		"-users", strconv.Itoa(o.users), "-keys", strconv.Itoa(o.keys), "-value-size", strconv.Itoa(o.valueSize),
		"-concurrency", strconv.Itoa(w.Clients), "-mix", w.Mix,
		"-duration", o.duration.String(), "-warmup", o.warmup.String(), "-json", base + ".json",
	}
	out, err := os.Create(base + ".log")
	if err != nil {
		return res, err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, o.prefsbench, args...)
	cmd.Env = append(os.Environ(), "PREFSD_TOKEN="+c.token)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	cpu := c.cpuSeconds()
	err = cmd.Run()
	cpu = c.cpuSeconds() - cpu
	if err != nil {
		return res, fmt.Errorf("prefsbench: %w; see %s", err, out.Name())
	}
	b, err := os.ReadFile(base + ".json")
	if err != nil {
		return res, err
	}
	var br benchResults
	if err := json.Unmarshal(b, &br); err != nil {
		return res, fmt.Errorf("%s: %w", base+".json", err)
	}
	res.OpsPerSec, res.Count, res.Errors, res.ErrorsByStatus = br.OpsPerSec, br.Total.Count, br.Total.Errors, br.ErrorsByStatus
	res.P50Ms, res.P90Ms, res.P99Ms, res.P999Ms = br.Total.P50Ms, br.Total.P90Ms, br.Total.P99Ms, br.Total.P999Ms
	if res.Count > 0 {
		// The warm-up's operations are not counted, so scale the CPU to
		// the measured part of the run.
		measured := o.duration.Seconds() / (o.duration + o.warmup).Seconds()
		res.CPUMicrosPerOp = cpu * measured / float64(res.Count) * 1e6
		client := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
		res.ClientCPUMicrosPerOp = client * measured / float64(res.Count) * 1e6
	}
	return res, nil
}

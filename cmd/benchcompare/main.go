// Command benchcompare measures prefsd against etcd on this machine, in
// the same run, at the same durability: both fsync every commit.
//
// It starts a prefsd cluster and an etcd cluster of the same size (-nodes,
// three by default) on loopback, with their data in the same directory
// (-dir), runs the same prefsbench workloads against each (etcd through its
// v3 JSON gateway, with the same key spread and value sizes), measures
// leader failover (SIGKILL of the leader to the first successful write
// through a survivor), and prints one table: ops/s, p50 and p99 per
// workload and the prefsd/etcd ratio of each.
//
// Usage:
//
//	benchcompare -prefsd bin/prefsd -prefsbench bin/prefsbench -etcd etcd \
//	    -duration 10s -warmup 2s -json bin/bench-compare/results.json
//
// `make bench-compare` builds the binaries, installs etcd from Debian's
// packages when it is missing, and runs this with the defaults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "benchcompare:", err)
		os.Exit(1)
	}
}

// options are the command line's settings.
type options struct {
	prefsd     string
	prefsbench string
	etcd       string
	dir        string
	systems    []string
	workloads  []string
	duration   time.Duration
	warmup     time.Duration
	users      int
	keys       int
	valueSize  int
	failovers  int
	nodes      int
	rounds     int
	jsonPath   string
}

// parseOptions parses and checks the command line.
func parseOptions(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("benchcompare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	var systems, workloads string
	fs.StringVar(&o.prefsd, "prefsd", "bin/prefsd", "the prefsd binary")
	fs.StringVar(&o.prefsbench, "prefsbench", "bin/prefsbench", "the prefsbench binary")
	fs.StringVar(&o.etcd, "etcd", "etcd", "the etcd binary")
	fs.StringVar(&o.dir, "dir", "bin/bench-compare", "directory for the nodes' data and logs; emptied first")
	fs.StringVar(&systems, "systems", "prefsd,etcd", "comma-separated systems to measure: prefsd, etcd")
	fs.StringVar(&workloads, "workloads", "all", "comma-separated workload names to run, or all ("+strings.Join(workloadNames(), ", ")+")")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each workload")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each workload")
	fs.IntVar(&o.nodes, "nodes", 3, "members of each cluster: 3 or 5")
	fs.IntVar(&o.rounds, "rounds", 1, "times to run every workload; the table shows the median round and the range of the ratios")
	fs.IntVar(&o.users, "users", 100, "users (etcd: key prefixes) the load spreads over")
	fs.IntVar(&o.keys, "keys", 10, "keys per user")
	fs.IntVar(&o.valueSize, "value-size", 32, "bytes per value")
	fs.IntVar(&o.failovers, "failovers", 3, "leader failovers to measure per system (0: none)")
	fs.StringVar(&o.jsonPath, "json", "", "also write every result to this JSON file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for s := range strings.SplitSeq(systems, ",") {
		s = strings.TrimSpace(s)
		if s != systemPrefsd && s != systemEtcd {
			return nil, fmt.Errorf("-systems: unknown system %q (want prefsd or etcd)", s)
		}
		if !slices.Contains(o.systems, s) {
			o.systems = append(o.systems, s)
		}
	}
	if workloads == "all" {
		o.workloads = workloadNames()
	} else {
		for w := range strings.SplitSeq(workloads, ",") {
			w = strings.TrimSpace(w)
			if _, ok := findWorkload(w); !ok {
				return nil, fmt.Errorf("-workloads: unknown workload %q (want %s)", w, strings.Join(workloadNames(), ", "))
			}
			o.workloads = append(o.workloads, w)
		}
	}
	switch {
	case o.duration <= 0:
		return nil, errors.New("-duration must be positive")
	case o.warmup < 0:
		return nil, errors.New("-warmup must not be negative")
	case o.users < 1 || o.keys < 1 || o.valueSize < 1:
		return nil, errors.New("-users, -keys and -value-size must be positive")
	case o.nodes != 3 && o.nodes != 5:
		return nil, errors.New("-nodes must be 3 or 5")
	case o.rounds < 1:
		return nil, errors.New("-rounds must be at least 1")
	case o.failovers < 0:
		return nil, errors.New("-failovers must not be negative")
	}
	return o, nil
}

// run parses the command line, measures every system and prints the
// comparison to stdout; progress goes to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	bins := []*string{&o.prefsbench}
	if slices.Contains(o.systems, systemPrefsd) {
		bins = append(bins, &o.prefsd)
	}
	if slices.Contains(o.systems, systemEtcd) {
		bins = append(bins, &o.etcd)
	}
	for _, bin := range bins {
		p, err := exec.LookPath(*bin)
		if err != nil {
			return fmt.Errorf("%s: %w (make bench-compare builds and installs what it needs)", *bin, err)
		}
		*bin = p
	}
	if err := os.RemoveAll(o.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	rep := &report{Started: time.Now().UTC(), Options: o.view()}
	systems, err := measure(ctx, o, logf)
	if err != nil {
		return err
	}
	rep.Systems = systems
	rep.print(stdout)
	if o.jsonPath != "" {
		if err := rep.write(o.jsonPath); err != nil {
			return err
		}
		logf("results written to %s", o.jsonPath)
	}
	return nil
}

// measure starts every system's cluster, then runs each workload against
// the systems in turn, so that a machine that slows down or speeds up during
// the run affects them alike, every workload once per round; last come the
// failovers, which stop the clusters.
func measure(ctx context.Context, o *options, logf func(string, ...any)) ([]systemResult, error) {
	var clusters []*cluster
	defer func() {
		for _, c := range clusters {
			c.close()
		}
	}()
	results := make([]systemResult, len(o.systems))
	for i, name := range o.systems {
		logf("%s: starting %d nodes", name, o.nodes)
		c, err := startCluster(ctx, o, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		clusters = append(clusters, c)
		results[i] = systemResult{System: name, Version: c.version}
	}
	for round := 1; round <= o.rounds; round++ {
		for _, wname := range o.workloads {
			w, _ := findWorkload(wname)
			for i, c := range clusters {
				logf("%s: %s (%d clients, %s, round %d of %d)", c.system, w.Name, w.Clients, o.duration, round, o.rounds)
				r, err := runWorkload(ctx, o, c, w, round)
				if err != nil {
					return nil, fmt.Errorf("%s: workload %s: %w", c.system, w.Name, err)
				}
				results[i].Workloads = append(results[i].Workloads, r)
			}
		}
	}
	for i, c := range clusters {
		results[i].RSSMB = c.rssMB()
		for f := range o.failovers {
			d, err := c.failover(ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: failover %d: %w", c.system, f+1, err)
			}
			logf("%s: failover %d: %s", c.system, f+1, d.Round(time.Millisecond))
			results[i].Failovers = append(results[i].Failovers, d.Seconds()*1000)
		}
	}
	return results, nil
}

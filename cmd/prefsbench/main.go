// Command prefsbench drives a running prefsd cluster with load over the
// Open edX preferences API and reports throughput and latency. With
// -target etcd it drives an etcd cluster's v3 JSON gateway with the same
// operations and sizes instead, for comparison.
//
// It creates (or reuses) the users prefix0 ... prefix(N-1) with the admin
// token, gives each a new API token and a value for each of its keys, then
// runs client goroutines that each send one request at a time: single-key
// writes (a merge-patch of one key), linearizable reads of one key, stale
// reads of one key (?consistency=stale) and merge-patches of two to four
// keys, in the proportions -mix gives, spread round-robin over the nodes
// -addr lists. With -rate the requests follow an open-loop schedule and
// each latency is measured from the time the request was due, so that a
// slow answer does not hide the requests queued behind it.
//
// A progress line goes to stderr once a second; the final table, per
// operation kind and in total, goes to stdout; -json writes the full
// results with a per-second timeline.
//
// Usage:
//
//	prefsbench -addr http://127.0.0.1:8080 -token $PREFSD_TOKEN \
//	    -concurrency 16 -duration 30s -mix write=50,read=30,stale=10,patch=10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, new(usageError)):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "prefsbench:", err)
		os.Exit(1)
	}
}

// usageError marks a command line that could not be parsed; the flag
// package has already explained why.
type usageError struct{ err error }

// Error returns the flag package's error.
func (e usageError) Error() string { return e.err.Error() }

// Unwrap returns the flag package's error.
func (e usageError) Unwrap() error { return e.err }

// options are the command line's settings.
type options struct {
	target      string
	addrs       []string
	token       string
	prefix      string
	users       int
	keys        int
	valueSize   int
	concurrency int
	duration    time.Duration
	ops         int64
	rate        float64
	mix         mix
	warmup      time.Duration
	jsonPath    string
	timeout     time.Duration
	seed        uint64
}

// parseOptions parses and checks the command line.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("prefsbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o      options
		addrs  string
		mixStr string
	)
	fs.StringVar(&o.target, "target", targetPrefsd, "what the nodes are: prefsd, or etcd (its v3 JSON gateway, for comparison)")
	fs.StringVar(&addrs, "addr", "http://127.0.0.1:8080", "comma-separated base URLs of the nodes; requests are spread over them round-robin")
	fs.StringVar(&o.token, "token", "", "admin token, used to create the users and their tokens (default $PREFSD_TOKEN)")
	fs.StringVar(&o.prefix, "prefix", "prefsbench", "prefix of the benchmark users' names; existing users are reused")
	fs.IntVar(&o.users, "users", 16, "number of users")
	fs.IntVar(&o.keys, "keys", 16, "number of keys per user")
	fs.IntVar(&o.valueSize, "value-size", 32, "bytes per value")
	fs.IntVar(&o.concurrency, "concurrency", 16, "client goroutines, each sending one request at a time")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to measure, after the warm-up; with -ops alone and no -duration there is no time limit")
	fs.Int64Var(&o.ops, "ops", 0, "stop after this many measured operations (0: no limit)")
	fs.Float64Var(&o.rate, "rate", 0, "target total operations a second, on an open-loop schedule (0: as fast as the clients go)")
	fs.StringVar(&mixStr, "mix", defaultMix, "relative weights of the operation kinds write, read, stale and patch")
	fs.DurationVar(&o.warmup, "warmup", 0, "run this long before measuring; warm-up operations are not reported")
	fs.StringVar(&o.jsonPath, "json", "", "write the results, with a per-second timeline, to this JSON file")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of each request")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the random choices of kinds, users, keys and values")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: prefsbench [flags]\n\nDrives a prefsd cluster with edX preferences API load and reports latency.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	durationSet := false
	fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
	if !durationSet && o.ops > 0 {
		o.duration = 0
	}
	if o.token == "" {
		o.token = getenv("PREFSD_TOKEN")
	}
	var err error
	if o.mix, err = parseMix(mixStr); err != nil {
		return nil, err
	}
	for a := range strings.SplitSeq(addrs, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if !strings.Contains(a, "://") {
			a = "http://" + a
		}
		o.addrs = append(o.addrs, strings.TrimRight(a, "/"))
	}
	switch {
	case len(o.addrs) == 0:
		return nil, errors.New("-addr: at least one node is required")
	case o.target != targetPrefsd && o.target != targetEtcd:
		return nil, fmt.Errorf("-target %q: use prefsd or etcd", o.target)
	case o.token == "" && o.target == targetPrefsd:
		return nil, errors.New("-token or PREFSD_TOKEN is required: the admin token creates the benchmark users")
	case !validPrefix(o.prefix):
		return nil, fmt.Errorf("-prefix %q: use letters, digits and _.@+-", o.prefix)
	case o.users < 1:
		return nil, errors.New("-users must be at least 1")
	case o.keys < 1:
		return nil, errors.New("-keys must be at least 1")
	case o.valueSize < 1:
		return nil, errors.New("-value-size must be at least 1")
	case o.concurrency < 1:
		return nil, errors.New("-concurrency must be at least 1")
	case o.duration < 0 || o.ops < 0 || o.rate < 0 || o.warmup < 0:
		return nil, errors.New("-duration, -ops, -rate and -warmup must not be negative")
	case o.duration == 0 && o.ops == 0:
		return nil, errors.New("set -duration or -ops, or both: the run would never end")
	case o.timeout <= 0:
		return nil, errors.New("-timeout must be positive")
	}
	return &o, nil
}

// validPrefix applies prefsd's username rule to a prefix.
func validPrefix(p string) bool {
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.@+-", r)) {
			return false
		}
	}
	return true
}

// newClient returns an HTTP client with a keep-alive pool big enough for
// every client goroutine to keep a connection to every node.
func newClient(o *options) *http.Client {
	return &http.Client{
		Timeout: o.timeout,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: (&net.Dialer{
				Timeout:   o.timeout,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			MaxIdleConns:        o.concurrency * len(o.addrs),
			MaxIdleConnsPerHost: o.concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// isTerminal reports whether w is a character device, so that the
// progress line can be rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// rateLimitHint explains what to do about 429 answers.
const rateLimitHint = "hint: the nodes answered 429 Too Many Requests: they limit requests per user; " +
	"raise --rate-limit-user on the nodes (0 disables it) or spread the load over more users with -users"

// run is the whole command: it parses args, prepares the users, runs the
// benchmark and reports. It returns flag.ErrHelp for -h and a usageError
// for a command line the flag package refused.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	client := newClient(o)
	defer client.CloseIdleConnections()

	users := userNames(o.prefix, o.users)
	fmt.Fprintf(stderr, "preparing %d users with %d keys of %d bytes on %s %s\n", o.users, o.keys, o.valueSize, o.target, strings.Join(o.addrs, ","))
	adm := &admin{client: client, addrs: o.addrs, token: o.token}
	var tokens []string
	if o.target == targetEtcd {
		err = adm.prepareEtcd(ctx, o.prefix, users, o.keys, o.valueSize, min(o.concurrency, 16))
	} else {
		tokens, err = adm.prepare(ctx, users, o.keys, o.valueSize, min(o.concurrency, 16))
	}
	if err != nil {
		return fmt.Errorf("preparing users: %w", err)
	}

	start := time.Now()
	sched := &scheduler{start: start, warmEnd: start.Add(o.warmup), rate: o.rate, ops: o.ops}
	if o.duration > 0 {
		sched.end = sched.warmEnd.Add(o.duration)
	}
	r := &runner{
		client: client,
		sched:  sched,
		conc:   o.concurrency,
		newWL: func(id int) *workload {
			w := newWorkload(id, o.seed, o.addrs, users, tokens, o.keys, o.valueSize, o.mix)
			w.etcd, w.prefix = o.target == targetEtcd, o.prefix
			return w
		},
	}
	fmt.Fprintf(stderr, "running %d clients, mix %s%s\n", o.concurrency, o.mix, runLimits(o))
	rep := &reporter{r: r, out: stderr, terminal: isTerminal(stderr), hint: rateLimitHint}
	stopReport := make(chan struct{})
	reportDone := make(chan struct{})
	r.initStats()
	go func() {
		defer close(reportDone)
		rep.run(stopReport)
	}()
	r.runWorkers(ctx)
	finished := time.Now()
	close(stopReport)
	<-reportDone

	measured := finished.Sub(sched.warmEnd)
	if measured < 0 {
		measured = 0
	}
	res := newResults(o.view(), start, measured, r.snapshot(), rep.timeline, o.mix)
	if err := res.writeTable(stdout); err != nil {
		return err
	}
	if r.saw429.Load() && !rep.hinted {
		fmt.Fprintln(stderr, rateLimitHint)
	}
	if o.jsonPath != "" {
		if err := res.writeJSON(o.jsonPath); err != nil {
			return fmt.Errorf("writing -json: %w", err)
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted after %.1fs: %w", time.Since(start).Seconds(), context.Cause(ctx))
	}
	return nil
}

// runLimits describes when the run stops.
func runLimits(o *options) string {
	var parts []string
	if o.warmup > 0 {
		parts = append(parts, "warm-up "+o.warmup.String())
	}
	if o.duration > 0 {
		parts = append(parts, "for "+o.duration.String())
	}
	if o.ops > 0 {
		parts = append(parts, fmt.Sprintf("for %d operations", o.ops))
	}
	if o.rate > 0 {
		parts = append(parts, fmt.Sprintf("at %g ops/s", o.rate))
	}
	return ", " + strings.Join(parts, ", ")
}

// view returns the options as the results record them.
func (o *options) view() configView {
	v := configView{
		Target: o.target, Addrs: o.addrs, Prefix: o.prefix, Users: o.users, Keys: o.keys, ValueSize: o.valueSize,
		Concurrency: o.concurrency, Ops: o.ops, Rate: o.rate, Mix: o.mix.String(),
		Warmup: o.warmup.String(), Timeout: o.timeout.String(), Seed: o.seed,
	}
	if o.duration > 0 {
		v.Duration = o.duration.String()
	}
	return v
}

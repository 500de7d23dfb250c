package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prefsd/prefsd/client"
)

// The operator subcommands share one shape: common flags (--addr, --token,
// --json, --timeout, --ca-file), flags and arguments in any order, a table
// for people by default and JSON with --json, exit status 2 for a command
// line they cannot run.

// defaultAddr is the node an operator subcommand talks to without --addr
// or PREFSD_ADDR.
const defaultAddr = "http://127.0.0.1:8080"

// usageError is a command line a subcommand cannot run; prefsd exits 2.
type usageError struct {
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error.
func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// exitCode reports err on stderr and returns prefsd's exit status: 0 for
// success or a help request, 2 for a usage error, 1 for any other error.
func exitCode(stderr io.Writer, err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "prefsd:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "prefsd:", err)
		return 1
	}
}

// opCommand is one operator subcommand (or one verb of one) being run.
type opCommand struct {
	name     string // as typed: "snapshot save"
	synopsis string // the arguments after the flags: "FILE"
	help     string
	getenv   func(string) string
	stdout   io.Writer
	stderr   io.Writer
	fs       *flag.FlagSet

	addr, token, caFile string
	json                bool
	timeout             time.Duration
}

// newOp returns a subcommand with the common flags registered; register
// its own flags on fs before calling parse. timeout is the default of
// --timeout.
func newOp(name, synopsis, help string, timeout time.Duration, getenv func(string) string, stdout, stderr io.Writer) *opCommand {
	c := &opCommand{name: name, synopsis: synopsis, help: help, getenv: getenv, stdout: stdout, stderr: stderr}
	c.fs = newFlagSet("prefsd "+name, stderr, c.usage)
	c.fs.StringVar(&c.addr, "addr", envOr(getenv, "PREFSD_ADDR", defaultAddr),
		"node URL or HOST:PORT; a comma-separated list is tried in order (env PREFSD_ADDR)")
	c.fs.StringVar(&c.token, "token", "", "a superuser's API token (default: env PREFSD_TOKEN)")
	c.fs.BoolVar(&c.json, "json", false, "print JSON instead of a table")
	c.fs.DurationVar(&c.timeout, "timeout", timeout, "give up after this long; 0 waits for ever")
	c.fs.StringVar(&c.caFile, "ca-file", "", "PEM CA certificates to verify an https node against (default: env PREFSD_CA_FILE)")
	return c
}

func (c *opCommand) usage() {
	fmt.Fprintf(c.stderr, "usage: prefsd %s [flags] %s\n\n%s\n\nflags:\n", c.name, c.synopsis, c.help)
	printDefaults(c.fs, c.stderr)
}

// newFlagSet returns a flag set that calls usage for -h and on an error,
// and otherwise prints nothing: the error itself is printed once, last,
// by exitCode.
func newFlagSet(name string, stderr io.Writer, usage func()) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = usage
	return fs
}

// printDefaults prints fs's flags to w.
func printDefaults(fs *flag.FlagSet, w io.Writer) {
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parse parses flags and arguments, in any order, and checks that there
// are between min and max arguments (max < 0: no bound).
func (c *opCommand) parse(args []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err: fmt.Errorf("%s: %w", c.name, err)}
		}
		args = c.fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch {
	case len(pos) < minArgs:
		return nil, usagef("%s: missing arguments; usage: prefsd %s [flags] %s", c.name, c.name, c.synopsis)
	case maxArgs >= 0 && len(pos) > maxArgs:
		return nil, usagef("%s: unexpected argument %q; usage: prefsd %s [flags] %s", c.name, pos[maxArgs], c.name, c.synopsis)
	}
	return pos, nil
}

// given reports whether the flag name was set on the command line.
func (c *opCommand) given(name string) bool {
	set := false
	c.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// run parses args, which must hold min to max positional arguments,
// connects to the cluster, and calls call with the client and the
// positional arguments, within --timeout.
func (c *opCommand) run(ctx context.Context, args []string, min, max int, call func(ctx context.Context, cl *client.Client, pos []string) error) error {
	pos, err := c.parse(args, min, max)
	if err != nil {
		return err
	}
	cl, ctx, cancel, err := c.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return call(ctx, cl, pos)
}

// client returns a client for --addr, and a context bounded by --timeout.
func (c *opCommand) client(ctx context.Context) (*client.Client, context.Context, context.CancelFunc, error) {
	opts := client.Options{Token: c.token}
	if opts.Token == "" {
		opts.Token = c.getenv("PREFSD_TOKEN")
	}
	caFile := c.caFile
	if caFile == "" {
		caFile = c.getenv("PREFSD_CA_FILE")
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
		}
		opts.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	cl, err := client.New(strings.Split(c.addr, ","), opts)
	if err != nil {
		return nil, nil, nil, &usageError{err: fmt.Errorf("--addr: %w", err)}
	}
	cancel := context.CancelFunc(func() {})
	if c.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	return cl, ctx, cancel, nil
}

// print writes v as indented JSON with --json, and otherwise calls table
// with a tabwriter over stdout, which it flushes.
func (c *opCommand) print(v any, table func(w io.Writer)) error {
	if c.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// verb is one verb of a subcommand with verbs (snapshot save, user add).
type verb struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

// runVerb runs the verb args[0] of the subcommand name.
func runVerb(ctx context.Context, name string, verbs []verb, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := stderr
		if len(args) > 0 {
			w = stdout
		}
		fmt.Fprintf(w, "usage: prefsd %s VERB [flags] [arguments]\n\nverbs:\n", name)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, v := range verbs {
			fmt.Fprintf(tw, "  %s\t%s\n", v.name, v.summary)
		}
		tw.Flush()
		fmt.Fprintf(w, "\nRun 'prefsd %s VERB -h' for a verb's flags.\n", name)
		if len(args) == 0 {
			return usagef("%s: missing verb", name)
		}
		return flag.ErrHelp
	}
	for _, v := range verbs {
		if v.name == args[0] {
			return v.run(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	names := make([]string, len(verbs))
	for i, v := range verbs {
		names[i] = v.name
	}
	return usagef("%s: unknown verb %q; want one of %s", name, args[0], strings.Join(names, ", "))
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// formatBytes renders a byte count for people: 1.5 MiB.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

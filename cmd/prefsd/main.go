// Command prefsd runs a node of the prefsd settings and preferences
// service, and operates a running cluster: `prefsd [flags]` runs a node,
// `prefsd COMMAND ...` (status, members, join, remove, transfer-leadership,
// recover, snapshot, user, token, quota, catalog, healthcheck, completion) talks to
// one. `prefsd help` lists the commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/prefsd/prefsd/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// runFunc runs a subcommand, or a verb of one, with its arguments.
type runFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// command is one subcommand: it has either a run function or verbs.
type command struct {
	name, summary string
	run           runFunc
	verbs         func() []verb
}

// commands returns prefsd's subcommands in the order help lists them.
func commands() []command {
	return []command{
		{name: "status", summary: "show how a node sees the cluster", run: runStatus},
		{name: "members", summary: "list the cluster's members", run: runMembers},
		{name: "join", summary: "add a node to the cluster", run: runJoin},
		{name: "remove", summary: "take a node out of the cluster", run: runRemove},
		{name: "transfer-leadership", summary: "hand leadership to another node", run: runTransferLeadership},
		{name: "recover", summary: "make a stopped node the only voter, after losing a majority for good", run: runRecover},
		{name: "snapshot", summary: "save, restore or inspect a backup of the whole cluster", verbs: snapshotVerbs},
		{name: "user", summary: "add, list or delete users", verbs: userVerbs},
		{name: "token", summary: "create, list or revoke API tokens", verbs: tokenVerbs},
		{name: "quota", summary: "show, set or reset quotas", verbs: quotaVerbs},
		{name: "catalog", summary: "show or apply the settings catalogue", verbs: catalogVerbs},
		{name: "import", summary: "import users, preferences and settings from the original products' exports", run: runImport},
		{name: "healthcheck", summary: "exit 0 if a node is ready (for container health checks)", run: runHealthcheck},
		{name: "completion", summary: "print a bash, zsh or fish completion script", verbs: completionVerbs},
	}
}

// exec runs the command with its arguments.
func (c command) exec(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if c.verbs != nil {
		return runVerb(ctx, c.name, c.verbs(), args, getenv, stdout, stderr)
	}
	return c.run(ctx, args, getenv, stdout, stderr)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := exitCode(os.Stderr, dispatch(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}

// dispatch runs the subcommand args[0], or a node when args start with a
// flag or are empty.
func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && !isHelpFlag(args[0])) {
		return run(ctx, args, getenv, stdout, stderr)
	}
	if isHelpFlag(args[0]) || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" {
			return dispatch(ctx, []string{args[1], "-h"}, getenv, stdout, stderr)
		}
		printHelp(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.exec(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	return usagef("unknown command %q; 'prefsd help' lists them", args[0])
}

func isHelpFlag(s string) bool {
	return s == "-h" || s == "-help" || s == "--help"
}

// printHelp prints the commands and the node's flags.
func printHelp(w io.Writer) {
	fmt.Fprint(w, `prefsd stores application settings and per-user preferences in a
Raft-replicated state machine and serves them over HTTP.

usage:
  prefsd [flags]                       run a node (flags below)
  prefsd COMMAND [flags] [arguments]   operate a running cluster

commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, `
'prefsd help COMMAND' or 'prefsd COMMAND -h' shows a command's flags. The
commands that talk to a cluster take --addr (a node's URL or HOST:PORT, a
comma-separated list tried in order; env PREFSD_ADDR, default
`+defaultAddr+`), --token (a superuser's token; env PREFSD_TOKEN),
--json, --timeout and --ca-file. They exit 0 on success, 1 on an error and
2 on a command line they cannot run.

node flags (each also read from PREFSD_<FLAG>, e.g. PREFSD_DATA_DIR):
`)
	fs := flag.NewFlagSet("prefsd", flag.ContinueOnError)
	cfg := config.Default()
	cfg.RegisterFlags(fs)
	printDefaults(fs, w)
}

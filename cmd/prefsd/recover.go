package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/config"
)

// recoverUsage describes the recover subcommand.
const recoverUsage = `usage:
  prefsd recover [node flags]

recover makes a stopped node the only voter of its cluster, for when a
majority of the nodes is lost for good and the cluster cannot elect a
leader. Run it on the survivor with the highest applied index (prefsd
status shows applied_index while it still runs; otherwise take the one
that stopped last), with the flags and PREFSD_* environment the node runs with: it uses
--data-dir, --node-id and --advertise-raft (or --raft-addr). Then start
the node as usual: it leads a cluster of one holding every write it had,
and new nodes join it with empty data directories and --join.

Every entry in the survivor's log counts as committed afterwards. Never run
it while the lost nodes could come back with their data: stop them for
good first, or wipe their data directories before they rejoin.`

// runRecover runs `prefsd recover ...`.
func runRecover(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prefsd recover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, recoverUsage)
		fmt.Fprintln(stderr, "\nnode flags:")
		fs.PrintDefaults()
	}
	cfg := config.Default()
	if err := cfg.Parse(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err: fmt.Errorf("recover: %w", err)}
	}
	if err := cfg.Validate(); err != nil {
		return &usageError{err: fmt.Errorf("recover: %w", err)}
	}
	if err := cluster.Recover(cfg, stderr); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	fmt.Fprintf(stdout, "%s (data in %s) is now the only voter of its cluster, at %s.\n"+
		"Start it as usual, then join new nodes to it with empty data directories.\n",
		cfg.NodeID, cfg.DataDir, cfg.AdvertiseRaft)
	return nil
}

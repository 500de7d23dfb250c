package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/fsm"
)

// ErrNoState is returned by Recover for a data directory without raft state.
var ErrNoState = errors.New("cluster: no raft state in the data directory")

// Recover rewrites the raft state in a stopped node's data directory so
// that the node is the only voter of its cluster, at cfg.NodeID and
// cfg.AdvertiseRaft. It is the way back after a majority of the nodes is
// lost for good: run it on one survivor, start that node, then join new
// nodes to it with empty data directories.
//
// Every entry in the survivor's log counts as committed afterwards, even
// one that the lost majority never acknowledged; writes acknowledged to
// clients are all there, as each was on a majority, and the survivor with
// the highest last index holds them all. Recover refuses to run while the
// node is running (its log is locked).
func Recover(cfg config.Config, logs io.Writer) error {
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "raft.db")); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNoState, cfg.DataDir, err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.DataDir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
	})
	if err != nil {
		return fmt.Errorf("open raft log (is the node still running?): %w", err)
	}
	defer store.Close()
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: logs})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hlog)
	if err != nil {
		return fmt.Errorf("snapshot store: %w", err)
	}
	ok, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("inspect raft state: %w", err)
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoState, cfg.DataDir)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.NoLegacyTelemetry = true
	addr, trans := raft.NewInmemTransport(raft.ServerAddress(cfg.AdvertiseRaft))
	defer trans.Close()
	only := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: rc.LocalID, Address: addr}}}
	// The state machine only carries the state into the new snapshot; the
	// node builds a fresh one when it starts.
	if err := raft.RecoverCluster(rc, fsm.New(nil), store, store, snaps, trans, only); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	return nil
}

package cluster_test

import (
	"errors"
	"io"
	"testing"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/internal/testnode"
)

// recoverConfig is the configuration Recover needs for a test node.
func recoverConfig(n *testnode.Node) config.Config {
	cfg := config.Default()
	cfg.NodeID, cfg.DataDir, cfg.AdvertiseRaft = n.Opts.ID, n.Opts.DataDir, n.Opts.RaftAddr
	return cfg
}

// After losing two of three nodes for good, Recover turns the survivor
// into a cluster of one with every acknowledged write, and new nodes join it.
func TestRecoverFromOneSurvivor(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	survivor := testnode.Followers(nodes)[0]
	uid := createUser(t, leader, "survivor")
	setPref(t, leader, uid, "k", "acknowledged")
	waitConverged(t, leader, nodes)

	if err := cluster.Recover(recoverConfig(survivor), io.Discard); err == nil {
		t.Fatal("Recover ran on a running node's data directory")
	}
	for _, n := range nodes {
		n.Stop() // the other two never come back
	}
	if err := cluster.Recover(recoverConfig(survivor), io.Discard); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	back := testnode.Start(t, survivor.Opts)
	testnode.WaitLeader(t, []*testnode.Node{back})
	if servers := raftServers(t, back); len(servers) != 1 || servers[back.ID()] != survivor.Opts.RaftAddr {
		t.Fatalf("configuration after recovery: %v, want only %s at %s", servers, back.ID(), survivor.Opts.RaftAddr)
	}
	if v, ok := readLinearizable(t, back).Pref(uid, "k"); !ok || v != "acknowledged" {
		t.Fatalf("k = %q, %v after recovery, want the acknowledged value", v, ok)
	}
	setPref(t, back, uid, "k", "after")
	n4 := testnode.Start(t, testnode.Options{ID: "n4", Join: []string{back.Addr}})
	n5 := testnode.Start(t, testnode.Options{ID: "n5", Join: []string{back.Addr}})
	waitConverged(t, back, []*testnode.Node{back, n4, n5})
	if got := len(raftServers(t, back)); got != 3 {
		t.Errorf("%d servers after two joins, want 3", got)
	}
}

func TestRecoverWithoutState(t *testing.T) {
	cfg := config.Default()
	cfg.NodeID, cfg.DataDir, cfg.AdvertiseRaft = "n1", t.TempDir(), "127.0.0.1:8300"
	if err := cluster.Recover(cfg, io.Discard); !errors.Is(err, cluster.ErrNoState) {
		t.Fatalf("Recover on an empty directory: %v, want ErrNoState", err)
	}
}

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prefsd/prefsd/internal/testnode"
)

// recover turns a stopped member of a three-node cluster into a cluster of
// one that starts, leads and keeps its state.
func TestRecoverCommand(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	survivor := testnode.Followers(nodes)[0]
	testnode.Eventually(t, 20*time.Second, func() error { return survivor.Ready() })
	for _, n := range nodes {
		n.Stop()
	}
	env := func(k string) string {
		if k == "PREFSD_CLUSTER_KEY" {
			return testnode.ClusterKey
		}
		return ""
	}
	var stdout, stderr bytes.Buffer
	args := []string{"--data-dir", survivor.Opts.DataDir, "--node-id", survivor.Opts.ID, "--raft-addr", survivor.Opts.RaftAddr, "--join", leader.Addr}
	code := exitCode(&stderr, dispatch(context.Background(), append([]string{"recover"}, args...), env, &stdout, &stderr))
	if code != 0 {
		t.Fatalf("recover exited %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "only voter") {
		t.Errorf("stdout: %s", stdout.String())
	}
	o := survivor.Opts
	o.Join = nil
	back := testnode.Start(t, o)
	testnode.WaitLeader(t, []*testnode.Node{back})
	f := back.Raft().GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	if servers := f.Configuration().Servers; len(servers) != 1 || string(servers[0].ID) != o.ID {
		t.Errorf("configuration after recover: %+v, want %s alone", servers, o.ID)
	}
}

func TestRecoverCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
		{"bad config", []string{"--data-dir", t.TempDir(), "--raft-addr", "no-port"}, 2, "raft-addr"},
		{"no state", []string{"--data-dir", t.TempDir()}, 1, "no raft state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := exitCode(&stderr, dispatch(context.Background(), append([]string{"recover"}, tt.args...), func(string) string { return "" }, &stdout, &stderr))
			if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.want)
			}
		})
	}
}

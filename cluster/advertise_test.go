package cluster_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/internal/testnode"
)

// freeLocalPort returns a port free on 127.0.0.1 right now.
func freeLocalPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// raftServers returns a node's raft configuration as id → address.
func raftServers(t *testing.T, n *testnode.Node) map[string]string {
	t.Helper()
	f := n.Raft().GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range f.Configuration().Servers {
		out[string(s.ID)] = string(s.Address)
	}
	return out
}

// Nodes that advertise a host name are stored under it, not under the IP
// it resolved to when they started, and the cluster works through it.
func TestAdvertiseHostName(t *testing.T) {
	start := func(id string, join []string) *testnode.Node {
		port := freeLocalPort(t)
		return testnode.Start(t, testnode.Options{ID: id, RaftAddr: "127.0.0.1:" + port, Join: join, Configure: func(c *config.Config) {
			c.AdvertiseRaft = "localhost:" + port
		}})
	}
	n1 := start("n1", nil)
	testnode.WaitLeader(t, []*testnode.Node{n1})
	nodes := []*testnode.Node{n1, start("n2", []string{n1.Addr}), start("n3", []string{n1.Addr})}
	testnode.Eventually(t, convergeFor, func() error {
		servers := raftServers(t, testnode.WaitLeader(t, nodes))
		if len(servers) != 3 {
			return fmt.Errorf("configuration %v, want 3 servers", servers)
		}
		for id, addr := range servers {
			if !strings.HasPrefix(addr, "localhost:") {
				return fmt.Errorf("%s stored at %s, want its advertised localhost name", id, addr)
			}
		}
		return nil
	})
	uid := createUser(t, nodes[1], "by-name")
	setPref(t, nodes[2], uid, "k", "v")
	waitConverged(t, testnode.WaitLeader(t, nodes), nodes)
}

// A node that restarts on its data under a new raft address joins again
// through --join, so that the others reach it at the new address; without
// that it would sit outside the cluster knowing no leader.
func TestRestartUnderNewAddressRejoins(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	moved := testnode.Followers(nodes)[0]
	uid := createUser(t, leader, "moved")
	setPref(t, leader, uid, "before", "v")
	waitConverged(t, leader, nodes)

	moved.Stop()
	o := moved.Opts
	o.RaftAddr = "127.0.0.1:" + freeLocalPort(t)
	o.HTTPAddr = "127.0.0.1:0"
	o.Join = []string{leader.Addr}
	back := testnode.Start(t, o)
	nodes = append(without(nodes, moved), back)

	testnode.Eventually(t, convergeFor, func() error {
		if got := raftServers(t, leader)[back.ID()]; got != o.RaftAddr {
			return fmt.Errorf("leader has %s at %q, want %s", back.ID(), got, o.RaftAddr)
		}
		if m, ok := leader.FSM().State().Member(back.ID()); !ok || m.APIAddr != back.Addr {
			return fmt.Errorf("member directory has %s at %+v, want API %s", back.ID(), m, back.Addr)
		}
		if err := back.Ready(); err != nil {
			return fmt.Errorf("%s: %v", back.ID(), err)
		}
		return nil
	})
	setPref(t, back, uid, "after", "v") // forwarded from its new address
	waitConverged(t, leader, nodes)
	if s := back.Raft().State(); s != raft.Follower && s != raft.Leader {
		t.Errorf("%s is %v", back.ID(), s)
	}
}

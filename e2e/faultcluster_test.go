package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prefsd/prefsd/internal/faultnet"
	"github.com/prefsd/prefsd/internal/testbin"
)

// A faultCluster is a cluster of real prefsd processes whose node-to-node
// traffic runs through fault-injecting proxies. Node i listens on its own
// loopback address, 127.0.0.(20+i), and makes every connection to another
// node from it (--peer-source-ip); the addresses it advertises are proxies
// on the same address, so the proxy in front of a node knows which node
// each connection came from and a test can cut, delay or blackhole every
// directed link on its own. Clients reach the nodes directly, never through
// a proxy: a partitioned node still hears clients, as it would behind a
// load balancer.
type faultCluster struct {
	t     *testing.T
	net   *faultnet.Network
	extra []string // flags every node gets

	mu     sync.Mutex
	nodes  []*faultNode // every node ever added, in order; removed ones stay
	faults []string     // what was injected, for the report
}

// faultNode is one node of a faultCluster.
type faultNode struct {
	*Node
	IP        string
	RaftProxy string // advertised raft address
	HTTPProxy string // advertised HTTP address
	paused    bool
	removed   bool
}

// chaosRaft are the raft timings of the fault tests: the defaults of the
// other end-to-end tests.
var chaosRaft = fastRaft

// newFaultCluster starts n nodes: the first bootstraps, the rest join
// through it. It returns once all n agree on a leader.
func newFaultCluster(t *testing.T, n int, extra ...string) *faultCluster {
	t.Helper()
	testbin.Prefsd(t)
	fc := &faultCluster{
		t:     t,
		net:   faultnet.New(func(format string, args ...any) { t.Logf("faultnet: "+format, args...) }),
		extra: extra,
	}
	t.Cleanup(func() {
		if err := fc.net.Close(); err != nil {
			t.Errorf("faultnet: close: %v", err)
		}
	})
	for range n {
		fc.add()
	}
	fc.waitHealthy(60 * time.Second)
	return fc
}

// add allocates, starts and returns a new node; every node after the first
// joins through the first live node.
func (fc *faultCluster) add() *faultNode {
	t := fc.t
	t.Helper()
	fc.mu.Lock()
	i := len(fc.nodes)
	fc.mu.Unlock()
	ip := fmt.Sprintf("127.0.0.%d", 20+i)
	id := fmt.Sprintf("n%d", i+1)
	node := newNodeOn(t, id, ip)
	node.Env = clusterEnv()
	if err := fc.net.AddNode(id, ip); err != nil {
		t.Fatalf("faultnet: add node %s: %v", id, err)
	}
	// The node's ports and its proxies' are chosen together, so a proxy
	// cannot be given a port the node was given and has not bound yet.
	addrs := testbin.FreeAddrsOn(t, ip, 4)
	node.HTTPAddr, node.RaftAddr = addrs[0], addrs[1]
	raftProxy, err := fc.net.Proxy(id, addrs[2], node.RaftAddr)
	if err != nil {
		t.Fatalf("faultnet: raft proxy for %s: %v", id, err)
	}
	httpProxy, err := fc.net.Proxy(id, addrs[3], node.HTTPAddr)
	if err != nil {
		t.Fatalf("faultnet: HTTP proxy for %s: %v", id, err)
	}
	fn := &faultNode{Node: node, IP: ip, RaftProxy: raftProxy, HTTPProxy: httpProxy}
	args := fc.flags(fn)
	if i > 0 {
		args = append(args, "--join", fc.joinTarget())
	}
	fc.mu.Lock()
	fc.nodes = append(fc.nodes, fn)
	fc.mu.Unlock()
	fn.Start(args...)
	return fn
}

// flags returns node fn's flags, without --join.
func (fc *faultCluster) flags(fn *faultNode) []string {
	args := []string{
		"--node-id", fn.ID,
		"--http-addr", fn.HTTPAddr,
		"--raft-addr", fn.RaftAddr,
		"--advertise-http", fn.HTTPProxy,
		"--advertise-raft", fn.RaftProxy,
		"--peer-source-ip", fn.IP,
		"--data-dir", fn.DataDir,
		// The workload runs many clients per user; the abuse limits are
		// not what these tests are about.
		"--rate-limit-user", "0",
		"--apply-timeout", "5s",
		"--leader-wait", "2s",
	}
	args = append(args, chaosRaft...)
	return append(args, fc.extra...)
}

// joinTarget is the advertised HTTP address of the first member that is
// running and in the cluster.
func (fc *faultCluster) joinTarget() string {
	for _, n := range fc.members() {
		if n.Running() && !n.paused {
			return n.HTTPProxy
		}
	}
	fc.t.Fatalf("no running member to join through")
	return ""
}

// members returns the nodes that have not been removed.
func (fc *faultCluster) members() []*faultNode {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var out []*faultNode
	for _, n := range fc.nodes {
		if !n.removed {
			out = append(out, n)
		}
	}
	return out
}

// live returns the members whose process runs and is not paused.
func (fc *faultCluster) live() []*faultNode {
	var out []*faultNode
	for _, n := range fc.members() {
		if n.Running() && !n.paused {
			out = append(out, n)
		}
	}
	return out
}

// URLs returns the client base URLs of every member, running or not.
func (fc *faultCluster) URLs() []string {
	var out []string
	for _, n := range fc.members() {
		out = append(out, "http://"+n.HTTPAddr)
	}
	return out
}

// fault records an injected fault for the report and the log.
func (fc *faultCluster) fault(format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	fc.mu.Lock()
	fc.faults = append(fc.faults, what)
	fc.mu.Unlock()
	fc.t.Logf("fault: %s", what)
}

// Faults returns the faults injected so far.
func (fc *faultCluster) Faults() []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return slices.Clone(fc.faults)
}

// leaderAmong polls nodes until one says it leads and every other one of
// them names it, and returns it.
func (fc *faultCluster) leaderAmong(nodes []*faultNode, timeout time.Duration) *faultNode {
	fc.t.Helper()
	var leader *faultNode
	testbin.Eventually(fc.t, timeout, fmt.Sprintf("a leader that %s agree on", faultIDs(nodes)), func() error {
		leaderID := ""
		for _, n := range nodes {
			st, err := n.status(adminToken)
			if err != nil {
				return err
			}
			if st.LeaderID == "" {
				return fmt.Errorf("node %s knows no leader", n.ID)
			}
			if leaderID != "" && st.LeaderID != leaderID {
				return fmt.Errorf("node %s says the leader is %s, another says %s", n.ID, st.LeaderID, leaderID)
			}
			leaderID = st.LeaderID
		}
		for _, n := range nodes {
			if n.ID == leaderID {
				leader = n
				return nil
			}
		}
		return fmt.Errorf("the agreed leader %s is not among %s", leaderID, faultIDs(nodes))
	})
	return leader
}

// leader returns the leader the live members agree on.
func (fc *faultCluster) leader() *faultNode {
	fc.t.Helper()
	return fc.leaderAmong(fc.live(), 30*time.Second)
}

// followers returns the live members other than the leader.
func (fc *faultCluster) followers(leader *faultNode) []*faultNode {
	var out []*faultNode
	for _, n := range fc.live() {
		if n != leader {
			out = append(out, n)
		}
	}
	return out
}

// waitHealthy waits until every member runs, is ready, agrees on one
// leader and sees every member in the raft configuration.
func (fc *faultCluster) waitHealthy(timeout time.Duration) *faultNode {
	fc.t.Helper()
	members := fc.members()
	want := map[string]*faultNode{}
	for _, n := range members {
		want[n.ID] = n
	}
	var leader *faultNode
	testbin.Eventually(fc.t, timeout, fmt.Sprintf("%s to be ready, agree on a leader and list each other", faultIDs(members)), func() error {
		leaderID := ""
		for _, n := range members {
			if n.paused {
				return testbin.Permanent(fmt.Errorf("node %s is paused", n.ID))
			}
			st, err := n.status(adminToken)
			if err != nil {
				return err
			}
			if st.LeaderID == "" || (leaderID != "" && st.LeaderID != leaderID) {
				return fmt.Errorf("node %s names leader %q, others %q", n.ID, st.LeaderID, leaderID)
			}
			leaderID = st.LeaderID
			if len(st.Members) != len(members) {
				return fmt.Errorf("node %s lists %d members, want %d", n.ID, len(st.Members), len(members))
			}
			for _, m := range st.Members {
				w, ok := want[m.NodeID]
				if !ok || m.RaftAddr != w.RaftProxy || m.Suffrage != "Voter" {
					return fmt.Errorf("node %s lists member %+v", n.ID, m)
				}
			}
			if err := n.ready(); err != nil {
				return err
			}
		}
		leader = want[leaderID]
		if leader == nil {
			return fmt.Errorf("the agreed leader %s is not a member", leaderID)
		}
		return nil
	})
	return leader
}

// kill SIGKILLs a node.
func (fc *faultCluster) kill(n *faultNode) {
	fc.fault("SIGKILL %s", n.ID)
	n.Kill()
}

// killAll SIGKILLs every running member, as close together as signals
// allow, then waits for each to exit.
func (fc *faultCluster) killAll() {
	var running []*faultNode
	for _, n := range fc.members() {
		if n.Running() {
			running = append(running, n)
		}
	}
	fc.fault("SIGKILL all of %s", faultIDs(running))
	for _, n := range running {
		if r := n.current(); r != nil {
			_ = r.cmd.Process.Kill()
		}
	}
	for _, n := range running {
		r := n.current()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			fc.t.Fatalf("node %s: still running 10s after SIGKILL", n.ID)
		}
		n.paused = false
	}
}

// term stops a node cleanly with SIGTERM.
func (fc *faultCluster) term(n *faultNode) {
	fc.fault("SIGTERM %s", n.ID)
	n.Stop()
}

// pause SIGSTOPs a node.
func (fc *faultCluster) pause(n *faultNode) {
	fc.fault("SIGSTOP %s", n.ID)
	n.Pause()
	n.paused = true
}

// resume SIGCONTs a paused node.
func (fc *faultCluster) resume(n *faultNode) {
	fc.fault("SIGCONT %s", n.ID)
	n.Resume()
	n.paused = false
}

// restart starts a stopped member again with its data directory.
func (fc *faultCluster) restart(n *faultNode) {
	fc.t.Helper()
	fc.fault("restart %s", n.ID)
	n.Restart()
}

// restartDead restarts every member whose process is not running and
// resumes every paused one.
func (fc *faultCluster) restartDead() {
	for _, n := range fc.members() {
		switch {
		case n.paused:
			fc.resume(n)
		case !n.Running():
			fc.restart(n)
		}
	}
}

// isolate cuts n off from every other node, both ways.
func (fc *faultCluster) isolate(n *faultNode) {
	fc.fault("isolate %s", n.ID)
	fc.net.Isolate(n.ID)
}

// block drops everything from one node to another.
func (fc *faultCluster) block(from, to *faultNode) {
	fc.fault("block %s -> %s", from.ID, to.ID)
	fc.net.Block(from.ID, to.ID)
}

// delay holds everything between every pair of members d each way.
func (fc *faultCluster) delayAll(d time.Duration) {
	fc.fault("delay every link by %v", d)
	for _, a := range fc.members() {
		for _, b := range fc.members() {
			if a != b {
				fc.net.Delay(a.ID, b.ID, d)
			}
		}
	}
}

// heal removes every network fault.
func (fc *faultCluster) heal() {
	fc.fault("heal the network")
	fc.net.Heal()
}

// remove takes n out of the cluster through the admin API of a live node
// and waits until its process has gone (a removed node shuts down) or
// kills it.
func (fc *faultCluster) remove(n *faultNode) {
	t := fc.t
	t.Helper()
	fc.fault("remove %s from the cluster", n.ID)
	var via *faultNode
	for _, m := range fc.live() {
		if m != n {
			via = m
			break
		}
	}
	if via == nil {
		t.Fatalf("no live node to remove %s through", n.ID)
	}
	testbin.Eventually(t, 30*time.Second, "the removal of "+n.ID, func() error {
		res, err := testbin.Do(http.MethodDelete, via.URL("/api/cluster/nodes/"+url.PathEscape(n.ID)), "Token "+adminToken, "", nil)
		if err != nil {
			return err
		}
		if res.Status/100 != 2 {
			return fmt.Errorf("DELETE /api/cluster/nodes/%s: %v", n.ID, res)
		}
		return nil
	})
	fc.mu.Lock()
	n.removed = true
	fc.mu.Unlock()
	if n.Running() {
		if n.paused {
			n.Resume()
			n.paused = false
		}
		n.Kill()
	}
}

// readd brings a removed node back as a new member: its old state is
// wiped, and it joins through a live member with the same id and
// addresses.
func (fc *faultCluster) readd(n *faultNode) {
	t := fc.t
	t.Helper()
	fc.fault("re-add %s with an empty data directory", n.ID)
	if err := os.RemoveAll(n.DataDir); err != nil {
		t.Fatalf("wipe %s: %v", n.DataDir, err)
	}
	target := fc.joinTarget()
	fc.mu.Lock()
	n.removed = false
	fc.mu.Unlock()
	n.Start(append(fc.flags(n), "--join", target)...)
}

// digest is GET /api/cluster/digest's answer.
type digest struct {
	NodeID   string `json:"node_id"`
	FSMIndex uint64 `json:"fsm_index"`
	SHA256   string `json:"sha256"`
}

// waitConverged waits until every member reports the same state digest at
// the same index, and returns it.
func (fc *faultCluster) waitConverged(timeout time.Duration) digest {
	fc.t.Helper()
	var agreed digest
	members := fc.members()
	testbin.Eventually(fc.t, timeout, fmt.Sprintf("the state digests of %s to match", faultIDs(members)), func() error {
		var ds []digest
		for _, n := range members {
			if err := n.checkAlive(); err != nil {
				return err
			}
			res, err := testbin.Do(http.MethodGet, n.URL("/api/cluster/digest"), "Token "+adminToken, "", nil)
			if err != nil {
				return err
			}
			if res.Status != http.StatusOK {
				return fmt.Errorf("node %s: digest: %v", n.ID, res)
			}
			var d digest
			if err := json.Unmarshal(res.Body, &d); err != nil {
				return fmt.Errorf("node %s: digest %s: %v", n.ID, res.Body, err)
			}
			ds = append(ds, d)
		}
		for _, d := range ds[1:] {
			if d.FSMIndex != ds[0].FSMIndex || d.SHA256 != ds[0].SHA256 {
				return fmt.Errorf("digests differ: %+v", ds)
			}
		}
		agreed = ds[0]
		return nil
	})
	return agreed
}

func faultIDs(nodes []*faultNode) string {
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	return "[" + strings.Join(ids, " ") + "]"
}

// errStopped is returned by waits cut short because the scenario ended.
var errStopped = errors.New("scenario stopped")

package e2e

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prefsd/prefsd/internal/testbin"
)

// The end-to-end tests run the real prefsd binary, built once per test
// binary, as separate processes talking over loopback.

// Secrets the cluster tests hand to their nodes through the environment.
const (
	adminToken = "e2e-admin-token-5f1c0a7d"
	clusterKey = "e2e-cluster-key-93b2e4"
)

// fastRaft are raft timings short enough for quick failover on loopback and
// long enough not to cause spurious elections on a loaded 2-core machine.
var fastRaft = []string{"--raft-heartbeat-timeout=300ms", "--raft-election-timeout=300ms"}

// dumpAlways logs every node's output even when the test passes.
var dumpAlways = flag.Bool("e2e.logs", false, "log every prefsd node's stdout and stderr, even when the test passes")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// clusterEnv is the environment the cluster tests give every node.
func clusterEnv() []string {
	return []string{"PREFSD_ADMIN_TOKEN=" + adminToken, "PREFSD_CLUSTER_KEY=" + clusterKey}
}

// run is one execution of a node's process.
type run struct {
	n      int
	args   []string
	cmd    *exec.Cmd
	stdout testbin.SyncBuffer
	stderr testbin.SyncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, set before done is closed
}

func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Node is one prefsd process, with fixed addresses and data directory across
// restarts.
type Node struct {
	t        *testing.T
	ID       string
	HTTPAddr string
	RaftAddr string
	DataDir  string
	// WorkDir is the process's working directory, so that nothing a node
	// writes by default lands in the source tree.
	WorkDir string
	// Env is added to the filtered environment of every start.
	Env []string

	mu   sync.Mutex
	args []string // flags of the latest start, reused by Restart
	runs []*run
}

// NewNode allocates addresses and directories for a node, without starting
// it. Its process, if any, is killed when the test ends, and its output is
// logged if the test failed.
func NewNode(t *testing.T, id string) *Node {
	t.Helper()
	return newNodeOn(t, id, "127.0.0.1")
}

// newNodeOn is NewNode with the node's listeners on the local address ip.
func newNodeOn(t *testing.T, id, ip string) *Node {
	t.Helper()
	testbin.Prefsd(t)
	addrs := testbin.FreeAddrsOn(t, ip, 2)
	n := &Node{
		t:        t,
		ID:       id,
		HTTPAddr: addrs[0],
		RaftAddr: addrs[1],
		DataDir:  filepath.Join(t.TempDir(), "data"),
		WorkDir:  t.TempDir(),
	}
	t.Cleanup(func() {
		if r := n.current(); r != nil && !r.exited() {
			_ = r.cmd.Process.Kill()
			select {
			case <-r.done:
			case <-time.After(10 * time.Second):
				t.Errorf("node %s: process %d did not exit after SIGKILL", n.ID, r.cmd.Process.Pid)
			}
		}
		if t.Failed() || *dumpAlways {
			n.dumpLogs()
		}
	})
	return n
}

// Flags returns the flags every cluster node takes (id, addresses, data dir
// and raft timings) followed by extra.
func (n *Node) Flags(extra ...string) []string {
	args := []string{
		"--node-id", n.ID,
		"--http-addr", n.HTTPAddr,
		"--raft-addr", n.RaftAddr,
		"--data-dir", n.DataDir,
	}
	args = append(args, fastRaft...)
	return append(args, extra...)
}

// URL returns the node's URL for path.
func (n *Node) URL(path string) string { return "http://" + n.HTTPAddr + path }

func (n *Node) current() *run {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.runs) == 0 {
		return nil
	}
	return n.runs[len(n.runs)-1]
}

// Start starts the node's process with args.
func (n *Node) Start(args ...string) {
	n.t.Helper()
	n.mu.Lock()
	n.args = append([]string(nil), args...)
	n.mu.Unlock()
	n.start()
}

// Restart starts the node again with the flags of its latest start and the
// same data directory. The node must not be running.
func (n *Node) Restart() {
	n.t.Helper()
	n.start()
}

func (n *Node) start() {
	n.t.Helper()
	if r := n.current(); r != nil && !r.exited() {
		n.t.Fatalf("node %s: start while process %d is running", n.ID, r.cmd.Process.Pid)
	}
	n.mu.Lock()
	r := &run{n: len(n.runs) + 1, args: n.args, done: make(chan struct{})}
	n.mu.Unlock()
	cmd := exec.Command(testbin.Prefsd(n.t), r.args...)
	cmd.Dir = n.WorkDir
	cmd.Env = append(testbin.BaseEnv(), n.Env...)
	cmd.Stdout = &r.stdout
	cmd.Stderr = &r.stderr
	cmd.WaitDelay = 5 * time.Second
	r.cmd = cmd
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("node %s: start: %v", n.ID, err)
	}
	n.mu.Lock()
	n.runs = append(n.runs, r)
	n.mu.Unlock()
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	n.t.Logf("node %s: started run %d, pid %d: prefsd %s", n.ID, r.n, cmd.Process.Pid, strings.Join(r.args, " "))
}

// Running reports whether the node's process is running.
func (n *Node) Running() bool {
	r := n.current()
	return r != nil && !r.exited()
}

// checkAlive returns a permanent error if the node's process has exited.
func (n *Node) checkAlive() error {
	r := n.current()
	if r == nil {
		return testbin.Permanent(fmt.Errorf("node %s was never started", n.ID))
	}
	if r.exited() {
		return testbin.Permanent(fmt.Errorf("node %s: process exited unexpectedly: %v; stderr:\n%s", n.ID, r.err, testbin.Tail(r.stderr.String(), 4000)))
	}
	return nil
}

// Kill sends SIGKILL and waits for the process to go.
func (n *Node) Kill() {
	n.t.Helper()
	r := n.current()
	if r == nil || r.exited() {
		n.t.Fatalf("node %s: kill: not running", n.ID)
	}
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		n.t.Fatalf("node %s: SIGKILL: %v", n.ID, err)
	}
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		n.t.Fatalf("node %s: still running 10s after SIGKILL", n.ID)
	}
	n.t.Logf("node %s: killed (run %d)", n.ID, r.n)
}

// Pause stops the process with SIGSTOP: it holds its connections but
// answers nothing, as a machine stalled by the hypervisor or a long GC
// pause would.
func (n *Node) Pause() {
	n.t.Helper()
	n.signal(syscall.SIGSTOP)
	n.t.Logf("node %s: paused (SIGSTOP)", n.ID)
}

// Resume continues a paused process with SIGCONT.
func (n *Node) Resume() {
	n.t.Helper()
	n.signal(syscall.SIGCONT)
	n.t.Logf("node %s: resumed (SIGCONT)", n.ID)
}

func (n *Node) signal(sig syscall.Signal) {
	n.t.Helper()
	r := n.current()
	if r == nil || r.exited() {
		n.t.Fatalf("node %s: %v: not running", n.ID, sig)
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		n.t.Fatalf("node %s: %v: %v", n.ID, sig, err)
	}
}

// stopTimeout bounds a clean shutdown: the daemon's own HTTP shutdown takes
// up to 10s, then raft stops.
const stopTimeout = 30 * time.Second

// Stop sends SIGTERM and waits for the process to exit. A clean stop exits
// with status 0; anything else fails the test.
func (n *Node) Stop() {
	n.t.Helper()
	r := n.current()
	if r == nil || r.exited() {
		n.t.Fatalf("node %s: stop: not running", n.ID)
	}
	start := time.Now()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		n.t.Fatalf("node %s: SIGTERM: %v", n.ID, err)
	}
	select {
	case <-r.done:
	case <-time.After(stopTimeout):
		_ = r.cmd.Process.Kill()
		<-r.done
		n.t.Fatalf("node %s: did not exit within %v of SIGTERM (killed)", n.ID, stopTimeout)
	}
	if r.err != nil {
		n.t.Errorf("node %s: exit after SIGTERM: %v (want status 0)", n.ID, r.err)
	}
	n.t.Logf("node %s: stopped with SIGTERM in %v (run %d)", n.ID, time.Since(start).Round(time.Millisecond), r.n)
}

// Stdout returns what the current run has written to stdout so far.
func (n *Node) Stdout() string {
	if r := n.current(); r != nil {
		return r.stdout.String()
	}
	return ""
}

// Stderr returns what the current run has written to stderr so far.
func (n *Node) Stderr() string {
	if r := n.current(); r != nil {
		return r.stderr.String()
	}
	return ""
}

// dumpLogs logs every run's output.
func (n *Node) dumpLogs() {
	n.mu.Lock()
	runs := append([]*run(nil), n.runs...)
	n.mu.Unlock()
	for _, r := range runs {
		status := "running"
		if r.exited() {
			status = fmt.Sprintf("exited: %v", r.err)
			if r.err == nil {
				status = "exited: status 0"
			}
		}
		n.t.Logf("===== node %s run %d (%s): prefsd %s\n----- stdout:\n%s\n----- stderr:\n%s",
			n.ID, r.n, status, strings.Join(r.args, " "), testbin.Tail(r.stdout.String(), 64<<10), testbin.Tail(r.stderr.String(), 256<<10))
	}
}

// clusterStatus is GET /api/cluster/status's answer.
type clusterStatus struct {
	NodeID        string `json:"node_id"`
	State         string `json:"state"`
	LeaderID      string `json:"leader_id"`
	LeaderAPIAddr string `json:"leader_api_addr"`
	Term          uint64 `json:"term"`
	CommitIndex   uint64 `json:"commit_index"`
	AppliedIndex  uint64 `json:"applied_index"`
	Members       []struct {
		NodeID   string `json:"node_id"`
		RaftAddr string `json:"raft_addr"`
		APIAddr  string `json:"api_addr"`
		Suffrage string `json:"suffrage"`
		Leader   bool   `json:"leader"`
	} `json:"members"`
}

// status fetches a node's cluster status with the admin token.
func (n *Node) status(token string) (clusterStatus, error) {
	var st clusterStatus
	if err := n.checkAlive(); err != nil {
		return st, err
	}
	res, err := testbin.Do(http.MethodGet, n.URL("/api/cluster/status"), "Token "+token, "", nil)
	if err != nil {
		return st, fmt.Errorf("node %s: status: %w", n.ID, err)
	}
	if res.Status != http.StatusOK {
		return st, fmt.Errorf("node %s: status: %v", n.ID, res)
	}
	if err := json.Unmarshal(res.Body, &st); err != nil {
		return st, fmt.Errorf("node %s: status: %v in %s", n.ID, err, res.Body)
	}
	return st, nil
}

// ready checks GET /readyz.
func (n *Node) ready() error {
	if err := n.checkAlive(); err != nil {
		return err
	}
	res, err := testbin.Do(http.MethodGet, n.URL("/readyz"), "", "", nil)
	if err != nil {
		return fmt.Errorf("node %s: readyz: %w", n.ID, err)
	}
	if res.Status != http.StatusOK {
		return fmt.Errorf("node %s: readyz: %v", n.ID, res)
	}
	return nil
}

// waitReady waits for GET /readyz to answer 200.
func waitReady(t *testing.T, n *Node, timeout time.Duration) {
	t.Helper()
	testbin.Eventually(t, timeout, "node "+n.ID+" to be ready (GET /readyz)", n.ready)
}

// waitCluster waits until every node in polled is ready and reports exactly
// members as the raft configuration (each with its raft and API address),
// and all of them name the same leader, which is one of polled and says it
// leads. It returns the leader.
func waitCluster(t *testing.T, polled, members []*Node, timeout time.Duration) *Node {
	t.Helper()
	byID := map[string]*Node{}
	for _, m := range members {
		byID[m.ID] = m
	}
	var leader *Node
	what := fmt.Sprintf("%s to agree on a leader among themselves and on members %s", nodeIDs(polled), nodeIDs(members))
	testbin.Eventually(t, timeout, what, func() error {
		leaderID := ""
		var statuses []clusterStatus
		for _, n := range polled {
			st, err := n.status(adminToken)
			if err != nil {
				return err
			}
			if st.NodeID != n.ID {
				return testbin.Permanent(fmt.Errorf("node %s reports node_id %q", n.ID, st.NodeID))
			}
			if st.LeaderID == "" {
				return fmt.Errorf("node %s knows no leader (state %s, term %d)", n.ID, st.State, st.Term)
			}
			if leaderID == "" {
				leaderID = st.LeaderID
			} else if st.LeaderID != leaderID {
				return fmt.Errorf("node %s says the leader is %s, another says %s", n.ID, st.LeaderID, leaderID)
			}
			if len(st.Members) != len(members) {
				return fmt.Errorf("node %s reports %d members, want %d: %+v", n.ID, len(st.Members), len(members), st.Members)
			}
			for _, m := range st.Members {
				want, ok := byID[m.NodeID]
				switch {
				case !ok:
					return fmt.Errorf("node %s reports unexpected member %+v", n.ID, m)
				case m.RaftAddr != want.RaftAddr || m.APIAddr != want.HTTPAddr:
					return fmt.Errorf("node %s reports member %s at raft %q api %q, want raft %q api %q",
						n.ID, m.NodeID, m.RaftAddr, m.APIAddr, want.RaftAddr, want.HTTPAddr)
				case m.Suffrage != "Voter":
					return fmt.Errorf("node %s reports member %s with suffrage %q", n.ID, m.NodeID, m.Suffrage)
				case m.Leader != (m.NodeID == st.LeaderID):
					return fmt.Errorf("node %s: member %s has leader=%v but leader_id is %s", n.ID, m.NodeID, m.Leader, st.LeaderID)
				}
			}
			statuses = append(statuses, st)
		}
		leader = nil
		for _, n := range polled {
			if n.ID == leaderID {
				leader = n
			}
		}
		if leader == nil {
			return fmt.Errorf("the agreed leader %s is not among %s", leaderID, nodeIDs(polled))
		}
		for _, st := range statuses {
			if st.NodeID == leaderID && st.State != "Leader" {
				return fmt.Errorf("node %s is named leader but is in state %s", leaderID, st.State)
			}
			if st.LeaderAPIAddr != leader.HTTPAddr {
				return fmt.Errorf("node %s reports leader_api_addr %q, want %q", st.NodeID, st.LeaderAPIAddr, leader.HTTPAddr)
			}
		}
		for _, n := range polled {
			if err := n.ready(); err != nil {
				return err
			}
		}
		return nil
	})
	return leader
}

func nodeIDs(nodes []*Node) string {
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	return "[" + strings.Join(ids, " ") + "]"
}

// exitResult is how a process that was expected to fail ended.
type exitResult struct {
	Code   int
	Stdout string
	Stderr string
}

// runToExit runs the binary with args and env (on top of the filtered
// environment) in dir, and waits up to timeout for it to exit.
func runToExit(t *testing.T, dir string, env []string, timeout time.Duration, args ...string) exitResult {
	t.Helper()
	var stdout, stderr testbin.SyncBuffer
	cmd := exec.Command(testbin.Prefsd(t), args...)
	cmd.Dir = dir
	cmd.Env = append(testbin.BaseEnv(), env...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prefsd %s: %v", strings.Join(args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("prefsd %s: still running after %v, want it to exit with an error; stderr:\n%s",
			strings.Join(args, " "), timeout, testbin.Tail(stderr.String(), 8000))
	}
	res := exitResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.Code = 0
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	default:
		t.Fatalf("prefsd %s: wait: %v", strings.Join(args, " "), err)
	}
	return res
}

// Package deploy holds the files an operator runs prefsd with (image,
// compose, haproxy, Kubernetes, systemd, dashboard and alerts) and the
// tests that check each of them against the real binary.
package deploy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prefsd/prefsd/internal/testbin"
)

// Secrets the tests hand to their nodes.
const (
	adminToken = "deploy-admin-token-0c9d21"
	clusterKey = "deploy-cluster-key-7e4a55"
)

// fastRaft are raft timings short enough for quick failover on loopback
// and long enough not to cause spurious elections on a loaded machine.
var fastRaft = []string{"--raft-heartbeat-timeout=300ms", "--raft-election-timeout=300ms"}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// proc is a process the test started. It is killed when the test ends,
// and its output is logged if the test failed.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	out  testbin.SyncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, set before done is closed
}

// startProc starts bin with args in a temporary working directory, with
// env added to the filtered environment.
func startProc(t *testing.T, name, bin string, args, env []string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = t.TempDir()
	p.cmd.Env = append(testbin.BaseEnv(), env...)
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: start %s: %v", name, bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("===== %s: %s %s\n%s", name, bin, strings.Join(args, " "), testbin.Tail(p.out.String(), 64<<10))
		}
	})
	t.Logf("%s: started pid %d: %s %s", name, p.cmd.Process.Pid, filepath.Base(bin), strings.Join(args, " "))
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// alive returns a permanent error once the process has exited.
func (p *proc) alive() error {
	if p.exited() {
		return testbin.Permanent(fmt.Errorf("%s exited: %v\n%s", p.name, p.err, testbin.Tail(p.out.String(), 4000)))
	}
	return nil
}

// kill sends SIGKILL and waits for the process to go.
func (p *proc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("%s: SIGKILL: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s: still running 10s after SIGKILL", p.name)
	}
	p.t.Logf("%s: killed", p.name)
}

// prefsClient writes and reads the admin user's free-form preferences
// through the edX dialect at base (a node or a load balancer).
type prefsClient struct {
	base string
}

// put sets key to value. Setting a key to the value it has is idempotent,
// so a put whose outcome is unknown can simply be sent again.
func (c prefsClient) put(key, value string) error {
	res, err := testbin.Do(http.MethodPatch, c.base+"/api/user/v1/preferences/admin", "Token "+adminToken,
		"application/merge-patch+json", map[string]string{key: value})
	if err != nil {
		return err
	}
	if res.Status != http.StatusNoContent {
		return fmt.Errorf("PATCH preferences: %v", res)
	}
	return nil
}

// get reads every preference with a linearizable read.
func (c prefsClient) get() (map[string]string, error) {
	res, err := testbin.Do(http.MethodGet, c.base+"/api/user/v1/preferences/admin?consistency=linearizable", "Token "+adminToken, "", nil)
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, fmt.Errorf("GET preferences: %v", res)
	}
	if got := res.Header.Get("X-Prefsd-Consistency"); got != "linearizable" {
		return nil, testbin.Permanent(fmt.Errorf("GET preferences: X-Prefsd-Consistency %q, want linearizable", got))
	}
	var prefs map[string]string
	if err := json.Unmarshal(res.Body, &prefs); err != nil {
		return nil, fmt.Errorf("GET preferences: %v in %s", err, res.Body)
	}
	return prefs, nil
}

// ledger is a client workload: unique keys written one after another,
// each read back with a linearizable read as soon as it was acknowledged.
type ledger struct {
	t     *testing.T
	c     prefsClient
	acked map[string]string
	next  int
	// failures counts requests that failed and were sent again.
	failures int
}

func newLedger(t *testing.T, c prefsClient) *ledger {
	return &ledger{t: t, c: c, acked: map[string]string{}}
}

// step writes the next key, sending it again until it is acknowledged,
// then reads until a read succeeds; that read must show the key. It fails
// the test if either does not succeed within timeout.
func (l *ledger) step(timeout time.Duration) {
	l.t.Helper()
	l.next++
	key, value := fmt.Sprintf("ledger-%04d", l.next), fmt.Sprintf("v%d", l.next)
	testbin.Eventually(l.t, timeout, "write "+key+" to be acknowledged", func() error {
		err := l.c.put(key, value)
		if err != nil {
			l.failures++
		}
		return err
	})
	l.acked[key] = value
	testbin.Eventually(l.t, timeout, "a linearizable read after writing "+key, func() error {
		prefs, err := l.c.get()
		if err != nil {
			l.failures++
			return err
		}
		if prefs[key] != value {
			return testbin.Permanent(fmt.Errorf("linearizable read after the acknowledged write %s=%s shows %q", key, value, prefs[key]))
		}
		return nil
	})
}

// checkAll reads once more and requires every acknowledged write.
func (l *ledger) checkAll(timeout time.Duration) {
	l.t.Helper()
	testbin.Eventually(l.t, timeout, "a linearizable read of every acknowledged write", func() error {
		prefs, err := l.c.get()
		if err != nil {
			return err
		}
		for k, v := range l.acked {
			if prefs[k] != v {
				return testbin.Permanent(fmt.Errorf("acknowledged write %s=%s reads as %q", k, v, prefs[k]))
			}
		}
		return nil
	})
}

// clusterStatus is the part of GET /api/cluster/status the tests use.
type clusterStatus struct {
	NodeID   string `json:"node_id"`
	State    string `json:"state"`
	LeaderID string `json:"leader_id"`
	Members  []struct {
		NodeID string `json:"node_id"`
	} `json:"members"`
}

// status fetches a node's view of the cluster.
func status(base string) (clusterStatus, error) {
	var st clusterStatus
	res, err := testbin.Do(http.MethodGet, base+"/api/cluster/status", "Token "+adminToken, "", nil)
	if err != nil {
		return st, err
	}
	if res.Status != http.StatusOK {
		return st, fmt.Errorf("status: %v", res)
	}
	err = json.Unmarshal(res.Body, &st)
	return st, err
}

// digest is GET /api/cluster/digest's answer.
type digest struct {
	NodeID   string `json:"node_id"`
	FSMIndex uint64 `json:"fsm_index"`
	SHA256   string `json:"sha256"`
}

// sameDigests returns nil when every base answers the same state digest at
// the same index.
func sameDigests(bases []string) error {
	var first digest
	for i, base := range bases {
		res, err := testbin.Do(http.MethodGet, base+"/api/cluster/digest", "Token "+adminToken, "", nil)
		if err != nil {
			return err
		}
		if res.Status != http.StatusOK {
			return fmt.Errorf("digest of %s: %v", base, res)
		}
		var d digest
		if err := json.Unmarshal(res.Body, &d); err != nil {
			return fmt.Errorf("digest of %s: %v", base, err)
		}
		if i == 0 {
			first = d
			continue
		}
		if d.FSMIndex != first.FSMIndex || d.SHA256 != first.SHA256 {
			return fmt.Errorf("node %s is at index %d digest %.12s, node %s at index %d digest %.12s",
				d.NodeID, d.FSMIndex, d.SHA256, first.NodeID, first.FSMIndex, first.SHA256)
		}
	}
	return nil
}

// ready checks GET /readyz.
func ready(base string) error {
	res, err := testbin.Do(http.MethodGet, base+"/readyz", "", "", nil)
	if err != nil {
		return err
	}
	if res.Status != http.StatusOK {
		return fmt.Errorf("readyz: %v", res)
	}
	return nil
}

// waitMembers waits until every base is ready and reports members
// members, and all of them name the same leader, whose id it returns.
func waitMembers(t *testing.T, bases []string, members int, timeout time.Duration) string {
	t.Helper()
	var leader string
	testbin.Eventually(t, timeout, fmt.Sprintf("%d nodes to be ready with %d members and one leader", len(bases), members), func() error {
		leader = ""
		for _, b := range bases {
			if err := ready(b); err != nil {
				return fmt.Errorf("%s: %w", b, err)
			}
			st, err := status(b)
			if err != nil {
				return fmt.Errorf("%s: %w", b, err)
			}
			if len(st.Members) != members {
				return fmt.Errorf("node %s reports %d members, want %d", st.NodeID, len(st.Members), members)
			}
			if leader != "" && st.LeaderID != leader {
				return fmt.Errorf("node %s names leader %s, another names %s", st.NodeID, st.LeaderID, leader)
			}
			leader = st.LeaderID
		}
		return nil
	})
	return leader
}

// node is a prefsd process on loopback.
type node struct {
	*proc
	id, httpAddr, raftAddr string
}

func (n *node) base() string { return "http://" + n.httpAddr }

// startNode starts a prefsd process with fresh addresses and data
// directory; extra flags follow the identity and address flags.
func startNode(t *testing.T, id string, extra ...string) *node {
	t.Helper()
	bin := testbin.Prefsd(t)
	addrs := testbin.FreeAddrs(t, 2)
	n := &node{id: id, httpAddr: addrs[0], raftAddr: addrs[1]}
	args := append([]string{
		"--node-id", id,
		"--http-addr", n.httpAddr,
		"--raft-addr", n.raftAddr,
		"--data-dir", filepath.Join(t.TempDir(), "data"),
		"--log-level", "warn",
	}, fastRaft...)
	args = append(args, extra...)
	n.proc = startProc(t, "node "+id, bin, args, []string{"PREFSD_ADMIN_TOKEN=" + adminToken, "PREFSD_CLUSTER_KEY=" + clusterKey})
	return n
}

// startCluster starts n1, which bootstraps, and size-1 nodes that join
// through it, and waits until all of them agree.
func startCluster(t *testing.T, size int) []*node {
	t.Helper()
	n1 := startNode(t, "n1", "--bootstrap")
	testbin.Eventually(t, 30*time.Second, "n1 to be ready", func() error {
		if err := n1.alive(); err != nil {
			return err
		}
		return ready(n1.base())
	})
	nodes := []*node{n1}
	for i := 2; i <= size; i++ {
		nodes = append(nodes, startNode(t, fmt.Sprintf("n%d", i), "--join", n1.httpAddr))
	}
	var bases []string
	for _, n := range nodes {
		bases = append(bases, n.base())
	}
	waitMembers(t, bases, size, 30*time.Second)
	return nodes
}

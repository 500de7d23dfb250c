package deploy

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prefsd/prefsd/internal/testbin"
)

// haproxyBinary returns the path of haproxy, or skips the test.
func haproxyBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"haproxy", "/usr/sbin/haproxy"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("haproxy is not installed (apt-get install -y haproxy): skipping the load balancer test")
	return ""
}

// haproxyEnv is the environment deploy/haproxy.cfg takes its addresses
// from.
func haproxyEnv(listen string, nodes []*node) []string {
	env := []string{"LISTEN_ADDR=" + listen}
	for i, n := range nodes {
		env = append(env, fmt.Sprintf("N%d_ADDR=%s", i+1, n.httpAddr))
	}
	return env
}

// TestHAProxyFailover puts haproxy, with deploy/haproxy.cfg as it is,
// in front of three prefsd processes, SIGKILLs the leader while a client
// writes and reads through haproxy, and checks that the client carries on:
// every write is acknowledged and every linearizable read after it sees
// it, once the cluster has a new leader.
func TestHAProxyFailover(t *testing.T) {
	haproxy := haproxyBinary(t)
	cfg, err := filepath.Abs("haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	nodes := startCluster(t, 3)
	listen := testbin.FreeAddrs(t, 1)[0]
	env := haproxyEnv(listen, nodes)

	check := exec.Command(haproxy, "-c", "-f", cfg)
	check.Env = append(testbin.BaseEnv(), env...)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c -f %s: %v\n%s", cfg, err, out)
	}
	lb := startProc(t, "haproxy", haproxy, []string{"-db", "-f", cfg}, env)
	base := "http://" + listen
	testbin.Eventually(t, 20*time.Second, "haproxy to pass requests to a ready node", func() error {
		if err := lb.alive(); err != nil {
			return err
		}
		return ready(base)
	})

	// haproxy refuses node-to-node endpoints from clients.
	res, err := testbin.Do("POST", base+"/internal/v1/apply", "", "", "{}")
	if err != nil || res.Status != 403 {
		t.Fatalf("POST /internal/v1/apply through haproxy: %v %v, want 403", res, err)
	}

	l := newLedger(t, prefsClient{base: base})
	for range 10 {
		l.step(10 * time.Second)
	}
	if l.failures != 0 {
		t.Fatalf("%d requests failed before any fault", l.failures)
	}

	st, err := status(nodes[0].base())
	if err != nil {
		t.Fatal(err)
	}
	var leader *node
	var survivors []string
	for _, n := range nodes {
		if n.id == st.LeaderID {
			leader = n
		} else {
			survivors = append(survivors, n.base())
		}
	}
	if leader == nil {
		t.Fatalf("leader %q is none of the nodes", st.LeaderID)
	}
	leader.kill()
	killed := time.Now()

	// The first step after the kill may wait for an election; each later
	// one must go through as well, on the two nodes left.
	l.step(30 * time.Second)
	t.Logf("first write and read through haproxy after killing leader %s: %v later, after %d failed requests",
		leader.id, time.Since(killed).Round(time.Millisecond), l.failures)
	for range 20 {
		l.step(10 * time.Second)
	}
	l.checkAll(10 * time.Second)
	newLeader := waitMembers(t, survivors, 3, 20*time.Second)
	if newLeader == leader.id {
		t.Fatalf("the survivors still name the killed node %s as leader", leader.id)
	}
	testbin.Eventually(t, 10*time.Second, "the surviving nodes to have the same state", func() error { return sameDigests(survivors) })
	t.Logf("%d writes acknowledged and read back; %d failed requests in all; new leader %s",
		len(l.acked), l.failures, newLeader)
	// Its health checks take the killed node out of rotation.
	testbin.Eventually(t, 20*time.Second, "haproxy to mark "+leader.id+" DOWN", func() error {
		if out := lb.out.String(); !strings.Contains(out, "prefsd/"+leader.id+" is DOWN") {
			return fmt.Errorf("haproxy's log so far:\n%s", testbin.Tail(out, 2000))
		}
		return nil
	})
}

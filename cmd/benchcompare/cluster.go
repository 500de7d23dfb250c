package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The systems benchcompare can measure.
const (
	systemPrefsd = "prefsd"
	systemEtcd   = "etcd"
)

// errNotReady is returned by readiness checks that have not passed yet.
var errNotReady = errors.New("not ready")

// node is one member process of a cluster.
type node struct {
	name string
	url  string // client base URL
	args []string
	log  string // path of the file stdout and stderr go to
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
}

// running reports whether the node's process is alive.
func (n *node) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// cluster is a running prefsd or etcd cluster.
type cluster struct {
	system  string
	bin     string
	version string
	token   string // prefsd's admin token
	nodes   []*node
	client  *http.Client
}

// startCluster starts a system's members with their data under o.dir and
// waits until the cluster has formed and every member is ready.
func startCluster(ctx context.Context, o *options, system string) (*cluster, error) {
	c := &cluster{system: system, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	base := filepath.Join(o.dir, system)
	addrs, err := freeAddrs(2 * o.nodes)
	if err != nil {
		return nil, err
	}
	client, peer := addrs[:o.nodes], addrs[o.nodes:]
	switch system {
	case systemPrefsd:
		c.bin = o.prefsd
		c.token = rand.Text()
		key := rand.Text()
		for i := range o.nodes {
			name := fmt.Sprintf("n%d", i+1)
			args := []string{
				"--node-id", name, "--http-addr", client[i], "--raft-addr", peer[i],
				"--data-dir", filepath.Join(base, name), "--admin-token", c.token, "--cluster-key", key,
				"--rate-limit-user", "0", "--rate-limit-address", "0", "--log-level", "warn",
			}
			if i > 0 {
				args = append(args, "--join", client[0])
			}
			c.nodes = append(c.nodes, &node{name: name, url: "http://" + client[i], args: args})
		}
	case systemEtcd:
		c.bin = o.etcd
		var initial []string
		for i := range o.nodes {
			initial = append(initial, fmt.Sprintf("e%d=http://%s", i+1, peer[i]))
		}
		for i := range o.nodes {
			name := fmt.Sprintf("e%d", i+1)
			args := []string{
				"--name", name, "--data-dir", filepath.Join(base, name),
				"--listen-client-urls", "http://" + client[i], "--advertise-client-urls", "http://" + client[i],
				"--listen-peer-urls", "http://" + peer[i], "--initial-advertise-peer-urls", "http://" + peer[i],
				"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-token", "benchcompare",
				"--initial-cluster-state", "new", "--logger", "zap", "--log-level", "warn",
			}
			c.nodes = append(c.nodes, &node{name: name, url: "http://" + client[i], args: args})
		}
	}
	if out, err := exec.CommandContext(ctx, c.bin, "--version").CombinedOutput(); err == nil {
		c.version, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	for i, n := range c.nodes {
		n.log = filepath.Join(base, n.name+".log")
		if err := c.start(n); err != nil {
			c.close()
			return nil, err
		}
		if system == systemPrefsd && i == 0 {
			// The others join through the first node: let it lead first.
			if err := c.waitFor(ctx, 30*time.Second, func(ctx context.Context) error { return c.ready(ctx, n) }); err != nil {
				c.close()
				return nil, fmt.Errorf("%s: %w", n.name, err)
			}
		}
	}
	if err := c.waitHealthy(ctx); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// start starts a node's process with its output appended to its log.
func (c *cluster) start(n *node) error {
	f, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.bin, n.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func() {
		defer close(n.done)
		cmd.Wait()
		f.Close()
	}()
	return nil
}

// kill stops a node with SIGKILL and waits for it to exit.
func (c *cluster) kill(n *node) {
	if n.running() {
		n.cmd.Process.Signal(syscall.SIGKILL)
		<-n.done
	}
}

// close stops every node, with SIGTERM first and SIGKILL for a node that
// has not exited 10 seconds later.
func (c *cluster) close() {
	for _, n := range c.nodes {
		if n.running() {
			n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(10 * time.Second)
	for _, n := range c.nodes {
		if n.cmd == nil {
			continue
		}
		select {
		case <-n.done:
		case <-deadline:
			c.kill(n)
		}
	}
}

// rssMB returns the largest resident set of the members, in MiB.
func (c *cluster) rssMB() float64 {
	var most float64
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				most = max(most, kb/1024)
			}
		}
	}
	return most
}

// cpuSeconds returns the CPU time, user and system, the running members
// have used so far.
func (c *cluster) cpuSeconds() float64 {
	var total float64
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.cmd.Process.Pid))
		if err != nil {
			continue
		}
		// The command name, in parentheses, may hold spaces: count the
		// fields after it. utime and stime are fields 14 and 15.
		_, rest, ok := strings.Cut(string(b), ") ")
		fields := strings.Fields(rest)
		if !ok || len(fields) < 13 {
			continue
		}
		for _, f := range fields[11:13] {
			ticks, _ := strconv.ParseFloat(f, 64)
			total += ticks / clockTicks
		}
	}
	return total
}

// clockTicks is the unit of /proc/PID/stat's times (USER_HZ), 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// waitFor polls check until it succeeds or timeout passes.
func (c *cluster) waitFor(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		reqCtx, reqCancel := context.WithTimeout(ctx, 2*time.Second)
		err := check(reqCtx)
		reqCancel()
		if err == nil {
			return nil
		}
		if ctx.Err() == nil || last == nil {
			last = err // not the error of a check cut short by the deadline
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// waitHealthy waits until every member runs, is ready, and the cluster
// has all of them as voting members with a leader.
func (c *cluster) waitHealthy(ctx context.Context) error {
	return c.waitFor(ctx, 60*time.Second, func(ctx context.Context) error {
		for _, n := range c.nodes {
			if !n.running() {
				return fmt.Errorf("%s exited; see %s", n.name, n.log)
			}
			if err := c.ready(ctx, n); err != nil {
				return fmt.Errorf("%s: %w", n.name, err)
			}
		}
		if _, err := c.leader(ctx); err != nil {
			return err
		}
		return nil
	})
}

// ready checks one member's readiness endpoint.
func (c *cluster) ready(ctx context.Context, n *node) error {
	path := "/readyz"
	if c.system == systemEtcd {
		path = "/health"
	}
	status, body, err := c.do(ctx, http.MethodGet, n.url+path, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK || (c.system == systemEtcd && !bytes.Contains(body, []byte(`"true"`))) {
		return fmt.Errorf("%w: %d %s", errNotReady, status, bytes.TrimSpace(body))
	}
	return nil
}

// leader returns the index of the current leader, once every running
// member agrees on it and, for prefsd, every member is a voter.
func (c *cluster) leader(ctx context.Context) (int, error) {
	leader := -1
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		var name string
		switch c.system {
		case systemPrefsd:
			var st struct {
				LeaderID string `json:"leader_id"`
				Members  []struct {
					Suffrage string `json:"suffrage"`
				} `json:"members"`
			}
			if err := c.getJSON(ctx, http.MethodGet, n.url+"/api/cluster/status", nil, &st); err != nil {
				return 0, err
			}
			voters := 0
			for _, m := range st.Members {
				if m.Suffrage == "Voter" {
					voters++
				}
			}
			if voters != len(c.nodes) {
				return 0, fmt.Errorf("%w: %s sees %d voters", errNotReady, n.name, voters)
			}
			name = st.LeaderID
		case systemEtcd:
			var st struct {
				Header struct {
					MemberID string `json:"member_id"`
				} `json:"header"`
				Leader string `json:"leader"`
			}
			if err := c.getJSON(ctx, http.MethodPost, n.url+"/v3/maintenance/status", []byte("{}"), &st); err != nil {
				return 0, err
			}
			if st.Leader == "" || st.Leader == "0" {
				return 0, fmt.Errorf("%w: %s knows no leader", errNotReady, n.name)
			}
			if st.Leader != st.Header.MemberID {
				continue
			}
			name = n.name
		}
		i := c.index(name)
		if i < 0 {
			if c.system == systemPrefsd {
				return 0, fmt.Errorf("%w: %s knows no leader", errNotReady, n.name)
			}
			continue
		}
		if leader >= 0 && leader != i {
			return 0, fmt.Errorf("%w: members disagree on the leader", errNotReady)
		}
		leader = i
	}
	if leader < 0 || !c.nodes[leader].running() {
		return 0, fmt.Errorf("%w: no leader", errNotReady)
	}
	return leader, nil
}

// index returns the position of the named member, or -1.
func (c *cluster) index(name string) int {
	for i, n := range c.nodes {
		if n.name == name {
			return i
		}
	}
	return -1
}

// write stores one small value through a member: what a client does to
// learn that the cluster takes writes again.
func (c *cluster) write(ctx context.Context, n *node, value string) error {
	var status int
	var body []byte
	var err error
	switch c.system {
	case systemPrefsd:
		status, body, err = c.doType(ctx, http.MethodPatch, n.url+"/api/user/v1/preferences/admin",
			"application/merge-patch+json", fmt.Appendf(nil, `{"benchcompare-failover":%q}`, value))
	case systemEtcd:
		b64 := base64.StdEncoding.EncodeToString
		status, body, err = c.doType(ctx, http.MethodPost, n.url+"/v3/kv/put", "application/json",
			fmt.Appendf(nil, `{"key":%q,"value":%q}`, b64([]byte("benchcompare-failover")), b64([]byte(value))))
	}
	if err != nil {
		return err
	}
	if status/100 != 2 || (c.system == systemEtcd && bytes.Contains(body, []byte(`"error"`))) {
		return fmt.Errorf("write through %s: %d %s", n.name, status, bytes.TrimSpace(body))
	}
	return nil
}

// failover kills the leader with SIGKILL and returns the time from the
// kill to the first successful write through a surviving member. Clients
// behind a load balancer keep sending: a new write goes to a survivor every
// probeEvery, each with its own timeout, so that one request stuck on the
// dead leader does not hide the moment writes work again. The killed
// member is then restarted on its data and the cluster left healthy.
func (c *cluster) failover(ctx context.Context) (time.Duration, error) {
	const (
		probeEvery   = 20 * time.Millisecond
		probeTimeout = 3 * time.Second
	)
	if err := c.waitHealthy(ctx); err != nil {
		return 0, err
	}
	l, err := c.leader(ctx)
	if err != nil {
		return 0, err
	}
	var survivors []*node
	for i, n := range c.nodes {
		if i != l {
			survivors = append(survivors, n)
		}
	}
	probeCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first time.Time
	)
	tick := time.NewTicker(probeEvery)
	killed := time.Now()
	c.kill(c.nodes[l])
	for i := 0; probeCtx.Err() == nil; i++ {
		wg.Go(func() {
			reqCtx, reqCancel := context.WithTimeout(probeCtx, probeTimeout)
			defer reqCancel()
			if c.write(reqCtx, survivors[i%len(survivors)], strconv.Itoa(i)) != nil {
				return
			}
			mu.Lock()
			if now := time.Now(); first.IsZero() || now.Before(first) {
				first = now
			}
			mu.Unlock()
			cancel()
		})
		select {
		case <-probeCtx.Done():
		case <-tick.C:
		}
	}
	tick.Stop()
	wg.Wait()
	if first.IsZero() {
		return 0, fmt.Errorf("no write succeeded within a minute of killing %s", c.nodes[l].name)
	}
	if err := c.start(c.nodes[l]); err != nil {
		return 0, err
	}
	if err := c.waitHealthy(ctx); err != nil {
		return 0, fmt.Errorf("after restarting %s: %w", c.nodes[l].name, err)
	}
	return first.Sub(killed), nil
}

// do sends a request with the admin token (prefsd) and returns the status
// and body.
func (c *cluster) do(ctx context.Context, method, url string, body []byte) (int, []byte, error) {
	return c.doType(ctx, method, url, "application/json", body)
}

// doType is do with a content type.
func (c *cluster) doType(ctx context.Context, method, url, ctype string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Token "+c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// getJSON sends a request and decodes a 200 answer into v.
func (c *cluster) getJSON(ctx context.Context, method, url string, body []byte, v any) error {
	status, b, err := c.do(ctx, method, url, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, url, status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, v)
}

// freeAddrs returns n loopback addresses with ports free right now.
func freeAddrs(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

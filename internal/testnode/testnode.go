// Package testnode runs real prefsd nodes inside a test: raft over loopback
// TCP, raft-boltdb in a temporary directory, and the HTTP API on a loopback
// listener. Nothing is faked; only the timeouts are shorter.
package testnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prefsd/prefsd/api"
	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/config/catalog"
	"github.com/prefsd/prefsd/jwtauth"
)

// The secrets every test node shares.
const (
	AdminToken = "test-admin-token"
	ClusterKey = "test-cluster-key"
)

// Options choose a node's identity and place. Zero values pick fresh ones.
type Options struct {
	// ID is the node id; "" means "n1".
	ID string
	// DataDir is where the node keeps its state; "" means a new temp dir.
	DataDir string
	// HTTPAddr and RaftAddr are listen addresses; "" means a free port.
	HTTPAddr string
	RaftAddr string
	// Join lists members to join through; empty means bootstrap.
	Join []string
	// Configure, if set, may change the configuration before the node opens.
	Configure func(*config.Config)
	// Logs, if set, receives the node's and raft's logs.
	Logs io.Writer
	// JWT, if set, verifies the JWTs the node accepts; otherwise one is
	// built from the configuration's JWT flags (set through Configure),
	// as prefsd does, and none is used when no key file is set.
	JWT *jwtauth.Verifier
	// TLS names certificate files (see NewCA): the HTTP API then serves
	// HTTPS, and with the peer files raft and node-to-node calls use
	// mutual TLS.
	TLS config.TLSFiles
	// Wrap, if set, wraps the node's HTTP handler: a test makes a node
	// answer some paths as another version of prefsd would.
	Wrap func(http.Handler) http.Handler
}

// Node is a running test node.
type Node struct {
	*cluster.Node
	// URL is the node's HTTP base URL, e.g. http://127.0.0.1:41234.
	URL string
	// Addr is the node's HTTP address and Opts how it was started, with
	// every address filled in, so that Restart brings it back the same.
	Addr     string
	Opts     Options
	Registry *prometheus.Registry
	// TLS is the node's certificate material, nil without TLS; its Reload
	// is what SIGHUP runs in prefsd.
	TLS *cluster.TLS

	t    testing.TB
	srv  *http.Server
	done chan struct{}
}

// Start starts a node and registers its shutdown with t.Cleanup.
func Start(t testing.TB, o Options) *Node {
	t.Helper()
	if o.ID == "" {
		o.ID = "n1"
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = "127.0.0.1:0"
	}
	if o.RaftAddr == "" {
		o.RaftAddr = freeAddr(t)
	}
	ln, err := listen(o.HTTPAddr)
	if err != nil {
		t.Fatalf("node %s: http listen: %v", o.ID, err)
	}
	o.HTTPAddr = ln.Addr().String()

	cfg := config.Default()
	cfg.NodeID = o.ID
	cfg.HTTPAddr = o.HTTPAddr
	cfg.RaftAddr = o.RaftAddr
	cfg.DataDir = o.DataDir
	cfg.Join = o.Join
	cfg.ClusterKey = ClusterKey
	cfg.AdminToken = AdminToken
	cfg.HeartbeatTimeout = 150 * time.Millisecond
	cfg.ElectionTimeout = 150 * time.Millisecond
	cfg.LeaderWait = 5 * time.Second
	cfg.LogLevel = "warn"
	cfg.TLS = o.TLS
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		ln.Close()
		t.Fatalf("node %s: config: %v", o.ID, err)
	}
	jwtVerifier := o.JWT
	if jwtVerifier == nil {
		if jwtVerifier, err = jwtauth.FromConfig(cfg.JWT); err != nil {
			ln.Close()
			t.Fatalf("node %s: %v", o.ID, err)
		}
	}

	logs := o.Logs
	if logs == nil {
		logs = io.Discard
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", o.ID)
	defaultCatalog, err := catalog.Default()
	if err != nil {
		ln.Close()
		t.Fatalf("node %s: %v", o.ID, err)
	}
	tlsm, err := cluster.LoadTLS(cfg)
	if err != nil {
		ln.Close()
		t.Fatalf("node %s: tls: %v", o.ID, err)
	}
	scheme := "http://"
	if tlsm.APIEnabled() {
		ln = tls.NewListener(ln, tlsm.ServerConfig())
		scheme = "https://"
	}
	reg := prometheus.NewRegistry()
	node, err := cluster.Open(cfg, cluster.Options{
		TLS:              tlsm,
		Logger:           log,
		RaftLogOutput:    logs,
		Metrics:          cluster.NewMetrics(reg),
		AdminTokenDigest: api.TokenDigest(AdminToken),
		DefaultCatalog:   defaultCatalog,
	})
	if err != nil {
		ln.Close()
		t.Fatalf("node %s: open: %v", o.ID, err)
	}
	n := &Node{
		Node:     node,
		URL:      scheme + o.HTTPAddr,
		Addr:     o.HTTPAddr,
		Opts:     o,
		Registry: reg,
		TLS:      tlsm,
		t:        t,
		srv: &http.Server{
			Handler: api.New(api.Options{
				Cluster: node, Logger: log, Registry: reg, Gatherer: reg, MaxBodyBytes: cfg.MaxBodyBytes,
				JWT: jwtVerifier,
			}),
			ReadHeaderTimeout: 5 * time.Second,
		},
		done: make(chan struct{}),
	}
	if o.Wrap != nil {
		n.srv.Handler = o.Wrap(n.srv.Handler)
	}
	n.srv.Handler = tlsm.Handler(n.srv.Handler)
	go func() {
		defer close(n.done)
		_ = n.srv.Serve(ln)
	}()
	if len(o.Join) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := node.JoinCluster(ctx, o.Join); err != nil {
			n.Stop()
			t.Fatalf("node %s: join: %v", o.ID, err)
		}
	}
	t.Cleanup(n.Stop)
	return n
}

// Stop shuts the node down: the HTTP server, then raft and its stores. It
// is safe to call more than once.
func (n *Node) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.srv.Shutdown(ctx)
	<-n.done
	if err := n.Node.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		n.t.Logf("node %s: close: %v", n.Opts.ID, err)
	}
}

// Restart stops the node and starts it again on the same addresses and
// data directory, as an operator restarting it with the same flags would.
func (n *Node) Restart(t testing.TB) *Node {
	t.Helper()
	n.Stop()
	o := n.Opts
	o.Join = nil // a node with state rejoins from it
	return Start(t, o)
}

// StartCluster starts size nodes: the first bootstraps, the others join
// through it. It returns once every node knows the same leader and every
// member is in the member directory.
func StartCluster(t testing.TB, size int, configure func(*config.Config)) []*Node {
	t.Helper()
	return StartClusterWith(t, size, func(o *Options) { o.Configure = configure })
}

// StartClusterWith is StartCluster with each node's options, its id and
// join list already set, passed through opts first.
func StartClusterWith(t testing.TB, size int, opts func(*Options)) []*Node {
	t.Helper()
	var nodes []*Node
	for i := 1; i <= size; i++ {
		o := Options{ID: fmt.Sprintf("n%d", i)}
		if i > 1 {
			o.Join = []string{nodes[0].Addr}
		}
		if opts != nil {
			opts(&o)
		}
		nodes = append(nodes, Start(t, o))
		if i == 1 {
			WaitLeader(t, nodes)
		}
	}
	waitMembers(t, nodes, size)
	return nodes
}

// waitMembers waits until every node knows size members and is ready.
func waitMembers(t testing.TB, nodes []*Node, size int) {
	t.Helper()
	Eventually(t, 20*time.Second, func() error {
		for _, n := range nodes {
			if got := len(n.FSM().State().Members()); got != size {
				return fmt.Errorf("node %s knows %d members, want %d", n.ID(), got, size)
			}
			if err := n.Ready(); err != nil {
				return fmt.Errorf("node %s: %v", n.ID(), err)
			}
		}
		return nil
	})
}

// WaitLeader waits until one of nodes leads and is ready for consistent
// reads, and returns it.
func WaitLeader(t testing.TB, nodes []*Node) *Node {
	t.Helper()
	var leader *Node
	Eventually(t, 20*time.Second, func() error {
		for _, n := range nodes {
			if n.IsLeader() && n.Ready() == nil {
				leader = n
				return nil
			}
		}
		return errors.New("no ready leader")
	})
	return leader
}

// Followers returns the nodes that are not leader.
func Followers(nodes []*Node) []*Node {
	var out []*Node
	for _, n := range nodes {
		if !n.IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

// Eventually polls cond until it returns nil, failing the test with cond's
// last error once timeout has passed.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		<-tick.C
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. Raft needs a fixed address, since members remember it.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// listen opens addr, retrying briefly while a restarted node's old socket
// is still being released.
func listen(addr string) (net.Listener, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || !strings.Contains(err.Error(), "address already in use") || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

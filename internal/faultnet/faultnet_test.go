package faultnet

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds every wait in these tests; it is generous so that slow
// machines do not fail, and only matters when something is broken.
const waitTimeout = 5 * time.Second

// silence is how long a read must stay empty to count as "nothing arrived".
// It is only used once the bytes are known to have been dropped.
const silence = 50 * time.Millisecond

var nodeIPs = map[string]string{"a": "127.0.0.21", "b": "127.0.0.22", "c": "127.0.0.23"}

var nodeNames = []string{"a", "b", "c"}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		<-tick.C
	}
}

// closeNetwork closes n, failing the test instead of hanging if Close does
// not return.
func closeNetwork(t *testing.T, n *Network) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- n.Close() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("Close did not return within %v", waitTimeout)
	}
}

// server is a TCP server on loopback. In echo mode it sends back what it
// reads; otherwise it writes greeting on every new connection and records
// everything it reads.
type server struct {
	ln       net.Listener
	echo     bool
	greeting string
	wg       sync.WaitGroup
	once     sync.Once

	mu    sync.Mutex
	conns []net.Conn
	got   bytes.Buffer
}

func startServer(t *testing.T, echo bool, greeting string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &server{ln: ln, echo: echo, greeting: greeting}
	s.wg.Go(s.acceptLoop)
	t.Cleanup(s.close)
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) acceptLoop() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Go(func() { s.handle(c) })
	}
}

func (s *server) handle(c net.Conn) {
	defer c.Close()
	if s.echo {
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
		return
	}
	if _, err := io.WriteString(c, s.greeting); err != nil {
		return
	}
	buf := make([]byte, 4096)
	for {
		k, err := c.Read(buf)
		s.mu.Lock()
		s.got.Write(buf[:k])
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// received returns everything the server has read so far.
func (s *server) received() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got.String()
}

func (s *server) close() {
	s.once.Do(func() {
		s.ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// fixture is a Network with nodes a, b and c, each with an echo server and a
// sink server behind proxies on its own loopback IP.
type fixture struct {
	net      *Network
	echoAddr map[string]string
	sink     map[string]*server
	sinkAddr map[string]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		echoAddr: make(map[string]string),
		sink:     make(map[string]*server),
		sinkAddr: make(map[string]string),
	}
	servers := make(map[string][2]*server)
	for _, name := range nodeNames {
		servers[name] = [2]*server{startServer(t, true, ""), startServer(t, false, "hello from "+name+"\n")}
	}
	f.net = New(t.Logf)
	t.Cleanup(func() {
		closeNetwork(t, f.net)
		if open := f.net.Stats().ConnsOpen; open != 0 {
			t.Errorf("%d connections still open after Close", open)
		}
	})
	for _, name := range nodeNames {
		ip := nodeIPs[name]
		if err := f.net.AddNode(name, ip); err != nil {
			t.Fatalf("add node %s: %v", name, err)
		}
		var err error
		if f.echoAddr[name], err = f.net.Proxy(name, ip+":0", servers[name][0].addr()); err != nil {
			t.Fatalf("echo proxy for %s: %v", name, err)
		}
		f.sink[name] = servers[name][1]
		if f.sinkAddr[name], err = f.net.Proxy(name, ip+":0", servers[name][1].addr()); err != nil {
			t.Fatalf("sink proxy for %s: %v", name, err)
		}
	}
	return f
}

// dial connects to addr from sourceIP.
func dial(t *testing.T, sourceIP, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: waitTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(sourceIP)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, sourceIP, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func write(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
}

// expectRead reads len(want) bytes from c and checks they are want.
func expectRead(t *testing.T, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading %q: got %q, %v", want, got, err)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// expectEcho writes msg to c and expects it back.
func expectEcho(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	write(t, c, msg)
	expectRead(t, c, msg)
}

// expectSilence checks that nothing arrives on c for a while and that c is
// still open.
func expectSilence(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(silence))
	buf := make([]byte, 64)
	k, err := c.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("expected nothing to arrive, got %q, %v", buf[:k], err)
	}
}

// expectClosed checks that c is closed by the other side.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v", waitTimeout)
	}
}

// waitDropped waits until the network has dropped at least k more bytes
// than before.
func waitDropped(t *testing.T, n *Network, before, k int64) {
	t.Helper()
	waitFor(t, "bytes to be dropped", func() bool { return n.Stats().BytesDropped >= before+k })
}

func TestPassThrough(t *testing.T) {
	tests := []struct {
		name     string
		sourceIP string
	}{
		{"registered source", nodeIPs["a"]},
		{"unregistered source", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			c := dial(t, tt.sourceIP, f.echoAddr["b"])
			expectEcho(t, c, "ping")
			expectEcho(t, c, "pong")

			// A large transfer, then a half-close that must reach the
			// server and come back as end of stream.
			payload := strings.Repeat("0123456789abcdef", 64<<10)
			errc := make(chan error, 1)
			go func() {
				_, err := io.WriteString(c, payload)
				if err == nil {
					err = c.CloseWrite()
				}
				errc <- err
			}()
			c.SetReadDeadline(time.Now().Add(waitTimeout))
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("read echo: %v", err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("write payload: %v", err)
			}
			if string(got) != payload {
				t.Fatalf("echoed %d bytes, want the %d sent", len(got), len(payload))
			}
			s := f.net.Stats()
			if s.ConnsAccepted != 1 || s.BytesDropped != 0 {
				t.Errorf("stats = %+v, want 1 connection accepted and nothing dropped", s)
			}
		})
	}
}

func TestUnregisteredSourceIgnoresRules(t *testing.T) {
	f := newFixture(t)
	f.net.Partition([]string{"a"}, []string{"b"}, []string{"c"})
	for _, name := range nodeNames {
		f.net.Delay("a", name, time.Hour)
	}
	for _, ip := range []string{"127.0.0.1", "127.0.0.99"} {
		for _, name := range nodeNames {
			c := dial(t, ip, f.echoAddr[name])
			expectEcho(t, c, "hello "+name)
		}
	}
	if s := f.net.Stats(); s.BytesDropped != 0 {
		t.Errorf("dropped %d bytes of unregistered traffic", s.BytesDropped)
	}
}

func TestBlockIsOneWay(t *testing.T) {
	// With a->b blocked, a connection opened by a into b loses what a sends
	// but gets b's greeting; a connection opened by b into a delivers what b
	// sends but loses a's greeting.
	tests := []struct {
		name          string
		opener, into  string
		upstreamFlows bool
	}{
		{"opened by a into b", "a", "b", false},
		{"opened by b into a", "b", "a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.net.Block("a", "b")
			if !f.net.Blocked("a", "b") || f.net.Blocked("b", "a") {
				t.Fatalf("rules = %s, want only a->b blocked", f.net.Describe())
			}
			greeting := "hello from " + tt.into + "\n"
			before := f.net.Stats().BytesDropped
			c := dial(t, nodeIPs[tt.opener], f.sinkAddr[tt.into])
			write(t, c, "payload")
			sink := f.sink[tt.into]
			if tt.upstreamFlows {
				waitFor(t, "the payload to reach the server", func() bool { return sink.received() == "payload" })
				waitDropped(t, f.net, before, int64(len(greeting)))
				expectSilence(t, c)
			} else {
				expectRead(t, c, greeting)
				waitDropped(t, f.net, before, int64(len("payload")))
				if got := sink.received(); got != "" {
					t.Fatalf("server received %q through a blocked link", got)
				}
			}
		})
	}
}

func TestRules(t *testing.T) {
	tests := []struct {
		name    string
		apply   func(n *Network)
		blocked []string // directed links expected to be blocked
	}{
		{
			name:    "no rules",
			apply:   func(*Network) {},
			blocked: nil,
		},
		{
			name:    "partition a from b and c",
			apply:   func(n *Network) { n.Partition([]string{"a"}, []string{"b", "c"}) },
			blocked: []string{"a->b", "b->a", "a->c", "c->a"},
		},
		{
			name:    "partition leaves unnamed nodes alone",
			apply:   func(n *Network) { n.Partition([]string{"a"}, []string{"b"}) },
			blocked: []string{"a->b", "b->a"},
		},
		{
			name: "partition replaces earlier blocks",
			apply: func(n *Network) {
				n.Block("b", "c")
				n.Partition([]string{"a"}, []string{"b"})
			},
			blocked: []string{"a->b", "b->a"},
		},
		{
			name:    "isolate",
			apply:   func(n *Network) { n.Isolate("b") },
			blocked: []string{"a->b", "b->a", "b->c", "c->b"},
		},
		{
			name:    "block one way",
			apply:   func(n *Network) { n.Block("c", "a") },
			blocked: []string{"c->a"},
		},
		{
			name: "unblock",
			apply: func(n *Network) {
				n.Isolate("a")
				n.Unblock("b", "a")
			},
			blocked: []string{"a->b", "a->c", "c->a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.apply(f.net)
			want := make(map[string]bool)
			for _, l := range tt.blocked {
				want[l] = true
			}
			for _, from := range nodeNames {
				for _, to := range nodeNames {
					if from == to {
						continue
					}
					if got := f.net.Blocked(from, to); got != want[from+"->"+to] {
						t.Errorf("Blocked(%s, %s) = %v, want %v (rules: %s)", from, to, got, !got, f.net.Describe())
					}
				}
			}
			// Check the traffic on every ordered pair: an echo from one
			// node to another needs both directions.
			for _, from := range nodeNames {
				for _, to := range nodeNames {
					if from == to {
						continue
					}
					msg := "from " + from + " to " + to
					before := f.net.Stats().BytesDropped
					c := dial(t, nodeIPs[from], f.echoAddr[to])
					if !want[from+"->"+to] && !want[to+"->"+from] {
						expectEcho(t, c, msg)
						continue
					}
					write(t, c, msg)
					waitDropped(t, f.net, before, int64(len(msg)))
					expectSilence(t, c)
				}
			}
		})
	}
}

func TestHealResetsCorruptedConnections(t *testing.T) {
	f := newFixture(t)
	f.net.Block("a", "b")

	// Loses bytes on the way in.
	before := f.net.Stats().BytesDropped
	lostIn := dial(t, nodeIPs["a"], f.echoAddr["b"])
	write(t, lostIn, "lost")
	waitDropped(t, f.net, before, 4)

	// Loses the echo on the way back.
	before = f.net.Stats().BytesDropped
	lostOut := dial(t, nodeIPs["b"], f.echoAddr["a"])
	write(t, lostOut, "lost")
	waitDropped(t, f.net, before, 4)

	clean := dial(t, nodeIPs["a"], f.echoAddr["c"])
	expectEcho(t, clean, "clean")

	f.net.Heal()
	if got := f.net.Describe(); got != "no faults" {
		t.Fatalf("rules after Heal = %q", got)
	}
	expectClosed(t, lostIn)
	expectClosed(t, lostOut)
	waitFor(t, "two resets", func() bool { return f.net.Stats().ConnsReset == 2 })
	expectEcho(t, clean, "still clean")
	expectEcho(t, dial(t, nodeIPs["a"], f.echoAddr["b"]), "healed")
	expectEcho(t, dial(t, nodeIPs["b"], f.echoAddr["a"]), "healed")
	waitFor(t, "the reset connections to go away", func() bool { return f.net.Stats().ConnsOpen == 3 })
}

func TestUnblockResetsOnlyThatLink(t *testing.T) {
	f := newFixture(t)
	f.net.Block("a", "b")
	f.net.Block("a", "c")
	toB := dial(t, nodeIPs["a"], f.echoAddr["b"])
	toC := dial(t, nodeIPs["a"], f.echoAddr["c"])
	before := f.net.Stats().BytesDropped
	write(t, toB, "x")
	write(t, toC, "y")
	waitDropped(t, f.net, before, 2)

	f.net.Unblock("a", "b")
	expectClosed(t, toB)
	if got := f.net.Stats().ConnsReset; got != 1 {
		t.Fatalf("ConnsReset = %d, want 1", got)
	}
	expectSilence(t, toC)
	expectEcho(t, dial(t, nodeIPs["a"], f.echoAddr["b"]), "unblocked")
}

func TestDelay(t *testing.T) {
	const d = 150 * time.Millisecond
	// Delay a->b holds what a sends into b, and b's replies to a
	// connection opened by b into a.
	tests := []struct {
		name         string
		opener, into string
	}{
		{"on the way in", "a", "b"},
		{"on the way back", "b", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			c := dial(t, nodeIPs[tt.opener], f.echoAddr[tt.into])
			expectEcho(t, c, "warm up")
			f.net.Delay("a", "b", d)
			if got, want := f.net.Describe(), "delayed: a->b 150ms"; got != want {
				t.Fatalf("Describe() = %q, want %q", got, want)
			}
			start := time.Now()
			msgs := []string{"one ", "two ", "three"}
			for _, m := range msgs {
				write(t, c, m)
			}
			expectRead(t, c, strings.Join(msgs, ""))
			if elapsed := time.Since(start); elapsed < d {
				t.Errorf("echo took %v, want at least %v", elapsed, d)
			}
			f.net.Delay("a", "b", 0)
			if got := f.net.Describe(); got != "no faults" {
				t.Fatalf("Describe() after removing the delay = %q", got)
			}
			expectEcho(t, c, "undelayed")
			if s := f.net.Stats(); s.BytesDropped != 0 || s.ConnsReset != 0 {
				t.Errorf("stats = %+v, want nothing dropped or reset", s)
			}
		})
	}
}

func TestTargetUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	target := ln.Addr().String()
	ln.Close()

	n := New(t.Logf)
	defer n.Close()
	if err := n.AddNode("a", nodeIPs["a"]); err != nil {
		t.Fatalf("add node: %v", err)
	}
	addr, err := n.Proxy("a", nodeIPs["a"]+":0", target)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	expectClosed(t, dial(t, "127.0.0.1", addr))
	waitFor(t, "the failed connection to go away", func() bool {
		s := n.Stats()
		return s.DialFailures == 1 && s.ConnsOpen == 0
	})
}

func TestCloseStopsEverything(t *testing.T) {
	baseline := runtime.NumGoroutine()
	echo := startServer(t, true, "")
	n := New(t.Logf)
	for _, name := range nodeNames {
		if err := n.AddNode(name, nodeIPs[name]); err != nil {
			t.Fatalf("add node %s: %v", name, err)
		}
	}
	addr := make(map[string]string)
	for _, name := range nodeNames {
		var err error
		if addr[name], err = n.Proxy(name, nodeIPs[name]+":0", echo.addr()); err != nil {
			t.Fatalf("proxy for %s: %v", name, err)
		}
	}
	n.Block("a", "b")
	n.Delay("a", "c", time.Hour)

	idle := dial(t, nodeIPs["b"], addr["c"])
	expectEcho(t, idle, "idle")
	blocked := dial(t, nodeIPs["a"], addr["b"])
	write(t, blocked, "blocked")
	delayed := dial(t, nodeIPs["a"], addr["c"])
	write(t, delayed, "delayed")
	outsider := dial(t, "127.0.0.1", addr["a"])
	expectEcho(t, outsider, "outsider")
	waitFor(t, "the blocked bytes to be dropped", func() bool { return n.Stats().BytesDropped >= int64(len("blocked")) })

	closeNetwork(t, n)
	if s := n.Stats(); s.ConnsOpen != 0 {
		t.Fatalf("%d connections open after Close", s.ConnsOpen)
	}
	for _, c := range []net.Conn{idle, blocked, delayed, outsider} {
		expectClosed(t, c)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := n.Proxy("a", nodeIPs["a"]+":0", echo.addr()); err == nil {
		t.Errorf("Proxy after Close succeeded")
	}
	if _, err := net.Dial("tcp", addr["a"]); err == nil {
		t.Errorf("proxy still accepts connections after Close")
	}

	echo.close()
	waitFor(t, "goroutines to finish", func() bool { return runtime.NumGoroutine() <= baseline })
}

func TestAddNodeAndProxyErrors(t *testing.T) {
	n := New(nil)
	defer n.Close()
	if err := n.AddNode("a", nodeIPs["a"]); err != nil {
		t.Fatalf("add node: %v", err)
	}
	tests := []struct {
		name, node, ip string
	}{
		{"empty name", "", "127.0.0.30"},
		{"bad IP", "x", "not-an-ip"},
		{"duplicate name", "a", "127.0.0.31"},
		{"duplicate IP", "y", nodeIPs["a"]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := n.AddNode(tt.node, tt.ip); err == nil {
				t.Errorf("AddNode(%q, %q) succeeded", tt.node, tt.ip)
			}
		})
	}
	if _, err := n.Proxy("nobody", "127.0.0.1:0", "127.0.0.1:1"); err == nil {
		t.Errorf("Proxy for an unknown node succeeded")
	}
	if _, err := n.Proxy("a", "not an address", "127.0.0.1:1"); err == nil {
		t.Errorf("Proxy on a bad address succeeded")
	}
}

func TestDescribe(t *testing.T) {
	n := New(nil)
	defer n.Close()
	if got := n.Describe(); got != "no faults" {
		t.Errorf("Describe() = %q, want %q", got, "no faults")
	}
	n.Block("b", "a")
	n.Block("a", "b")
	n.Delay("b", "c", 100*time.Millisecond)
	if got, want := n.Describe(), "blocked: a->b, b->a; delayed: b->c 100ms"; got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
	n.Heal()
	if got := n.Describe(); got != "no faults" {
		t.Errorf("Describe() after Heal = %q, want %q", got, "no faults")
	}
}

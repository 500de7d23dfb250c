// Package faultnet injects network faults between processes that talk over
// loopback TCP.
//
// Each node under test binds its listeners on its own loopback IP and opens
// all of its connections to other nodes from that IP. Instead of its real
// addresses, a node advertises the addresses of proxies created with
// [Network.Proxy], which forward to the real listeners. Because every node
// dials from its own IP, the proxy in front of node B knows which node A
// opened an incoming connection, and the rules set on the [Network] can treat
// every directed link A→B separately: block it, delay it, or leave it alone.
// Connections from an IP that belongs to no registered node pass through
// untouched.
//
// A proxied connection opened by node S into node T's proxy carries S→T bytes
// from the client to the server and T→S bytes back, so a rule for the link
// X→Y applies to the client-to-server direction of connections opened by X
// into Y and to the server-to-client direction of connections opened by Y
// into X. A blocked direction silently discards what it reads, like a real
// partition; the connection stays open. Since a stream that lost bytes can no
// longer be trusted, removing the rule that dropped them closes the
// connection, and the peers reconnect with clean streams.
package faultnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// chunkSize is the largest number of bytes read from a connection at once.
	chunkSize = 32 << 10
	// queueLen is how many chunks a direction may hold before its reader
	// blocks; it bounds the memory a delayed link uses.
	queueLen = 64
	// dialTimeout bounds how long a proxy waits for its target.
	dialTimeout = 5 * time.Second
	// acceptBackoff is how long a proxy waits after a failed Accept.
	acceptBackoff = 10 * time.Millisecond
)

// link is a directed link between two named nodes.
type link struct {
	from, to string
}

func (l link) String() string { return l.from + "->" + l.to }

// Network is a set of named nodes and the proxies in front of them, with the
// fault rules between them. Its methods are safe for concurrent use. The zero
// value is not usable; create one with [New].
type Network struct {
	logf   func(format string, args ...any)
	ctx    context.Context // cancelled by Close; aborts dials in progress
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the Network starts

	mu        sync.RWMutex
	closed    bool
	nodes     map[string]string // node name → source IP
	byIP      map[string]string // source IP → node name
	blocked   map[link]bool
	delays    map[link]time.Duration
	listeners []net.Listener
	conns     map[*proxyConn]struct{}

	accepted     atomic.Int64
	open         atomic.Int64
	dialFailures atomic.Int64
	forwarded    atomic.Int64
	dropped      atomic.Int64
	resets       atomic.Int64
}

// Stats holds counters describing the traffic a [Network] has handled.
type Stats struct {
	// ConnsAccepted is the number of connections the proxies accepted.
	ConnsAccepted int64
	// ConnsOpen is the number of accepted connections not yet fully closed.
	ConnsOpen int64
	// DialFailures is the number of accepted connections closed because the
	// proxy could not reach its target.
	DialFailures int64
	// BytesForwarded is the number of bytes written to the other side.
	BytesForwarded int64
	// BytesDropped is the number of bytes discarded by block rules.
	BytesDropped int64
	// ConnsReset is the number of connections closed because a rule that
	// had dropped some of their bytes was removed.
	ConnsReset int64
}

// New returns an empty Network. Events are logged through logf, which may be
// nil to log nothing.
func New(logf func(format string, args ...any)) *Network {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Network{
		logf:    logf,
		ctx:     ctx,
		cancel:  cancel,
		nodes:   make(map[string]string),
		byIP:    make(map[string]string),
		blocked: make(map[link]bool),
		delays:  make(map[link]time.Duration),
		conns:   make(map[*proxyConn]struct{}),
	}
}

// AddNode registers a node called name whose outgoing connections come from
// sourceIP. Names and source IPs must be unique.
func (n *Network) AddNode(name, sourceIP string) error {
	if name == "" {
		return errors.New("faultnet: empty node name")
	}
	ip := net.ParseIP(sourceIP)
	if ip == nil {
		return fmt.Errorf("faultnet: node %s: %q is not an IP address", name, sourceIP)
	}
	key := ip.String()
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.nodes[name]; ok {
		return fmt.Errorf("faultnet: node %s already registered", name)
	}
	if other, ok := n.byIP[key]; ok {
		return fmt.Errorf("faultnet: node %s: source IP %s already belongs to node %s", name, key, other)
	}
	n.nodes[name] = key
	n.byIP[key] = name
	return nil
}

// Proxy listens on listenAddr (host:port; the port may be 0) in front of
// target, the real address of node, and returns the address it listens on.
// A node may have several proxies. Traffic through the proxy is subject to
// the rules for links into node and, for the replies, out of it.
func (n *Network) Proxy(node, listenAddr, target string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return "", errors.New("faultnet: network closed")
	}
	if _, ok := n.nodes[node]; !ok {
		return "", fmt.Errorf("faultnet: proxy for unknown node %s", node)
	}
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return "", fmt.Errorf("faultnet: proxy for node %s: %w", node, err)
	}
	n.listeners = append(n.listeners, ln)
	n.wg.Go(func() { n.acceptLoop(ln, node, target) })
	n.logf("proxy %s -> %s for node %s", ln.Addr(), target, node)
	return ln.Addr().String(), nil
}

// Block drops every byte sent from node from to node to. The reverse
// direction is unaffected. Connections stay open.
func (n *Network) Block(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.blocked[link{from, to}] = true
	n.logf("block %s->%s", from, to)
}

// Unblock removes the rule that drops bytes sent from node from to node to,
// and closes the connections that lost bytes to it.
func (n *Network) Unblock(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.blocked, link{from, to})
	n.logf("unblock %s->%s", from, to)
	n.resetCorruptLocked()
}

// Partition replaces every block rule with rules that block both directions
// between each pair of nodes in different groups. Nodes named in no group end
// up with no block rules. Delay rules are kept. Connections that lost bytes
// to a rule no longer in force are closed.
func (n *Network) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.blocked)
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					n.blocked[link{a, b}] = true
					n.blocked[link{b, a}] = true
				}
			}
		}
	}
	n.logf("partition %v", groups)
	n.resetCorruptLocked()
}

// Isolate blocks both directions between node and every other node
// registered so far. Existing rules are kept.
func (n *Network) Isolate(node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for other := range n.nodes {
		if other != node {
			n.blocked[link{node, other}] = true
			n.blocked[link{other, node}] = true
		}
	}
	n.logf("isolate %s", node)
}

// Delay holds every byte sent from node from to node to for d before
// forwarding it, keeping the order of the stream. The delay applies to bytes
// read after the call; a d of 0 or less removes the rule.
func (n *Network) Delay(from, to string, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if d <= 0 {
		delete(n.delays, link{from, to})
		n.logf("no delay %s->%s", from, to)
		return
	}
	n.delays[link{from, to}] = d
	n.logf("delay %s->%s by %v", from, to, d)
}

// Heal removes every rule and closes the connections that lost bytes.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.blocked)
	clear(n.delays)
	n.logf("heal")
	n.resetCorruptLocked()
}

// Blocked reports whether bytes sent from node from to node to are dropped.
func (n *Network) Blocked(from, to string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.blocked[link{from, to}]
}

// Close stops every proxy and closes every proxied connection. It returns
// once every goroutine the Network started has finished. Calling Close again
// does nothing.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.cancel()
	var errs []error
	for _, ln := range n.listeners {
		if err := ln.Close(); err != nil {
			errs = append(errs, fmt.Errorf("faultnet: close proxy %s: %w", ln.Addr(), err))
		}
	}
	for pc := range n.conns {
		pc.close()
	}
	n.mu.Unlock()
	n.wg.Wait()
	return errors.Join(errs...)
}

// Stats returns the current traffic counters.
func (n *Network) Stats() Stats {
	return Stats{
		ConnsAccepted:  n.accepted.Load(),
		ConnsOpen:      n.open.Load(),
		DialFailures:   n.dialFailures.Load(),
		BytesForwarded: n.forwarded.Load(),
		BytesDropped:   n.dropped.Load(),
		ConnsReset:     n.resets.Load(),
	}
}

// Describe returns the rules in force, in a form meant for test logs.
func (n *Network) Describe() string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var blocked, delayed []string
	for l := range n.blocked {
		blocked = append(blocked, l.String())
	}
	for l, d := range n.delays {
		delayed = append(delayed, fmt.Sprintf("%s %v", l, d))
	}
	sort.Strings(blocked)
	sort.Strings(delayed)
	var parts []string
	if len(blocked) > 0 {
		parts = append(parts, "blocked: "+strings.Join(blocked, ", "))
	}
	if len(delayed) > 0 {
		parts = append(parts, "delayed: "+strings.Join(delayed, ", "))
	}
	if len(parts) == 0 {
		return "no faults"
	}
	return strings.Join(parts, "; ")
}

// resetCorruptLocked closes every connection that dropped bytes on a link
// that is no longer blocked. n.mu must be held for writing.
func (n *Network) resetCorruptLocked() {
	for pc := range n.conns {
		if !n.staleLocked(pc.up) && !n.staleLocked(pc.down) {
			continue
		}
		if pc.close() {
			n.resets.Add(1)
			n.logf("reset %s -> %s (%s): it lost bytes to a rule now removed", pc.client.RemoteAddr(), pc.server.RemoteAddr(), pc.up.link)
		}
	}
}

// staleLocked reports whether p dropped bytes on a link that is no longer
// blocked. n.mu must be held.
func (n *Network) staleLocked(p *pipe) bool {
	return p.lost.Load() && !n.blocked[p.link]
}

// rule returns what to do with a chunk read from p now. When the link is
// blocked it records that p lost bytes; it does so under the read lock, so a
// later rule change is certain to see it.
func (n *Network) rule(p *pipe) (blocked bool, delay time.Duration) {
	if !p.ruled {
		return false, 0
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.blocked[p.link] {
		p.lost.Store(true)
		return true, 0
	}
	return false, n.delays[p.link]
}

// acceptLoop accepts connections on ln until the Network is closed.
func (n *Network) acceptLoop(ln net.Listener, node, target string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if n.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			n.logf("proxy %s: accept: %v", ln.Addr(), err)
			t := time.NewTimer(acceptBackoff)
			select {
			case <-t.C:
			case <-n.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		n.accepted.Add(1)
		n.open.Add(1)
		n.wg.Go(func() {
			defer n.open.Add(-1)
			n.serve(c, node, target)
		})
	}
}

// serve connects client, accepted by the proxy in front of node, to target
// and forwards bytes both ways until both directions are done.
func (n *Network) serve(client net.Conn, node, target string) {
	d := net.Dialer{Timeout: dialTimeout}
	server, err := d.DialContext(n.ctx, "tcp", target)
	if err != nil {
		n.dialFailures.Add(1)
		n.logf("proxy for node %s: %v", node, err)
		client.Close()
		return
	}
	pc := n.newProxyConn(client, server, node)
	if !n.register(pc) {
		pc.close()
		return
	}
	defer n.deregister(pc)
	var wg sync.WaitGroup
	for _, p := range []*pipe{pc.up, pc.down} {
		wg.Go(func() { n.readLoop(pc, p) })
		wg.Go(func() { n.writeLoop(pc, p) })
	}
	wg.Wait()
	pc.close()
}

// newProxyConn builds the two directions of a connection from client to
// server through the proxy in front of node.
func (n *Network) newProxyConn(client, server net.Conn, node string) *proxyConn {
	n.mu.RLock()
	source, ruled := n.byIP[remoteIP(client)]
	n.mu.RUnlock()
	return &proxyConn{
		client: client,
		server: server,
		done:   make(chan struct{}),
		up:     newPipe(client, server, link{source, node}, ruled),
		down:   newPipe(server, client, link{node, source}, ruled),
	}
}

// register adds pc to the open connections, unless the Network is closed.
func (n *Network) register(pc *proxyConn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.conns[pc] = struct{}{}
	return true
}

func (n *Network) deregister(pc *proxyConn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.conns, pc)
}

// readLoop reads chunks from p.src and applies the rules in force at read
// time: a blocked chunk is dropped, any other one is queued for writeLoop.
// On end of stream it tells writeLoop to propagate the half-close, unless the
// link is blocked at that moment; on any other error it closes pc.
func (n *Network) readLoop(pc *proxyConn, p *pipe) {
	defer close(p.queue)
	buf := make([]byte, chunkSize)
	for {
		k, err := p.src.Read(buf)
		if k > 0 {
			blocked, delay := n.rule(p)
			if blocked {
				n.dropped.Add(int64(k))
			} else {
				c := chunk{data: slices.Clone(buf[:k])}
				if delay > 0 {
					c.due = time.Now().Add(delay)
				}
				select {
				case p.queue <- c:
				case <-pc.done:
					return
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if blocked, _ := n.rule(p); !blocked {
					p.closeWrite = true
				}
			} else {
				pc.close()
			}
			return
		}
	}
}

// writeLoop writes the chunks queued by readLoop to p.dst, each once its due
// time has passed, and then half-closes p.dst if readLoop asked for it.
func (n *Network) writeLoop(pc *proxyConn, p *pipe) {
	for c := range p.queue {
		if wait := time.Until(c.due); !c.due.IsZero() && wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-pc.done:
				t.Stop()
				return
			}
		}
		k, err := p.dst.Write(c.data)
		n.forwarded.Add(int64(k))
		if err != nil {
			pc.close()
			return
		}
	}
	if !p.closeWrite {
		return
	}
	cw, ok := p.dst.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		pc.close()
	}
}

// proxyConn is one connection through a proxy: the accepted client side, the
// dialed server side, and the two directions between them.
type proxyConn struct {
	client, server net.Conn
	up             *pipe // client to server
	down           *pipe // server to client
	done           chan struct{}
	once           sync.Once
}

// close closes both sides of pc and reports whether this call did it.
func (pc *proxyConn) close() bool {
	did := false
	pc.once.Do(func() {
		did = true
		close(pc.done)
		pc.client.Close()
		pc.server.Close()
	})
	return did
}

// pipe is one direction of a proxyConn.
type pipe struct {
	src, dst net.Conn
	link     link // the nodes the bytes travel between
	ruled    bool // whether the connection came from a registered node
	queue    chan chunk
	lost     atomic.Bool // some bytes were dropped
	// closeWrite is set by readLoop before it closes queue, and read by
	// writeLoop after queue is closed.
	closeWrite bool
}

func newPipe(src, dst net.Conn, l link, ruled bool) *pipe {
	return &pipe{src: src, dst: dst, link: l, ruled: ruled, queue: make(chan chunk, queueLen)}
}

// chunk is a piece of a stream waiting to be written.
type chunk struct {
	data []byte
	due  time.Time // zero when the chunk may be written at once
}

// remoteIP returns the IP address c comes from, in canonical form.
func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String()
	}
	return host
}

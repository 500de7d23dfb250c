package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prefsd/prefsd/fsm"
)

// Consistency is how fresh a read must be.
type Consistency int

// The consistency levels, strongest first.
const (
	// Linearizable reads reflect every write acknowledged before the read
	// began. Any node serves them: it asks the leader for a read index,
	// which the leader confirms with a quorum, then waits until it has
	// applied that index.
	Linearizable Consistency = iota + 1
	// Leader reads reflect the leader's state without the quorum round
	// trip; a deposed leader that has not noticed yet may serve them.
	Leader
	// Stale reads are served from this node's state as it is.
	Stale
)

// ErrBadConsistency is returned by ParseConsistency for an unknown level.
var ErrBadConsistency = errors.New("cluster: unknown consistency level")

// ParseConsistency parses a consistency level name; "" means Linearizable.
func ParseConsistency(s string) (Consistency, error) {
	switch s {
	case "", "linearizable":
		return Linearizable, nil
	case "leader":
		return Leader, nil
	case "stale":
		return Stale, nil
	}
	return 0, fmt.Errorf("%w %q: use linearizable, leader or stale", ErrBadConsistency, s)
}

// String returns the level's name.
func (c Consistency) String() string {
	switch c {
	case Linearizable:
		return "linearizable"
	case Leader:
		return "leader"
	case Stale:
		return "stale"
	}
	return "unknown"
}

// Read returns a state that satisfies the consistency level c.
func (n *Node) Read(ctx context.Context, c Consistency) (*fsm.State, error) {
	if c == Stale {
		return n.fsm.State(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	start := time.Now()
	idx, err := n.readIndex(ctx, c == Linearizable)
	if err != nil {
		return nil, err
	}
	s, err := n.fsm.WaitIndex(ctx, idx)
	if err != nil {
		return nil, fmt.Errorf("%w: waiting to apply index %d: %v", ErrTimeout, idx, err)
	}
	n.metrics.observeRead(c, time.Since(start))
	return s, nil
}

// readIndex obtains a read index from the leader, wherever it is.
func (n *Node) readIndex(ctx context.Context, verify bool) (uint64, error) {
	for {
		addr, self, err := n.waitLeader(ctx)
		if err != nil {
			return 0, err
		}
		var idx uint64
		if self {
			idx, err = n.ReadIndex(ctx, verify)
		} else {
			var resp ReadIndexResponse
			path := PathReadIndex
			if !verify {
				path += "?verify=false"
			}
			err = n.call(ctx, http.MethodGet, addr, path, "", nil, &resp)
			n.metrics.observeForward("readindex", err)
			idx = resp.Index
		}
		if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrUnknownOutcome) {
			// A read has no side effects: retry it wherever the leader is.
			if perr := n.pause(ctx, 20*time.Millisecond); perr != nil {
				return 0, fmt.Errorf("%w: %v", ErrNoLeader, err)
			}
			continue
		}
		return idx, err
	}
}

// ReadIndex is the leader's half of a consistent read. It waits until this
// leader has applied every entry of earlier terms, then returns an index at
// or above every write acknowledged so far. With verify it first confirms
// with a quorum that it is still the leader; concurrent callers share one
// confirmation. It returns ErrNotLeader on a follower.
func (n *Node) ReadIndex(ctx context.Context, verify bool) (uint64, error) {
	if err := n.waitReady(ctx); err != nil {
		return 0, err
	}
	if !verify {
		return n.fsm.Index(), nil
	}
	return n.reads.wait(ctx)
}

// waitReady waits until this node is a leader whose barrier has returned in
// its current term.
func (n *Node) waitReady(ctx context.Context) error {
	deadline := time.NewTimer(n.cfg.LeaderWait)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if !n.IsLeader() {
			return ErrNotLeader
		}
		if n.readyTerm.Load() == n.raft.CurrentTerm() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: leader not ready: %v", ErrTimeout, ctx.Err())
		case <-n.stop:
			return ErrShutdown
		case <-deadline.C:
			return fmt.Errorf("%w: leader not ready", ErrTimeout)
		case <-tick.C:
		}
	}
}

// confirm is one round of leadership confirmation: it records the applied
// index, then checks with a quorum that this node is still the leader of
// the same term.
//
// The check commits a barrier entry rather than calling raft.VerifyLeader:
// VerifyLeader counts every follower acknowledgement processed after it
// starts, replies to heartbeats and appends sent before it included, so a
// leader that has just lost its quorum can be "confirmed" by replies that
// predate the read. A quorum can only commit the barrier by accepting an
// append sent after it was created, that is, after the read arrived.
func (n *Node) confirm() (uint64, error) {
	term := n.raft.CurrentTerm()
	if !n.IsLeader() || n.readyTerm.Load() != term {
		return 0, ErrNotLeader
	}
	idx := n.fsm.Index()
	if err := n.raft.Barrier(n.cfg.ApplyTimeout).Error(); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	if n.raft.CurrentTerm() != term {
		return 0, ErrNotLeader
	}
	return idx, nil
}

// readBatcher shares one leadership confirmation among every read that is
// waiting when the confirmation starts, as etcd's linearizable read loop
// does. A read that arrives while a confirmation is under way waits for the
// next one, whose index is taken after the read arrived.
type readBatcher struct {
	n    *Node
	mu   sync.Mutex
	next *readRound
	kick chan struct{}
}

type readRound struct {
	done  chan struct{}
	index uint64
	err   error
}

func newReadBatcher(n *Node) *readBatcher {
	return &readBatcher{n: n, kick: make(chan struct{}, 1)}
}

// wait joins the next confirmation round and returns its index.
func (b *readBatcher) wait(ctx context.Context) (uint64, error) {
	b.mu.Lock()
	if b.next == nil {
		b.next = &readRound{done: make(chan struct{})}
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	r := b.next
	b.mu.Unlock()
	select {
	case <-r.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: %v", ErrTimeout, ctx.Err())
	}
}

// run serves confirmation rounds until stop is closed.
func (b *readBatcher) run(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-stop:
			b.mu.Lock()
			if r := b.next; r != nil {
				b.next = nil
				r.err = ErrShutdown
				close(r.done)
			}
			b.mu.Unlock()
			return
		case <-b.kick:
		}
		b.mu.Lock()
		r := b.next
		b.next = nil
		b.mu.Unlock()
		if r == nil {
			continue
		}
		r.index, r.err = b.n.confirm()
		close(r.done)
	}
}

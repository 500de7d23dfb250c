package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/raft"

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

// readIndex obtains a read index from the leader, wherever it is. On the
// leader it joins the next shared confirmation; on a follower it joins the
// next shared call to the leader for its level.
func (n *Node) readIndex(ctx context.Context, verify bool) (uint64, error) {
	for {
		_, self, err := n.waitLeader(ctx)
		if err != nil {
			return 0, err
		}
		var idx uint64
		if self {
			idx, err = n.ReadIndex(ctx, verify)
		} else {
			idx, err = n.forwardedReads(verify).wait(ctx)
		}
		if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrUnknownOutcome) {
			// A read has no side effects: retry it wherever the leader is.
			if perr := n.pause(ctx, 20*time.Millisecond); perr != nil {
				if errors.Is(perr, ErrShutdown) {
					return 0, ErrShutdown
				}
				return 0, fmt.Errorf("%w: %v", ErrNoLeader, err)
			}
			continue
		}
		return idx, err
	}
}

// forwardedReads returns the batcher that shares this follower's read-index
// calls to the leader at one level: verify for linearizable reads, not
// verify for leader reads. The levels never share a call, since a leader
// read's answer skips the quorum round a linearizable read needs.
func (n *Node) forwardedReads(verify bool) *readBatcher {
	if verify {
		return n.linearizableForwards
	}
	return n.leaderForwards
}

// errLeaderChanged ends a forwarded read-index call whose leader this node
// no longer follows; the reads waiting on it look for the leader again.
var errLeaderChanged = fmt.Errorf("%w: the leader changed during a read-index call", ErrNotLeader)

// forwardReadIndex is one round of a follower's read-index batcher: a single
// call to the leader, whose answer every read waiting when the round started
// shares. The call has its own deadline, the apply timeout, so no reader
// leaving early cancels it for the others. It is abandoned when the node
// stops, and when this node stops following the leader it was sent to, so
// that a call stuck on a deposed or unreachable leader does not hold back
// the reads that could go to the new one.
func (n *Node) forwardReadIndex(verify bool) (uint64, error) {
	if n.IsLeader() {
		return 0, fmt.Errorf("%w: this node leads now", ErrNotLeader)
	}
	id, addr, ok := n.leaderAPI()
	if !ok {
		return 0, fmt.Errorf("%w: leader address unknown", ErrNotLeader)
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancelTimeout()
	ctx, cancel := context.WithCancelCause(ctx)
	var watch sync.WaitGroup
	watch.Go(func() { n.watchForward(ctx, cancel, id) })
	defer watch.Wait()
	defer cancel(nil)

	path := PathReadIndex
	if !verify {
		path += "?verify=false"
	}
	var resp ReadIndexResponse
	err := n.call(ctx, http.MethodGet, addr, path, "", nil, &resp)
	n.metrics.observeForward("readindex", err)
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrShutdown) || errors.Is(cause, errLeaderChanged) {
			return 0, cause
		}
		return 0, err
	}
	return resp.Index, nil
}

// watchForward cancels a forwarded read-index call, with the reason as the
// cause, once the node stops or stops following the leader with id leader.
// It returns when ctx ends.
func (n *Node) watchForward(ctx context.Context, cancel context.CancelCauseFunc, leader string) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.stop:
			cancel(ErrShutdown)
			return
		case <-tick.C:
			if _, id := n.raft.LeaderWithID(); string(id) != leader || n.IsLeader() {
				cancel(errLeaderChanged)
				return
			}
		}
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
// It never relies on raft.VerifyLeader: that counts every follower
// acknowledgement processed after it starts, replies to heartbeats and
// appends sent before it included, so a leader that has just lost its
// quorum can be "confirmed" by replies that predate the read. Both ways
// used here ask the quorum after the read arrived: the term question (see
// confirmTerm) and, when that cannot reach a quorum, a barrier entry, which
// a quorum can only commit by accepting an append sent after it was made.
func (n *Node) confirm() (uint64, error) {
	term := n.raft.CurrentTerm()
	if !n.IsLeader() || n.readyTerm.Load() != term {
		return 0, ErrNotLeader
	}
	idx := n.fsm.Index()
	if err := n.confirmQuorum(term); err != nil {
		return 0, err
	}
	if n.raft.CurrentTerm() != term {
		return 0, ErrNotLeader
	}
	return idx, nil
}

// confirmQuorum checks that a quorum is still in term, asking the voters
// first and committing a barrier if too few of them answer in time.
func (n *Node) confirmQuorum(term uint64) error {
	if cf := n.raft.GetConfiguration(); cf.Error() == nil {
		deadline := time.Now().Add(n.cfg.HeartbeatTimeout)
		ask := func(id raft.ServerID) (uint64, error) {
			ctx, cancel := context.WithDeadline(n.life, deadline)
			defer cancel()
			return n.askTerm(ctx, id)
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := confirmTerm(ctx, &n.wg, cf.Configuration(), raft.ServerID(n.cfg.NodeID), term, ask)
		cancel()
		if err == nil {
			n.metrics.observeConfirm("term")
			return nil
		}
	}
	if err := n.raft.Barrier(n.cfg.ApplyTimeout).Error(); err != nil {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	n.metrics.observeConfirm("barrier")
	return nil
}

// readBatcher shares one read-index round among every read that is waiting
// when the round starts, as etcd's linearizable read loop does. A read that
// arrives while a round is under way waits for the next one, whose index is
// obtained after the read arrived: that keeps the read linearizable. The
// leader runs one whose round is a leadership confirmation; a follower runs
// one per level whose round is a call to the leader. The node owns the
// goroutine that runs the rounds (run) and stops it by closing stop.
type readBatcher struct {
	round func() (uint64, error)
	stop  <-chan struct{}
	mu    sync.Mutex
	next  *readRound
	kick  chan struct{}
}

type readRound struct {
	done  chan struct{}
	index uint64
	err   error
}

// newReadBatcher returns a batcher whose rounds call round; closing stop
// ends run and releases every waiter with ErrShutdown.
func newReadBatcher(stop <-chan struct{}, round func() (uint64, error)) *readBatcher {
	return &readBatcher{round: round, stop: stop, kick: make(chan struct{}, 1)}
}

// wait joins the next round and returns its index. If ctx ends first it
// returns ErrTimeout and leaves the round to the other waiters.
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
	case <-b.stop:
		return 0, ErrShutdown
	}
}

// run serves rounds, one at a time, until stop is closed.
func (b *readBatcher) run(wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-b.stop:
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
		select {
		case <-b.stop:
			r.err = ErrShutdown
		default:
			r.index, r.err = b.round()
		}
		close(r.done)
	}
}

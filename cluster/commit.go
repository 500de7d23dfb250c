package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// committer hands the leader's commands to raft in groups, with one group
// in flight at a time: commands that arrive while a group is being
// committed wait, and go to raft together as soon as it is applied.
//
// raft would batch commands on its own (BatchApplyCh), but only those that
// happen to be queued when its leader loop looks, so under load it commits
// many small groups back to back, each costing every node a log write with
// its fsyncs. Holding new commands for the one round in flight makes groups
// as large as the load allows and the rounds fewer; a lone command still
// goes at once. A command still queued when its caller gives up is
// withdrawn, and nothing of it is written.
type committer struct {
	apply func(data []byte, timeout time.Duration) raft.ApplyFuture
	max   int // largest group, raft's MaxAppendEntries
	queue *callQueue[*commitCall]
}

// commitCall is one command waiting for the committer.
type commitCall struct {
	data     []byte
	deadline time.Time
	done     chan struct{} // closed once the outcome is known
	// f is the command's raft future, nil if it never reached raft; err is
	// f's error once resolved, or why the command never reached raft. The
	// committer alone reads f's error: raft futures are not safe for two
	// waiters.
	f   raft.ApplyFuture
	err error
}

func newCommitter(apply func([]byte, time.Duration) raft.ApplyFuture, max int) *committer {
	return &committer{apply: apply, max: max, queue: newCallQueue[*commitCall](1)}
}

// submit queues data, which must reach raft before deadline.
func (c *committer) submit(data []byte, deadline time.Time) *commitCall {
	call := &commitCall{data: data, deadline: deadline, done: make(chan struct{})}
	c.queue.push(call)
	return call
}

// wait waits for call's outcome. It returns the resolved raft future and
// its error, or a nil future and why the command never reached raft. If
// ctx ends first, a command still queued is withdrawn (ErrNoLeader: nothing
// was written) and one already handed to raft is ErrUnknownOutcome.
func (c *committer) wait(ctx context.Context, call *commitCall) (raft.ApplyFuture, error) {
	select {
	case <-call.done:
		return call.f, call.err
	case <-ctx.Done():
	}
	if c.queue.withdraw(call) {
		return nil, fmt.Errorf("%w: not started: %v", ErrNoLeader, ctx.Err())
	}
	select {
	case <-call.done: // resolved meanwhile: that is the outcome
		return call.f, call.err
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnknownOutcome, ctx.Err())
	}
}

// run hands queued commands to raft, one group at a time, until stop is
// closed; then it fails whatever is still queued with ErrShutdown.
func (c *committer) run(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-stop: // checked first: a pending wake-up does not delay stopping
			c.failQueued()
			return
		default:
		}
		select {
		case <-stop:
			c.failQueued()
			return
		case <-c.queue.kick:
		}
		for c.commitGroup() {
		}
	}
}

// failQueued fails every queued command with ErrShutdown.
func (c *committer) failQueued() {
	for _, call := range c.queue.drain() {
		call.err = ErrShutdown
		close(call.done)
	}
}

// commitGroup hands the queued commands, up to max, to raft and waits until
// raft has resolved them all. It reports whether there was any.
func (c *committer) commitGroup() bool {
	group := c.queue.take(func(taken []*commitCall, _ *commitCall) bool { return len(taken) < c.max })
	if len(group) == 0 {
		return false
	}
	for _, call := range group {
		if timeout := time.Until(call.deadline); timeout > 0 {
			call.f = c.apply(call.data, timeout)
		} else {
			call.err = fmt.Errorf("%w: not started: %v", ErrNoLeader, context.DeadlineExceeded)
		}
	}
	// raft resolves every future, on commit, on losing leadership or on
	// shutdown, in log order: waiting for each in turn costs no more
	// than waiting for the last.
	for _, call := range group {
		if call.f != nil {
			call.err = call.f.Error()
		}
		close(call.done)
	}
	return true
}

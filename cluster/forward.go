package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/prefsd/prefsd/fsm"
)

// forwardWorkers is how many batches of commands a follower may have in
// flight to the leader at once. While they are out, new commands queue and
// go together in the next batch, so a follower sends one call per raft
// commit round, not one per client.
const forwardWorkers = 2

// maxForwardBatch bounds the commands sent in one call; raft appends at
// most MaxAppendEntries at once anyway.
const maxForwardBatch = 256

// MaxBatchBytes bounds the commands' bytes in one forwarded batch; a
// single larger command still goes, alone.
const MaxBatchBytes = 4 << 20

// forwardCall is one command waiting to be forwarded, and its outcome.
type forwardCall struct {
	cmd  fsm.Command
	done chan struct{} // closed once resp and err are set
	resp ApplyResponse
	err  error
}

// applyForwarder batches the commands a follower forwards to the leader.
// Commands that arrive while forwardWorkers calls are in flight wait and
// leave together in one call to PathApplyBatch; every command still gets
// its own result, so a refusal or an error affects only its own caller.
type applyForwarder struct {
	n     *Node
	queue *callQueue[*forwardCall]
	// mu guards unbatched, which is set once a leader answered that it has
	// no batch endpoint (an older version during a rolling upgrade):
	// commands are then forwarded one call each.
	mu        sync.Mutex
	unbatched bool
}

func newApplyForwarder(n *Node) *applyForwarder {
	return &applyForwarder{n: n, queue: newCallQueue[*forwardCall](forwardWorkers)}
}

// forward queues cmd for the leader and waits for its outcome. A command
// still queued when ctx ends is withdrawn and reported as not started
// (ErrNoLeader: nothing was written); one already sent is ErrUnknownOutcome.
func (f *applyForwarder) forward(ctx context.Context, cmd fsm.Command) (ApplyResponse, error) {
	c := &forwardCall{cmd: cmd, done: make(chan struct{})}
	f.queue.push(c)
	select {
	case <-c.done:
		return c.resp, c.err
	case <-ctx.Done():
	}
	if f.queue.withdraw(c) {
		return ApplyResponse{}, fmt.Errorf("%w: %v", ErrNoLeader, ctx.Err())
	}
	select {
	case <-c.done: // answered meanwhile: that answer is the outcome
		return c.resp, c.err
	default:
		return ApplyResponse{}, fmt.Errorf("%w: %v", ErrUnknownOutcome, ctx.Err())
	}
}

// run is one forwarding worker: it sends whatever is queued, one batch at
// a time, until stop is closed, and then fails what is left.
func (f *applyForwarder) run(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		size := 0
		batch := f.queue.take(func(taken []*forwardCall, next *forwardCall) bool {
			if len(taken) == maxForwardBatch || (len(taken) > 0 && size+len(next.cmd) > MaxBatchBytes) {
				return false
			}
			size += len(next.cmd)
			return true
		})
		if len(batch) > 0 {
			f.send(stop, batch)
			continue
		}
		select {
		case <-stop:
			for _, c := range f.queue.drain() {
				c.err = ErrShutdown
				close(c.done)
			}
			return
		case <-f.queue.kick:
		}
	}
}

// send forwards one batch to the leader and hands each caller its outcome.
func (f *applyForwarder) send(stop <-chan struct{}, batch []*forwardCall) {
	ctx, cancel := context.WithTimeout(context.Background(), f.n.cfg.ApplyTimeout)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	finish := func(err error) {
		for _, c := range batch {
			c.err = err
			close(c.done)
		}
	}
	if f.n.IsLeader() {
		finish(fmt.Errorf("%w: this node leads now", ErrNotLeader))
		return
	}
	_, addr, ok := f.n.leaderAPI()
	if !ok {
		finish(fmt.Errorf("%w: leader address unknown", ErrNotLeader))
		return
	}
	f.mu.Lock()
	unbatched := f.unbatched
	f.mu.Unlock()
	if unbatched {
		f.sendEach(ctx, addr, batch)
		return
	}
	var body []byte
	for _, c := range batch {
		body = binary.AppendUvarint(body, uint64(len(c.cmd)))
		body = append(body, c.cmd...)
	}
	var resp ApplyBatchResponse
	err := f.n.call(ctx, http.MethodPost, addr, PathApplyBatch, "application/octet-stream", body, &resp)
	f.n.metrics.observeForward("apply", err)
	if pe := (*peerError)(nil); errors.As(err, &pe) && pe.status == http.StatusNotFound {
		f.mu.Lock()
		f.unbatched = true
		f.mu.Unlock()
		f.n.log.Info("the leader forwards no batches; forwarding commands one by one", "leader", addr)
		f.sendEach(ctx, addr, batch)
		return
	}
	if err == nil && len(resp.Results) != len(batch) {
		err = fmt.Errorf("%w: %d results for %d commands", ErrUnknownOutcome, len(resp.Results), len(batch))
	}
	if err != nil {
		finish(err)
		return
	}
	for i, c := range batch {
		r := resp.Results[i]
		if r.Error != nil {
			c.err = decodeError(r.Error.status(), *r.Error)
		} else {
			c.resp = ApplyResponse{Index: r.Index, Result: r.Result}
		}
		close(c.done)
	}
}

// sendEach forwards a batch one command per call, concurrently.
func (f *applyForwarder) sendEach(ctx context.Context, addr string, batch []*forwardCall) {
	var wg sync.WaitGroup
	for _, c := range batch {
		wg.Go(func() {
			c.resp, c.err = f.n.forwardApply(ctx, addr, c.cmd)
			close(c.done)
		})
	}
	wg.Wait()
}

// ApplyBatchResponse is the leader's answer to a forwarded batch: one
// result per command, in order.
type ApplyBatchResponse struct {
	Results []BatchResult `json:"results"`
}

// BatchResult is the outcome of one command of a forwarded batch: its
// index and state machine result, or the error that stopped it.
type BatchResult struct {
	Index  uint64     `json:"index,omitempty"`
	Result fsm.Result `json:"result"`
	Error  *ErrorBody `json:"error,omitempty"`
}

// status returns the HTTP status an error body's code stands for.
func (b ErrorBody) status() int {
	for _, e := range errorCodes {
		if e.code == b.Code {
			return e.status
		}
	}
	return http.StatusInternalServerError
}

// DecodeBatch splits the body of a forwarded batch into its commands.
func DecodeBatch(body []byte) ([]fsm.Command, error) {
	var cmds []fsm.Command
	for len(body) > 0 {
		size, n := binary.Uvarint(body)
		if n <= 0 || size == 0 || size > uint64(len(body)-n) {
			return nil, fmt.Errorf("%w: malformed command batch", ErrBadRequest)
		}
		cmds = append(cmds, fsm.Command(body[n:n+int(size)]))
		body = body[n+int(size):]
	}
	if len(cmds) == 0 || len(cmds) > maxForwardBatch {
		return nil, fmt.Errorf("%w: a batch holds 1 to %d commands, not %d", ErrBadRequest, maxForwardBatch, len(cmds))
	}
	return cmds, nil
}

// ApplyBatchLocal applies a forwarded batch on this node, which must be
// the leader. Every command is handed to raft before any is waited for,
// so that they commit together.
func (n *Node) ApplyBatchLocal(ctx context.Context, cmds []fsm.Command) ApplyBatchResponse {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	pending := make([]applyPending, len(cmds))
	for i, cmd := range cmds {
		pending[i] = n.startApply(ctx, cmd)
	}
	out := ApplyBatchResponse{Results: make([]BatchResult, len(cmds))}
	for i, p := range pending {
		resp, err := n.finishApply(ctx, p)
		if err != nil {
			_, eb := EncodeError(err)
			out.Results[i] = BatchResult{Error: &eb}
			continue
		}
		out.Results[i] = BatchResult{Index: resp.Index, Result: resp.Result}
	}
	return out
}

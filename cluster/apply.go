package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/raft"

	"github.com/prefsd/prefsd/fsm"
)

// Apply commits cmd through raft and returns the state machine's result and
// the entry's index. On a follower it forwards the command to the leader and
// relays the answer. It returns only once the command is committed and
// applied (on the leader, and so on a quorum's disks), or with an error:
//
//   - ErrNoLeader: no leader within the leader wait; nothing was written.
//   - ErrUnknownOutcome: the command reached raft but its fate is unknown.
//   - ErrShutdown: the node is stopping.
//
// A refused command (a quota, a uniqueness rule) is not an error here: it
// comes back as Result.Err.
func (n *Node) Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	start := time.Now()
	for {
		_, self, err := n.waitLeader(ctx)
		if err != nil {
			return fsm.Result{}, 0, err
		}
		var resp ApplyResponse
		if self {
			resp, err = n.applyLocal(ctx, cmd)
		} else {
			resp, err = n.forwarder.forward(ctx, cmd)
		}
		if errors.Is(err, ErrNotLeader) {
			// The command was not started: leadership moved before it was
			// enqueued, or the leader could not be dialled. Find the
			// leader again after a short pause.
			if perr := n.pause(ctx, 50*time.Millisecond); perr != nil {
				return fsm.Result{}, 0, fmt.Errorf("%w: %v", ErrNoLeader, err)
			}
			continue
		}
		if err == nil {
			n.metrics.observeApply(cmd.Type(), time.Since(start))
		}
		return resp.Result, resp.Index, err
	}
}

// ApplyLocal applies cmd on this node, which must be the leader. It serves
// commands forwarded by followers and never forwards further.
func (n *Node) ApplyLocal(ctx context.Context, cmd fsm.Command) (ApplyResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	return n.applyLocal(ctx, cmd)
}

func (n *Node) applyLocal(ctx context.Context, cmd fsm.Command) (ApplyResponse, error) {
	return n.finishApply(ctx, n.startApply(ctx, cmd))
}

// applyPending is a command queued for raft, or the reason it was not.
type applyPending struct {
	call *commitCall
	err  error
}

// startApply stamps cmd with this leader's clock and queues it for raft
// without waiting for it.
func (n *Node) startApply(ctx context.Context, cmd fsm.Command) applyPending {
	if len(cmd) == 0 {
		return applyPending{err: fmt.Errorf("%w: empty command", ErrBadRequest)}
	}
	if err := ctx.Err(); err != nil {
		return applyPending{err: fmt.Errorf("%w: %v", ErrNoLeader, err)}
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(n.cfg.ApplyTimeout)
	}
	return applyPending{call: n.committer.submit(fsm.Stamp(cmd, n.clock().UnixNano()), deadline)}
}

// finishApply waits for a command started by startApply and returns its
// outcome.
func (n *Node) finishApply(ctx context.Context, p applyPending) (ApplyResponse, error) {
	if p.err != nil {
		return ApplyResponse{}, p.err
	}
	f, err := n.committer.wait(ctx, p.call)
	if f == nil {
		return ApplyResponse{}, err
	}
	switch {
	case err == nil:
	case errors.Is(err, raft.ErrNotLeader):
		return ApplyResponse{}, ErrNotLeader
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ApplyResponse{}, fmt.Errorf("%w: %v", ErrNoLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ApplyResponse{}, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	default:
		// ErrLeadershipLost and anything else after enqueue: the entry may
		// yet be committed by the next leader.
		return ApplyResponse{}, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	}
	res, ok := f.Response().(fsm.Result)
	if !ok {
		return ApplyResponse{}, fmt.Errorf("cluster: unexpected apply response %T", f.Response())
	}
	return ApplyResponse{Index: f.Index(), Result: res}, nil
}

// forwardApply sends cmd to the leader at addr.
func (n *Node) forwardApply(ctx context.Context, addr string, cmd fsm.Command) (ApplyResponse, error) {
	var resp ApplyResponse
	err := n.call(ctx, http.MethodPost, addr, PathApply, "application/octet-stream", cmd, &resp)
	n.metrics.observeForward("apply", err)
	return resp, err
}

// call makes a node-to-node request and decodes a JSON answer into out.
//
// A request that never left this node (the dial failed) is reported as
// ErrNotLeader, so that the caller looks for the leader again; one that
// failed after it was sent is ErrUnknownOutcome, because the peer may have
// acted on it.
func (n *Node) call(ctx context.Context, method, addr, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, n.tls.apiScheme()+addr+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	req.Header.Set(KeyHeader, n.cfg.ClusterKey)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := n.client.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("%w: leader %s unreachable: %v", ErrNotLeader, addr, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %v", ErrUnknownOutcome, ctx.Err())
		}
		return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%w: read answer: %v", ErrUnknownOutcome, err)
	}
	if res.StatusCode/100 != 2 {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Code == "" {
			return &peerError{status: res.StatusCode, body: ErrorBody{Message: string(data)}}
		}
		return decodeError(res.StatusCode, eb)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: decode answer: %v", ErrUnknownOutcome, err)
	}
	return nil
}

// pause waits for d, or returns an error if ctx ends or the node stops first.
func (n *Node) pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stop:
		return ErrShutdown
	}
}

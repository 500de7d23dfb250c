package lincheck

import (
	"math"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// History records operations from concurrent clients. It is safe for
// concurrent use; each Client is used by one goroutine at a time.
type History struct {
	mu      sync.Mutex
	start   time.Time
	ops     []porcupine.Operation
	clients int
	unknown int
	dropped int
}

// NewHistory starts a history; timestamps are monotonic nanoseconds since
// this call.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the history's clock: monotonic nanoseconds since NewHistory, for
// annotations.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

func (h *History) newClientID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.clients
	h.clients++
	return id
}

// NewClient returns a client: a sequence of operations that never overlap.
func (h *History) NewClient() *Client { return &Client{h: h, id: h.newClientID()} }

// Operations returns a copy of the operations recorded so far.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

// Stats counts what was recorded: completed operations (including unknown
// writes), unknown writes, and dropped reads.
func (h *History) Stats() (ops, unknown, dropped int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops), h.unknown, h.dropped
}

// Client is one sequential client of a History. Its calls must not overlap.
// After a write with an unknown outcome it takes a fresh id, because that
// write's interval never closes.
type Client struct {
	h    *History
	id   int
	busy bool
}

// ID is the client's current porcupine client id.
func (c *Client) ID() int { return c.id }

// Call is one invoked operation awaiting its outcome.
type Call struct {
	c    *Client
	in   Input
	call int64
	done bool
}

// Invoke records the call of in, just before the request is sent. It
// panics if the client already has a call outstanding.
func (c *Client) Invoke(in Input) *Call {
	if c.busy {
		panic("lincheck: overlapping calls on one client")
	}
	c.busy = true
	return &Call{c: c, in: in, call: c.h.Now()}
}

func (x *Call) finish() {
	if x.done {
		panic("lincheck: call finished twice")
	}
	x.done = true
	x.c.busy = false
}

// Return records a definite outcome, just after the answer arrived.
func (x *Call) Return(out Output) {
	ret := x.c.h.Now()
	x.finish()
	out.Unknown = false
	h := x.c.h
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: x.c.id, Input: x.in, Call: x.call, Output: out, Return: ret})
}

// Unknown records that the outcome is not known (a transport error, 503,
// 504). A write is kept with Return = math.MaxInt64, since it may take
// effect at any later time, and the client takes a fresh id; a read is
// dropped, having observed nothing.
func (x *Call) Unknown() {
	x.finish()
	h := x.c.h
	if !x.in.IsWrite() {
		h.mu.Lock()
		h.dropped++
		h.mu.Unlock()
		return
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: x.c.id, Input: x.in, Call: x.call, Output: Output{Unknown: true}, Return: math.MaxInt64})
	h.unknown++
	h.mu.Unlock()
	x.c.id = h.newClientID()
}

// NotSent records that the operation never reached a server (the
// connection was refused) or was refused before it could reach the log (a
// 401 or 429): it had no effect and observed nothing, so it is dropped, and
// the client keeps its id.
func (x *Call) NotSent() {
	x.finish()
	h := x.c.h
	h.mu.Lock()
	h.dropped++
	h.mu.Unlock()
}

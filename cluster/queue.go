package cluster

import "sync"

// callQueue holds calls waiting for a worker, which takes them in batches;
// a caller that gives up can withdraw its call while it is still queued.
// Each push leaves a wake-up on kick, up to the channel's capacity.
type callQueue[T comparable] struct {
	mu    sync.Mutex
	calls []T
	kick  chan struct{}
}

// newCallQueue returns a queue that keeps up to wakeups pending wake-ups,
// one per worker.
func newCallQueue[T comparable](wakeups int) *callQueue[T] {
	return &callQueue[T]{kick: make(chan struct{}, wakeups)}
}

// push queues call and wakes a worker.
func (q *callQueue[T]) push(call T) {
	q.mu.Lock()
	q.calls = append(q.calls, call)
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default: // every worker has a wake-up pending already
	}
}

// withdraw removes call if it is still queued, and reports whether it was.
func (q *callQueue[T]) withdraw(call T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, c := range q.calls {
		if c == call {
			q.calls = append(q.calls[:i], q.calls[i+1:]...)
			return true
		}
	}
	return false
}

// take removes and returns the calls at the front that fit in one batch:
// fits is asked about each next call, given those taken before it.
func (q *callQueue[T]) take(fits func(taken []T, next T) bool) []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for n < len(q.calls) && fits(q.calls[:n], q.calls[n]) {
		n++
	}
	if n == 0 {
		return nil
	}
	batch := append([]T(nil), q.calls[:n]...)
	clear(q.calls[:n]) // the backing array keeps no taken call alive
	q.calls = q.calls[n:]
	return batch
}

// drain removes and returns every queued call.
func (q *callQueue[T]) drain() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	left := q.calls
	q.calls = nil
	return left
}

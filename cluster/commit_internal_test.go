package cluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// fakeFuture is an ApplyFuture resolved by closing done.
type fakeFuture struct {
	index uint64
	done  chan struct{}
}

func (f *fakeFuture) Error() error          { <-f.done; return nil }
func (f *fakeFuture) Index() uint64         { return f.index }
func (f *fakeFuture) Response() interface{} { return nil }

// fakeRaft records what the committer hands it; every future stays
// unresolved until release.
type fakeRaft struct {
	mu      sync.Mutex
	applied []string
	futures []*fakeFuture
	calls   chan string
}

func newFakeRaft() *fakeRaft { return &fakeRaft{calls: make(chan string, 100)} }

func (r *fakeRaft) apply(data []byte, _ time.Duration) raft.ApplyFuture {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = append(r.applied, string(data))
	f := &fakeFuture{index: uint64(len(r.applied)), done: make(chan struct{})}
	r.futures = append(r.futures, f)
	r.calls <- string(data)
	return f
}

// release resolves every future handed out so far.
func (r *fakeRaft) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.futures {
		select {
		case <-f.done:
		default:
			close(f.done)
		}
	}
}

func startCommitter(t *testing.T, r *fakeRaft, max int) *committer {
	t.Helper()
	c := newCommitter(r.apply, max)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go c.run(stop, &wg)
	t.Cleanup(func() {
		r.release()
		close(stop)
		wg.Wait()
	})
	return c
}

func expectCalls(t *testing.T, r *fakeRaft, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-r.calls:
			if got != w {
				t.Fatalf("raft got %q, want %q", got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("raft never got %q", w)
		}
	}
	select {
	case got := <-r.calls:
		t.Fatalf("raft got %q early: the group in flight was not done", got)
	default:
	}
}

// Commands that arrive while a group is in flight wait for it, then go to
// raft together, at most max at a time, in arrival order.
func TestCommitterGroupsWhileARoundIsInFlight(t *testing.T) {
	r := newFakeRaft()
	c := startCommitter(t, r, 3)
	deadline := time.Now().Add(time.Minute)
	first := c.submit([]byte("a"), deadline)
	expectCalls(t, r, "a")
	var calls []*commitCall
	for _, d := range []string{"b", "c", "d", "e"} {
		calls = append(calls, c.submit([]byte(d), deadline))
	}
	expectCalls(t, r) // nothing while "a" is in flight
	r.release()
	expectCalls(t, r, "b", "c", "d")
	r.release()
	expectCalls(t, r, "e")
	r.release()
	for i, call := range append([]*commitCall{first}, calls...) {
		f, err := c.wait(context.Background(), call)
		if err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
		if f.Index() != uint64(i+1) {
			t.Errorf("command %d at index %d, want %d", i, f.Index(), i+1)
		}
	}
}

// A queued command whose caller gives up is withdrawn and never written; a
// command whose deadline passed in the queue is not started either.
func TestCommitterWithdrawsAbandonedCommands(t *testing.T) {
	r := newFakeRaft()
	c := startCommitter(t, r, 10)
	c.submit([]byte("a"), time.Now().Add(time.Minute))
	expectCalls(t, r, "a")

	gone := c.submit([]byte("gone"), time.Now().Add(time.Minute))
	late := c.submit([]byte("late"), time.Now().Add(20*time.Millisecond))
	kept := c.submit([]byte("kept"), time.Now().Add(time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if f, err := c.wait(ctx, gone); f != nil || !errors.Is(err, ErrNoLeader) {
		t.Fatalf("abandoned command: %v, want ErrNoLeader", err)
	}
	time.Sleep(30 * time.Millisecond) // let late's deadline pass while "a" is in flight
	r.release()
	expectCalls(t, r, "kept")
	r.release()
	if f, err := c.wait(context.Background(), late); f != nil || !errors.Is(err, ErrNoLeader) {
		t.Errorf("command past its deadline: %v, want ErrNoLeader", err)
	}
	if _, err := c.wait(context.Background(), kept); err != nil {
		t.Errorf("kept command: %v", err)
	}
}

// Stopping fails what is still queued.
func TestCommitterStopFailsQueued(t *testing.T) {
	r := newFakeRaft()
	c := newCommitter(r.apply, 10)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	close(stop)
	c.run(stop, &wg) // returns at once: stopped before any kick
	call := c.submit([]byte("x"), time.Now().Add(time.Minute))
	wg.Add(1)
	c.run(stop, &wg)
	if f, err := c.wait(context.Background(), call); f != nil || !errors.Is(err, ErrShutdown) {
		t.Fatalf("queued command after stop: %v, want ErrShutdown", err)
	}
	if len(r.applied) != 0 {
		t.Errorf("raft got %q after stop", r.applied)
	}
}

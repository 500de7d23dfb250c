package fsm

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

type waitResult struct {
	s   *State
	err error
}

// waitAsync starts WaitIndex in a goroutine and returns its result channel.
func waitAsync(ctx context.Context, f *FSM, idx uint64) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		s, err := f.WaitIndex(ctx, idx)
		ch <- waitResult{s, err}
	}()
	return ch
}

// receive waits for a WaitIndex result, failing the test after a generous
// deadline rather than hanging.
func receive(t *testing.T, ch <-chan waitResult) waitResult {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r
	case <-timer.C:
		t.Fatal("WaitIndex did not return")
		return waitResult{}
	}
}

// awaitBlocked waits until n goroutines are parked in WaitIndex's select, so
// that what follows tests a wake-up rather than the first check. It polls
// goroutine stacks, yielding between polls, instead of sleeping.
func awaitBlocked(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		blocked := 0
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "[select") && strings.Contains(g, ").WaitIndex(") {
				blocked++
			}
		}
		if blocked >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines blocked in WaitIndex, want %d", blocked, n)
		}
		runtime.Gosched()
	}
}

// notYet reports whether ch has no result yet.
func notYet(ch <-chan waitResult) bool {
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

func TestWaitIndexAlreadyApplied(t *testing.T) {
	tests := []struct {
		name string
		give uint64
	}{
		{name: "index zero", give: 0},
		{name: "older index", give: 2},
		{name: "current index", give: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.user("a")
			h.user("b")
			h.user("c")
			// A context that is already cancelled proves WaitIndex does not
			// block when the index is applied.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			s, err := h.f.WaitIndex(ctx, tt.give)
			if err != nil {
				t.Fatalf("WaitIndex(%d) error = %v, want nil", tt.give, err)
			}
			if s != h.state() || s.Index() != 3 {
				t.Errorf("WaitIndex returned state at %d, want the current state at 3", s.Index())
			}
		})
	}
}

func TestWaitIndexUnblocks(t *testing.T) {
	tests := []struct {
		name     string
		advance  func(t *testing.T, f *FSM) // brings the FSM to index 5
		wantFive bool                       // user "five" exists afterwards
	}{
		{
			name:     "Apply",
			wantFive: true,
			advance: func(t *testing.T, f *FSM) {
				applyCmd(t, f, 5, CmdCreateUser, CreateUser{Username: "five"})
			},
		},
		{
			name:     "ApplyBatch past the index",
			wantFive: true,
			advance: func(t *testing.T, f *FSM) {
				f.ApplyBatch([]*raft.Log{
					{Index: 5, Type: raft.LogCommand, Data: mustEntry(t, testNow, CmdCreateUser, CreateUser{Username: "five"})},
					{Index: 6, Type: raft.LogCommand, Data: mustEntry(t, testNow, CmdCreateUser, CreateUser{Username: "six"})},
				})
			},
		},
		{
			name: "configuration entry",
			advance: func(t *testing.T, f *FSM) {
				f.Apply(&raft.Log{Index: 5, Type: raft.LogConfiguration})
			},
		},
		{
			name: "StoreConfiguration",
			advance: func(t *testing.T, f *FSM) {
				f.StoreConfiguration(5, raft.Configuration{})
			},
		},
		{
			name:     "Restore",
			wantFive: true,
			advance: func(t *testing.T, f *FSM) {
				src := newHarness(t)
				for _, n := range []string{"a", "b", "c", "d", "five"} {
					src.user(n)
				}
				if err := f.Restore(&trackReader{Reader: bytes.NewReader(encodeState(t, src.state()))}); err != nil {
					t.Fatalf("Restore: %v", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.user("a")
			h.user("b")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			ch := waitAsync(ctx, h.f, 5)
			chLater := waitAsync(ctx, h.f, 1000)
			// Indexes below the target do not release the waiter.
			h.user("c")
			h.user("d")
			awaitBlocked(t, 2)
			if !notYet(ch) {
				t.Fatal("WaitIndex(5) returned at index 4")
			}
			tt.advance(t, h.f)
			r := receive(t, ch)
			if r.err != nil {
				t.Fatalf("WaitIndex error = %v, want nil", r.err)
			}
			if r.s.Index() < 5 {
				t.Errorf("WaitIndex returned a state at index %d, want >= 5", r.s.Index())
			}
			if _, ok := r.s.UserByName("five"); ok != tt.wantFive {
				t.Errorf("state from WaitIndex: user five exists = %v, want %v", ok, tt.wantFive)
			}
			if !notYet(chLater) {
				t.Error("WaitIndex(1000) returned at index 5")
			}
			cancel()
			if r := receive(t, chLater); !errors.Is(r.err, context.Canceled) || r.s != nil {
				t.Errorf("WaitIndex(1000) after cancel = %v, %v; want nil, context.Canceled", r.s, r.err)
			}
		})
	}
}

func TestWaitIndexManyWaiters(t *testing.T) {
	f := New(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	chans := make([]<-chan waitResult, 20)
	for i := range chans {
		chans[i] = waitAsync(ctx, f, uint64(i+1))
	}
	awaitBlocked(t, len(chans))
	for i := range chans {
		applyCmd(t, f, uint64(i+1), CmdSetMember, SetMember{NodeID: "n", APIAddr: string(rune('a' + i))})
		r := receive(t, chans[i])
		if r.err != nil || r.s.Index() < uint64(i+1) {
			t.Fatalf("waiter %d: state at %v, error %v", i+1, r.s.Index(), r.err)
		}
		for j := i + 1; j < len(chans); j++ {
			if !notYet(chans[j]) {
				t.Fatalf("waiter for %d returned at index %d", j+1, i+1)
			}
		}
	}
}

func TestWaitIndexContextEnds(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		cancel  bool // cancel once the waiter is blocked
		wantErr error
	}{
		{
			name:    "cancelled",
			ctx:     func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			cancel:  true,
			wantErr: context.Canceled,
		},
		{
			name: "deadline",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 20*time.Millisecond)
			},
			wantErr: context.DeadlineExceeded,
		},
		{
			name: "already cancelled",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.user("a")
			ctx, cancel := tt.ctx()
			defer cancel()
			ch := waitAsync(ctx, h.f, 10)
			// Applies below the target do not end the wait.
			h.user("b")
			if tt.cancel {
				awaitBlocked(t, 1)
				cancel()
			}
			r := receive(t, ch)
			if !errors.Is(r.err, tt.wantErr) {
				t.Errorf("WaitIndex error = %v, want %v", r.err, tt.wantErr)
			}
			if r.s != nil {
				t.Errorf("WaitIndex returned state at %d with an error", r.s.Index())
			}
		})
	}
}

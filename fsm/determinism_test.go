package fsm

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestDeterminism applies the same pseudo-random entries to fresh FSMs one
// by one with Apply and in batches of varying size with ApplyBatch: results
// and states must be identical, at every batch boundary and at the end. A
// third replica restored from a mid-way snapshot must end identical too.
func TestDeterminism(t *testing.T) {
	tests := []struct {
		name     string
		seed     uint64
		n        int
		maxBatch int
	}{
		{name: "seed 1, batches up to 64", seed: 1, n: 3000, maxBatch: 64},
		{name: "seed 2, batches up to 8", seed: 2, n: 2000, maxBatch: 8},
		{name: "seed 3, batches up to 512", seed: 3, n: 4000, maxBatch: 512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := genLogs(tt.seed, tt.n)

			single := New(nil)
			results := make([]any, len(logs))
			states := make([]*State, len(logs)+1) // states[i]: after index i
			states[0] = single.State()
			for i, l := range logs {
				results[i] = single.Apply(l)
				states[i+1] = single.State()
			}

			// The workload must exercise both outcomes, or the test proves
			// little.
			codes := map[string]int{}
			ok := 0
			for _, r := range results {
				if res, isRes := r.(Result); isRes {
					if res.Err == nil {
						ok++
					} else {
						codes[res.Err.Code]++
					}
				}
			}
			if ok < len(logs)/5 {
				t.Errorf("only %d of %d entries succeeded", ok, len(logs))
			}
			for _, want := range []*Error{ErrInvalidCommand, ErrInvalidArgument, ErrUserExists, ErrUserNotFound, ErrTokenExists, ErrTokenNotFound, ErrTooManyPreferences, ErrTooManyBytes, ErrValueTooLong, ErrKeyTooLong} {
				if codes[want.Code] == 0 {
					t.Errorf("workload never produced %s (codes: %v)", want.Code, codes)
				}
			}
			final := single.State()
			prefs := 0
			for _, u := range final.Users() {
				prefs += len(final.Prefs(u.ID))
			}
			if len(final.Users()) < 10 || prefs < 10 || final.tokens.Len() < 5 {
				t.Errorf("final state too thin: %d users, %d prefs, %d tokens", len(final.Users()), prefs, final.tokens.Len())
			}
			checkInvariants(t, final)

			batch := New(nil)
			rng := rand.New(rand.NewPCG(tt.seed, 99))
			var restoredFSM *FSM
			for start := 0; start < len(logs); {
				end := min(start+1+rng.IntN(tt.maxBatch), len(logs))
				got := batch.ApplyBatch(logs[start:end])
				if len(got) != end-start {
					t.Fatalf("ApplyBatch returned %d results for %d entries", len(got), end-start)
				}
				for i := range got {
					if !resultEqual(got[i], results[start+i]) {
						t.Fatalf("entry %d: batch result %#v, single result %#v", start+i+1, got[i], results[start+i])
					}
				}
				if batch.Index() != uint64(end) {
					t.Fatalf("Index() after batch = %d, want %d", batch.Index(), end)
				}
				if a, b := encodeState(t, batch.State()), encodeState(t, states[end]); !bytes.Equal(a, b) {
					t.Fatalf("states differ after index %d:\n batch: %s\nsingle: %s", end, a, b)
				}
				if restoredFSM == nil && end >= len(logs)/2 {
					snap, _ := batch.Snapshot()
					restoredFSM = restored(t, persist(t, snap))
				} else if restoredFSM != nil {
					restoredFSM.ApplyBatch(logs[start:end])
				}
				start = end
			}
			want := encodeState(t, final)
			if got := encodeState(t, batch.State()); !bytes.Equal(got, want) {
				t.Errorf("final states differ")
			}
			if got := encodeState(t, restoredFSM.State()); !bytes.Equal(got, want) {
				t.Errorf("replica restored mid-way ended in another state")
			}
			checkInvariants(t, batch.State())
		})
	}
}

// TestDeterminismAcrossRuns checks that the generator and the FSM together
// are reproducible: two runs from the same seed give the same bytes.
func TestDeterminismAcrossRuns(t *testing.T) {
	run := func() []byte {
		f := New(nil)
		f.ApplyBatch(genLogs(77, 1500))
		return encodeState(t, f.State())
	}
	if a, b := run(), run(); !bytes.Equal(a, b) {
		t.Error("two runs from the same seed gave different states")
	}
}

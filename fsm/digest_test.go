package fsm

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
)

// TestStateDigest checks that Digest is the SHA-256 of the snapshot
// encoding, the same for replicas of the same log and for concurrent
// callers, and remembered by the state after the first call.
func TestStateDigest(t *testing.T) {
	h := richFixture(t)
	s := h.state()
	sum := sha256.Sum256(encodeState(t, s))
	want := hex.EncodeToString(sum[:])

	const callers = 8
	got := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = s.Digest()
		}()
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || got[i] != want {
			t.Errorf("Digest() call %d = %q, %v, want %q", i, got[i], errs[i], want)
		}
	}
	if s.digest != want {
		t.Errorf("state remembers digest %q, want %q", s.digest, want)
	}

	replica := richFixture(t).state()
	if d, err := replica.Digest(); err != nil || d != want {
		t.Errorf("replica Digest() = %q, %v, want %q", d, err, want)
	}
	h.set(1, KV{"theme", "light"})
	if d, err := h.state().Digest(); err != nil || d == want {
		t.Errorf("Digest() after a change = %q, %v, want something else than %q", d, err, want)
	}
	if d, err := s.Digest(); err != nil || d != want {
		t.Errorf("Digest() of the earlier state = %q, %v, want %q", d, err, want)
	}
}

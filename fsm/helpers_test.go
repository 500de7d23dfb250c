package fsm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"
)

// testNow is the fixed leader time stamped into every entry by applyCmd.
const testNow int64 = 1_700_000_000_123_456_789

// applyCmd encodes body as a command of type typ, stamps it with testNow and
// applies it as the log entry at index.
func applyCmd(t testing.TB, f *FSM, index uint64, typ CmdType, body any) Result {
	t.Helper()
	return applyCmdAt(t, f, index, testNow, typ, body)
}

// applyCmdAt is applyCmd with an explicit leader time.
func applyCmdAt(t testing.TB, f *FSM, index uint64, now int64, typ CmdType, body any) Result {
	t.Helper()
	got := f.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: mustEntry(t, now, typ, body)})
	res, ok := got.(Result)
	if !ok {
		t.Fatalf("Apply(%s) returned %T (%v), want fsm.Result", typ, got, got)
	}
	return res
}

// mustEntry encodes and stamps a command.
func mustEntry(t testing.TB, now int64, typ CmdType, body any) []byte {
	t.Helper()
	cmd, err := Encode(typ, body)
	if err != nil {
		t.Fatalf("Encode(%s): %v", typ, err)
	}
	return Stamp(cmd, now)
}

// harness applies commands at consecutive indexes.
type harness struct {
	t   testing.TB
	f   *FSM
	idx uint64
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, f: New(nil)}
}

// do applies one command at the next index.
func (h *harness) do(typ CmdType, body any) Result {
	h.t.Helper()
	h.idx++
	return applyCmd(h.t, h.f, h.idx, typ, body)
}

// ok applies one command at the next index and fails the test if it is
// refused.
func (h *harness) ok(typ CmdType, body any) Result {
	h.t.Helper()
	res := h.do(typ, body)
	if res.Err != nil {
		h.t.Fatalf("%s %+v: unexpected error %v", typ, body, res.Err)
	}
	return res
}

// user creates a user and returns its id.
func (h *harness) user(name string) uint64 {
	h.t.Helper()
	return h.ok(CmdCreateUser, CreateUser{Username: name}).ID
}

// token creates a token and returns its id.
func (h *harness) token(userID uint64, name, secret string) uint64 {
	h.t.Helper()
	return h.ok(CmdCreateToken, CreateToken{UserID: userID, Name: name, Digest: digest(secret)}).ID
}

// set stores preferences for a user.
func (h *harness) set(userID uint64, kvs ...KV) {
	h.t.Helper()
	h.ok(CmdPatchPrefs, PatchPrefs{UserID: userID, Set: kvs})
}

func (h *harness) state() *State { return h.f.State() }

func ptr[T any](v T) *T { return &v }

// digest returns the SHA-256 digest of a token secret.
func digest(secret string) []byte {
	d := sha256.Sum256([]byte(secret))
	return d[:]
}

// checkErr fails the test unless got matches want: both nil, or got matching
// want's code through errors.Is.
func checkErr(t testing.TB, got, want *Error) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("error = %v, want nil", got)
	case want != nil && got == nil:
		t.Errorf("error = nil, want %v", want)
	case want != nil && !errors.Is(got, want):
		t.Errorf("error = %v, want %v", got, want)
	}
}

// checkErrExact is checkErr that also compares Key and Limit.
func checkErrExact(t testing.TB, got, want *Error) {
	t.Helper()
	checkErr(t, got, want)
	if got != nil && want != nil && *got != *want {
		t.Errorf("error = %+v, want exactly %+v", *got, *want)
	}
}

// encodeState returns the snapshot bytes of s.
func encodeState(t testing.TB, s *State) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Encode(&buf); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

// withIndex returns s as it would be had only a no-op entry at idx been
// applied to it: the same state with the index moved on.
func withIndex(t testing.TB, s *State, idx uint64) *State {
	t.Helper()
	ref := New(nil)
	if err := ref.Restore(io.NopCloser(bytes.NewReader(encodeState(t, s)))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := ref.Apply(&raft.Log{Index: idx, Term: 1, Type: raft.LogNoop}); got != nil {
		t.Fatalf("Apply(LogNoop) = %v, want nil", got)
	}
	return ref.State()
}

// checkUnchanged fails the test unless after is before with at most its
// index moved on.
func checkUnchanged(t testing.TB, before, after *State) {
	t.Helper()
	if after.Index() < before.Index() {
		t.Fatalf("index went back from %d to %d", before.Index(), after.Index())
	}
	want := encodeState(t, withIndex(t, before, after.Index()))
	if got := encodeState(t, after); !bytes.Equal(got, want) {
		t.Errorf("state changed:\n got: %s\nwant: %s", got, want)
	}
}

// checkInvariants verifies the consistency of the state's tables: usage
// counters, the name index, the token indexes and the id counter.
func checkInvariants(t testing.TB, s *State) {
	t.Helper()
	if err := invariantError(s); err != nil {
		t.Errorf("invariant broken: %v", err)
	}
}

func invariantError(s *State) error {
	users := s.Users()
	if len(users) != s.users.Len() {
		return fmt.Errorf("Users() returned %d users, tree holds %d", len(users), s.users.Len())
	}
	if s.names.Len() != len(users) {
		return fmt.Errorf("%d names for %d users", s.names.Len(), len(users))
	}
	var lastID uint64
	for _, u := range users {
		if u.ID <= lastID {
			return fmt.Errorf("Users() not ordered by id: %d after %d", u.ID, lastID)
		}
		lastID = u.ID
		if u.ID >= s.meta.NextID {
			return fmt.Errorf("user %d not below next id %d", u.ID, s.meta.NextID)
		}
		if got, ok := s.UserByName(u.Username); !ok || got.ID != u.ID {
			return fmt.Errorf("UserByName(%q) does not find user %d", u.Username, u.ID)
		}
		var count, size int64
		for _, kv := range s.Prefs(u.ID) {
			count++
			size += int64(len(kv.Key) + len(kv.Value))
		}
		if count != u.PrefCount || size != u.PrefBytes {
			return fmt.Errorf("user %d usage = (%d, %d), prefs hold (%d, %d)", u.ID, u.PrefCount, u.PrefBytes, count, size)
		}
		for _, tok := range s.Tokens(u.ID) {
			if tok.UserID != u.ID {
				return fmt.Errorf("Tokens(%d) lists token %d of user %d", u.ID, tok.ID, tok.UserID)
			}
			if tok.ID >= s.meta.NextID {
				return fmt.Errorf("token %d not below next id %d", tok.ID, s.meta.NextID)
			}
		}
	}
	var err error
	s.names.walk(func(k string, id uint64) bool {
		u, ok := s.UserByID(id)
		if !ok || foldName(u.Username) != k {
			err = fmt.Errorf("name %q maps to user %d which does not carry it", k, id)
		}
		return err != nil
	})
	if err != nil {
		return err
	}
	s.tokens.Root().Walk(func(k []byte, tok *Token) bool {
		if !bytes.Equal(k, tok.Digest) {
			err = fmt.Errorf("token %d stored under another digest", tok.ID)
		} else if _, ok := s.UserByID(tok.UserID); !ok {
			err = fmt.Errorf("token %d of missing user %d", tok.ID, tok.UserID)
		} else if d, ok := s.userTokens.Get(pairKey(tok.UserID, tok.ID)); !ok || !bytes.Equal(d, tok.Digest) {
			err = fmt.Errorf("token %d missing from the user index", tok.ID)
		}
		return err != nil
	})
	if err != nil {
		return err
	}
	// Count by walking: Len() of a tree is not reliable after a DeletePrefix
	// in a transaction that wrote under the same prefix (see
	// TestTreeLenAfterDeletePrefixInBatch).
	userTokens := 0
	s.userTokens.Root().Walk(func([]byte, []byte) bool { userTokens++; return false })
	if userTokens != s.tokens.Len() {
		return fmt.Errorf("%d user-token entries for %d tokens", userTokens, s.tokens.Len())
	}
	return nil
}

// memSink is an in-memory raft.SnapshotSink.
type memSink struct {
	bytes.Buffer
	closed    int
	cancelled int
}

var _ raft.SnapshotSink = (*memSink)(nil)

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled++; return nil }
func (s *memSink) Close() error  { s.closed++; return nil }

// failSink is a raft.SnapshotSink whose writes fail.
type failSink struct {
	memSink
}

var errSinkFull = errors.New("sink full")

func (s *failSink) Write([]byte) (int, error) { return 0, errSinkFull }

// trackReader is an io.ReadCloser that records whether it was closed.
type trackReader struct {
	io.Reader
	closed bool
}

func (r *trackReader) Close() error { r.closed = true; return nil }

// persist takes a snapshot of f and returns the bytes Persist writes.
func persist(t testing.TB, snap raft.FSMSnapshot) []byte {
	t.Helper()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	if sink.closed != 1 || sink.cancelled != 0 {
		t.Fatalf("Persist closed the sink %d times and cancelled it %d times, want 1 and 0", sink.closed, sink.cancelled)
	}
	snap.Release()
	return sink.Bytes()
}

// restored returns a fresh FSM restored from b.
func restored(t testing.TB, b []byte) *FSM {
	t.Helper()
	f := New(nil)
	if err := f.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	return f
}

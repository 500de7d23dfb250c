package fsm

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"
	"time"
)

func sessionDigest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

func TestSessions(t *testing.T) {
	ttl := int64(time.Hour)
	type step struct {
		name    string
		typ     CmdType
		body    any
		now     int64
		wantErr *Error
	}
	h := newHarness(t)
	alice := h.do(CmdCreateUser, CreateUser{Username: "alice"}).ID
	bob := h.do(CmdCreateUser, CreateUser{Username: "bob"}).ID
	steps := []step{
		{"create", CmdCreateSession, CreateSession{UserID: alice, Digest: sessionDigest("a1"), TTL: ttl}, testNow, nil},
		{"duplicate digest", CmdCreateSession, CreateSession{UserID: bob, Digest: sessionDigest("a1"), TTL: ttl}, testNow, ErrInvalidArgument},
		{"short digest", CmdCreateSession, CreateSession{UserID: alice, Digest: []byte("x"), TTL: ttl}, testNow, ErrInvalidArgument},
		{"zero ttl", CmdCreateSession, CreateSession{UserID: alice, Digest: sessionDigest("a2"), TTL: 0}, testNow, ErrInvalidArgument},
		{"unknown user", CmdCreateSession, CreateSession{UserID: 999, Digest: sessionDigest("a2"), TTL: ttl}, testNow, ErrUserNotFound},
		{"bob", CmdCreateSession, CreateSession{UserID: bob, Digest: sessionDigest("b1"), TTL: ttl}, testNow, nil},
		{"delete missing is fine", CmdDeleteSession, DeleteSession{Digest: sessionDigest("nope")}, testNow, nil},
	}
	for _, st := range steps {
		h.idx++
		res := applyCmdAt(t, h.f, h.idx, st.now, st.typ, st.body)
		if st.wantErr == nil && res.Err != nil || st.wantErr != nil && (res.Err == nil || res.Err.Code != st.wantErr.Code) {
			t.Fatalf("%s: err %v, want %v", st.name, res.Err, st.wantErr)
		}
	}
	s := h.f.State()
	ss, u, ok := s.SessionByDigest(sessionDigest("a1"))
	if !ok || u.ID != alice || ss.Created != testNow || ss.Expires != testNow+ttl {
		t.Fatalf("session a1 = %+v %+v %v", ss, u, ok)
	}
	checkInvariants(t, s)

	// Snapshot round trip keeps the sessions, byte for byte.
	snap, _ := h.f.Snapshot()
	b := persist(t, snap)
	r := restored(t, b)
	if got := encodeState(t, r.State()); !bytes.Equal(got, encodeState(t, s)) {
		t.Fatalf("snapshot round trip changed the state:\n%s\nwant\n%s", got, encodeState(t, s))
	}
	if _, _, ok := r.State().SessionByDigest(sessionDigest("b1")); !ok {
		t.Fatal("restored state lost bob's session")
	}
	if !bytes.Contains(b, []byte(`"session"`)) {
		t.Fatal("snapshot has no session record")
	}

	// Logout deletes the session.
	h.do(CmdDeleteSession, DeleteSession{Digest: sessionDigest("a1")})
	if _, _, ok := h.f.State().SessionByDigest(sessionDigest("a1")); ok {
		t.Fatal("deleted session still found")
	}
	if n := len(h.f.State().Sessions(alice)); n != 0 {
		t.Fatalf("alice has %d sessions after logout", n)
	}

	// A new login prunes the user's expired sessions, judged by leader time.
	h.idx++
	applyCmdAt(t, h.f, h.idx, testNow+2*ttl, CmdCreateSession, CreateSession{UserID: bob, Digest: sessionDigest("b2"), TTL: ttl})
	if got := h.f.State().Sessions(bob); len(got) != 1 || !bytes.Equal(got[0].Digest, sessionDigest("b2")) {
		t.Fatalf("bob's sessions after a later login: %+v", got)
	}

	// Deleting a user drops their sessions.
	h.do(CmdDeleteUser, DeleteUser{UserID: bob})
	if _, _, ok := h.f.State().SessionByDigest(sessionDigest("b2")); ok {
		t.Fatal("session of a deleted user still found")
	}
	if n := len(h.f.State().Sessions(bob)); n != 0 {
		t.Fatalf("deleted user has %d sessions", n)
	}
	checkInvariants(t, h.f.State())
}

func TestSnapshotRejectsOrphanSession(t *testing.T) {
	h := newHarness(t)
	id := h.do(CmdCreateUser, CreateUser{Username: "alice"}).ID
	h.do(CmdCreateSession, CreateSession{UserID: id, Digest: sessionDigest("x"), TTL: 1})
	h.do(CmdDeleteUser, DeleteUser{UserID: id})
	snap, _ := h.f.Snapshot()
	b := persist(t, snap)
	bad := append(append([]byte(nil), b...), []byte(`{"session":{"digest":"`+
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="+`","user_id":77,"created":1,"expires":2}}`+"\n")...)
	f := New(nil)
	if err := f.Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
		t.Fatal("Restore accepted a session of an unknown user")
	}
}

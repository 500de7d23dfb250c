package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestSnapshotRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T) *harness
		check func(t *testing.T, s *State)
	}{
		{
			name:  "empty state",
			build: newHarnessT,
			check: func(t *testing.T, s *State) {
				if n := len(s.Users()); n != 0 {
					t.Errorf("len(Users()) = %d, want 0", n)
				}
				if q := s.DefaultQuota(); q != DefaultQuota() {
					t.Errorf("DefaultQuota() = %+v, want built-in", q)
				}
			},
		},
		{
			name: "every table populated",
			build: func(t *testing.T) *harness {
				return richFixture(t)
			},
			check: func(t *testing.T, s *State) {
				if s.Index() != 11 {
					t.Errorf("Index() = %d, want 11", s.Index())
				}
				bob, ok := s.UserByName("BOB")
				if !ok || bob.ID != 2 || bob.Email != "bob@example.com" || bob.PasswordHash != "hash" || !bob.IsStaff {
					t.Fatalf("UserByName(BOB) = %+v, %v", bob, ok)
				}
				want := Quota{MaxPreferences: 100, MaxValueLength: DefaultMaxValueLength, MaxKeyLength: 0, MaxTotalBytes: 1000}
				if q := s.Quota(bob); q != want {
					t.Errorf("Quota(bob) = %+v, want %+v", q, want)
				}
				if q := s.DefaultQuota().MaxPreferences; q != 100 {
					t.Errorf("default max_preferences = %d, want 100", q)
				}
				if tok, u, ok := s.TokenByDigest(digest("a1")); !ok || u.Username != "alice" || tok.Name != "laptop" || tok.Created != testNow {
					t.Errorf("TokenByDigest(a1) = %+v, %+v, %v", tok, u, ok)
				}
				if toks := s.Tokens(bob.ID); len(toks) != 1 || toks[0].Name != "ci" {
					t.Errorf("Tokens(bob) = %v", toks)
				}
				checkPrefs(t, s, 1, []KV{{"theme", "dark"}, {"日本", "語"}})
				checkUsage(t, s, 1, 2, 9+9)
				if m := s.Members(); len(m) != 2 || m[1] != (Member{"node-2", "10.0.0.2:8080"}) {
					t.Errorf("Members() = %v", m)
				}
				admin, ok := s.UserByName("admin")
				if !ok || !admin.IsSuperuser || !admin.IsStaff {
					t.Errorf("admin = %+v, %v", admin, ok)
				}
			},
		},
		{
			name: "after deletions and renames",
			build: func(t *testing.T) *harness {
				h := richFixture(t)
				h.ok(CmdDeleteUser, DeleteUser{UserID: 1})
				h.ok(CmdUpdateUser, UpdateUser{UserID: 2, Username: ptr("Robert")})
				h.ok(CmdRemoveMember, RemoveMember{NodeID: "node-1"})
				h.ok(CmdDeleteToken, DeleteToken{UserID: 2, TokenID: 4})
				h.ok(CmdSetUserQuota, SetUserQuota{UserID: 2, Reset: true})
				return h
			},
			check: func(t *testing.T, s *State) {
				if _, ok := s.UserByName("bob"); ok {
					t.Error("old name bob survived the round trip")
				}
				if u, ok := s.UserByName("robert"); !ok || u.ID != 2 {
					t.Errorf("UserByName(robert) = %+v, %v", u, ok)
				}
				if _, _, ok := s.TokenByDigest(digest("a1")); ok {
					t.Error("token of a deleted user survived")
				}
				if m := s.Members(); len(m) != 1 {
					t.Errorf("Members() = %v, want node-2 only", m)
				}
			},
		},
		{
			name: "awkward strings",
			build: func(t *testing.T) *harness {
				h := newHarness(t)
				id := h.user("<script>&\u2028\"quoted\"\\")
				h.set(id,
					KV{"html", "<b>&amp;</b>"},
					KV{"ctl", "\x00\x01\t\n\u2029"},
					KV{"emoji", "😀"},
					KV{"\xffbad", "\xfe"}, // invalid UTF-8 becomes U+FFFD in JSON
				)
				h.token(id, "\u00e9\u0301", "s")
				h.ok(CmdSetMember, SetMember{NodeID: "n\x00", APIAddr: "[::1]:80"})
				return h
			},
		},
		{
			name: "many users and prefs",
			build: func(t *testing.T) *harness {
				h := newHarness(t)
				for i := range 50 {
					id := h.user(fmt.Sprintf("user%02d", i))
					for j := range i % 5 {
						h.set(id, KV{fmt.Sprintf("k%d", j), strings.Repeat("x", i)})
					}
					if i%3 == 0 {
						h.token(id, "t", fmt.Sprintf("secret-%d", i))
					}
				}
				return h
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.build(t)
			want := encodeState(t, h.state())
			snap, err := h.f.Snapshot()
			if err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			got := persist(t, snap)
			if !bytes.Equal(got, want) {
				t.Fatalf("Persist wrote\n%s\nwant Encode's\n%s", got, want)
			}

			r := &trackReader{Reader: bytes.NewReader(got)}
			g := New(nil)
			if err := g.Restore(r); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if !r.closed {
				t.Error("Restore did not close its reader")
			}
			if back := encodeState(t, g.State()); !bytes.Equal(back, want) {
				t.Errorf("restored state encodes as\n%s\nwant\n%s", back, want)
			}
			if g.Index() != h.f.Index() {
				t.Errorf("restored Index() = %d, want %d", g.Index(), h.f.Index())
			}
			checkInvariants(t, g.State())
			if tt.check != nil {
				tt.check(t, g.State())
			}

			// Both replicas go on identically: ids continue from the
			// snapshot's counter.
			next := h.idx + 1
			a := applyCmd(t, h.f, next, CmdCreateUser, CreateUser{Username: "after-snapshot"})
			b := applyCmd(t, g, next, CmdCreateUser, CreateUser{Username: "after-snapshot"})
			if !resultEqual(a, b) || a.Err != nil {
				t.Errorf("after restore: original %+v, restored %+v", a, b)
			}
			if x, y := encodeState(t, h.state()), encodeState(t, g.State()); !bytes.Equal(x, y) {
				t.Errorf("replicas diverged after restore:\noriginal: %s\nrestored: %s", x, y)
			}
		})
	}
}

func newHarnessT(t *testing.T) *harness { return newHarness(t) }

func TestSnapshotIsPointInTime(t *testing.T) {
	h := richFixture(t)
	want := encodeState(t, h.state())
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	// Change every table after the snapshot was taken.
	h.ok(CmdCreateUser, CreateUser{Username: "late"})
	h.ok(CmdPatchPrefs, PatchPrefs{UserID: 1, Set: []KV{{"theme", "light"}}, Delete: []string{"日本"}})
	h.ok(CmdDeleteToken, DeleteToken{UserID: 2, TokenID: 4})
	h.ok(CmdDeleteUser, DeleteUser{UserID: 1})
	h.ok(CmdSetMember, SetMember{NodeID: "node-3", APIAddr: "x"})
	h.ok(CmdSetDefaultQuota, SetDefaultQuota{Quota: QuotaPatch{MaxPreferences: ptr[int64](1)}})

	got := persist(t, snap)
	if !bytes.Equal(got, want) {
		t.Errorf("Persist after later applies wrote\n%s\nwant the state at snapshot time\n%s", got, want)
	}
	if now := encodeState(t, h.state()); bytes.Equal(got, now) {
		t.Error("snapshot equals the current state; the later applies were lost?")
	}
	g := restored(t, got)
	if g.Index() != 11 {
		t.Errorf("restored Index() = %d, want 11", g.Index())
	}
	if _, ok := g.State().UserByName("late"); ok {
		t.Error("restored state holds a user created after the snapshot")
	}
	if v, ok := g.State().Pref(1, "theme"); !ok || v != "dark" {
		t.Errorf("restored Pref(1, theme) = %q, %v; want dark", v, ok)
	}
}

// TestSnapshotPersistDuringApply persists snapshots while Apply goes on; run
// with -race.
func TestSnapshotPersistDuringApply(t *testing.T) {
	h := richFixture(t)
	type taken struct {
		want []byte
		got  []byte
		err  error
	}
	var wg sync.WaitGroup
	results := make(chan taken, 20)
	for i := range 200 {
		if i%10 == 0 {
			snap, _ := h.f.Snapshot()
			want := encodeState(t, h.state())
			wg.Add(1)
			go func() {
				defer wg.Done()
				sink := &memSink{}
				err := snap.Persist(sink)
				results <- taken{want: want, got: sink.Bytes(), err: err}
			}()
		}
		h.ok(CmdPatchPrefs, PatchPrefs{UserID: 1, Set: []KV{{fmt.Sprintf("k%d", i%37), strings.Repeat("v", i)}}, Delete: []string{fmt.Sprintf("k%d", (i+5)%37)}})
		if i%25 == 0 {
			h.ok(CmdCreateUser, CreateUser{Username: fmt.Sprintf("u%d", i)})
		}
	}
	wg.Wait()
	close(results)
	n := 0
	for r := range results {
		n++
		if r.err != nil {
			t.Errorf("Persist: %v", r.err)
		} else if !bytes.Equal(r.got, r.want) {
			t.Errorf("concurrent Persist wrote a state other than the snapshot's")
		}
	}
	if n != 20 {
		t.Errorf("%d snapshots persisted, want 20", n)
	}
	checkInvariants(t, h.state())
}

func TestSnapshotPersistSinkError(t *testing.T) {
	h := richFixture(t)
	snap, _ := h.f.Snapshot()
	sink := &failSink{}
	err := snap.Persist(sink)
	if !errors.Is(err, errSinkFull) {
		t.Errorf("Persist error = %v, want one wrapping %v", err, errSinkFull)
	}
	if sink.cancelled != 1 || sink.closed != 0 {
		t.Errorf("sink cancelled %d times and closed %d times, want 1 and 0", sink.cancelled, sink.closed)
	}
}

func TestRestoreGarbage(t *testing.T) {
	const header = `{"format":"prefsd-snapshot","version":1,"meta":{"index":7,"next_id":5,"default_quota":{"max_preferences":1,"max_value_length":1,"max_key_length":1,"max_total_bytes":1}}}` + "\n"
	const user = `{"user":{"id":1,"username":"x","created":0,"updated":0,"quota":{},"pref_count":0,"pref_bytes":0}}` + "\n"
	valid := string(encodeState(t, richFixture(t).state()))
	tests := []struct {
		name string
		give string
	}{
		{name: "empty", give: ""},
		{name: "whitespace", give: " \n\t"},
		{name: "not JSON", give: "not json at all"},
		{name: "JSON null", give: "null"},
		{name: "header of the wrong type", give: `[1,2,3]`},
		{name: "wrong format", give: `{"format":"other","version":1,"meta":{}}`},
		{name: "missing format", give: `{"version":1,"meta":{}}`},
		{name: "wrong version", give: `{"format":"prefsd-snapshot","version":2,"meta":{}}`},
		{name: "version 0", give: `{"format":"prefsd-snapshot","meta":{}}`},
		{name: "garbage record", give: header + "garbage\n"},
		{name: "empty record", give: header + "{}\n"},
		{name: "null record", give: header + "null\n"},
		{name: "record of the wrong type", give: header + `{"user":"x"}` + "\n"},
		{name: "token of an unknown user", give: header + user + `{"token":{"id":2,"user_id":9,"name":"t","digest":"AA==","created":0}}` + "\n"},
		{name: "token before its user", give: header + `{"token":{"id":2,"user_id":1,"name":"t","digest":"AA==","created":0}}` + "\n" + user},
		{name: "pref of an unknown user", give: header + user + `{"pref":{"u":9,"k":"a","v":"b"}}` + "\n"},
		{name: "truncated record", give: header + `{"user":{"id":1,"username":"x"`},
		{name: "truncated valid snapshot", give: valid[:len(valid)-10]},
		{name: "valid snapshot with trailing garbage", give: valid + "}"},
		{name: "binary", give: "\x00\xff\xfe\x01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tokenFixture(t)
			before := encodeState(t, h.state())
			r := &trackReader{Reader: strings.NewReader(tt.give)}
			err := h.f.Restore(r)
			if !errors.Is(err, ErrBadSnapshot) {
				t.Errorf("Restore error = %v, want one wrapping ErrBadSnapshot", err)
			}
			if !r.closed {
				t.Error("Restore did not close its reader")
			}
			if after := encodeState(t, h.state()); !bytes.Equal(after, before) {
				t.Errorf("failed Restore changed the state:\n got: %s\nwant: %s", after, before)
			}
			if _, err := ReadSnapshot(strings.NewReader(tt.give)); !errors.Is(err, ErrBadSnapshot) {
				t.Errorf("ReadSnapshot error = %v, want one wrapping ErrBadSnapshot", err)
			}
		})
	}
}

func TestRestoreReplacesState(t *testing.T) {
	small := newHarness(t)
	small.user("solo")
	small.ok(CmdSetMember, SetMember{NodeID: "only", APIAddr: "a"})
	b := encodeState(t, small.state())

	h := richFixture(t)
	if err := h.f.Restore(&trackReader{Reader: bytes.NewReader(b)}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	s := h.state()
	if got := encodeState(t, s); !bytes.Equal(got, b) {
		t.Errorf("state after Restore = %s, want %s", got, b)
	}
	if _, ok := s.UserByName("alice"); ok {
		t.Error("alice survived a Restore of a state without her")
	}
	if _, _, ok := s.TokenByDigest(digest("a1")); ok {
		t.Error("a token survived a Restore of a state without it")
	}
	if s.Index() != 2 {
		t.Errorf("Index() = %d, want 2 (the snapshot's)", s.Index())
	}
	checkInvariants(t, s)
}

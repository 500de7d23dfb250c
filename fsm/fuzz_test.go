package fsm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

// knownCodes are the error codes Apply may return.
var knownCodes = map[string]bool{
	ErrInvalidCommand.Code: true, ErrInvalidArgument.Code: true, ErrUserExists.Code: true,
	ErrUserNotFound.Code: true, ErrTokenNotFound.Code: true, ErrTokenExists.Code: true,
	ErrTooManyPreferences.Code: true, ErrTooManyBytes.Code: true, ErrValueTooLong.Code: true,
	ErrKeyTooLong.Code: true,
}

// fuzzBase returns the snapshot of a small state with tight quotas, so that
// fuzzed commands reach every branch: alice (1, tokens a1), Bob (2, token b1,
// overrides), admin (5, token root), prefs, members.
func fuzzBase(t testing.TB) []byte {
	h := richFixture(t)
	h.ok(CmdSetDefaultQuota, SetDefaultQuota{Quota: QuotaPatch{
		MaxPreferences: ptr[int64](4),
		MaxValueLength: ptr[int64](8),
		MaxKeyLength:   ptr[int64](6),
		MaxTotalBytes:  ptr[int64](40),
	}})
	return encodeState(t, h.state())
}

// seedEntries returns valid and invalid entries for the fuzz corpora.
func seedEntries(t testing.TB) [][]byte {
	e := func(typ CmdType, body any) []byte { return mustEntry(t, testNow, typ, body) }
	seeds := [][]byte{
		e(CmdCreateUser, CreateUser{Username: "carol", Email: "c@example.com"}),
		e(CmdCreateUser, CreateUser{Username: "ALICE"}),
		e(CmdCreateUser, CreateUser{}),
		e(CmdUpdateUser, UpdateUser{UserID: 1, Username: ptr("bob")}),
		e(CmdUpdateUser, UpdateUser{UserID: 2, Username: ptr("bobby"), IsSuperuser: ptr(true)}),
		e(CmdDeleteUser, DeleteUser{UserID: 1}),
		e(CmdDeleteUser, DeleteUser{UserID: 99}),
		e(CmdCreateToken, CreateToken{UserID: 1, Name: "n", Digest: []byte("new")}),
		e(CmdCreateToken, CreateToken{UserID: 2, Name: "dup", Digest: digest("a1")}),
		e(CmdDeleteToken, DeleteToken{UserID: 1, TokenID: 3}),
		e(CmdDeleteToken, DeleteToken{UserID: 2, TokenID: 3}),
		e(CmdSetDefaultQuota, SetDefaultQuota{Quota: QuotaPatch{MaxPreferences: ptr[int64](1)}}),
		e(CmdSetDefaultQuota, SetDefaultQuota{Quota: QuotaPatch{MaxPreferences: ptr[int64](-1)}}),
		e(CmdSetUserQuota, SetUserQuota{UserID: 1, Quota: QuotaPatch{MaxValueLength: ptr[int64](2)}, Reset: true}),
		e(CmdPatchPrefs, PatchPrefs{UserID: 1, Set: []KV{{"theme", "light"}}, Delete: []string{"日本"}}),
		e(CmdPatchPrefs, PatchPrefs{UserID: 1, Set: []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}}}),
		e(CmdPatchPrefs, PatchPrefs{UserID: 1, Set: []KV{{"k", "日本語日本語日本語"}}}),
		e(CmdPatchPrefs, PatchPrefs{UserID: 1, Set: []KV{{"toolongkey", "v"}}}),
		e(CmdPatchPrefs, PatchPrefs{UserID: 2, Set: []KV{{"", "v"}}}),
		e(CmdSetMember, SetMember{NodeID: "node-9", APIAddr: "x:1"}),
		e(CmdRemoveMember, RemoveMember{NodeID: "node-1"}),
		e(CmdEnsureAdmin, EnsureAdmin{Username: "admin", TokenName: "t", Digest: []byte("second")}),
		e(CmdEnsureAdmin, EnsureAdmin{Username: "newroot", Digest: digest("b1")}),
		nil,
		{},
		{1},
		rawEntry(0, "{}"),
		rawEntry(200, `{"username":"x"}`),
		rawEntry(byte(CmdCreateUser), `{"username":`),
		rawEntry(byte(CmdPatchPrefs), `{"user_id":1,"set":[{"k":"a","v":"\ud800"}]}`),
		rawEntry(byte(CmdPatchPrefs), "{\"user_id\":1,\"set\":[{\"k\":\"\xff\",\"v\":\"\xfe\"}]}"),
		rawEntry(byte(CmdCreateUser), `null`),
	}
	for _, l := range genLogs(11, 40) {
		if l.Type == raft.LogCommand {
			seeds = append(seeds, l.Data)
		}
	}
	return seeds
}

func FuzzDecodeEntry(f *testing.F) {
	for _, s := range seedEntries(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, now, body, err := DecodeEntry(data)
		if len(data) < entryHeader {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeEntry(%d bytes) error = %v, want ErrMalformed", len(data), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("DecodeEntry(%d bytes) error = %v", len(data), err)
		}
		if typ != CmdType(data[0]) || !bytes.Equal(body, data[entryHeader:]) {
			t.Fatalf("DecodeEntry = %d, %q; want %d, %q", typ, body, data[0], data[entryHeader:])
		}
		// Stamp inverts DecodeEntry.
		cmd := append(Command{byte(typ)}, body...)
		if again := Stamp(cmd, now); !bytes.Equal(again, data) {
			t.Fatalf("Stamp(DecodeEntry(e)) = %x, want %x", again, data)
		}
	})
}

func FuzzApply(f *testing.F) {
	base := fuzzBase(f)
	for _, s := range seedEntries(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm := restored(t, base)
		before := fsm.State()
		idx := before.Index() + 1
		got := fsm.Apply(&raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: data})
		res, ok := got.(Result)
		if !ok {
			t.Fatalf("Apply returned %T, want Result", got)
		}
		after := fsm.State()
		if after.Index() != idx {
			t.Fatalf("Index() = %d, want %d", after.Index(), idx)
		}
		if res.Err != nil {
			if !knownCodes[res.Err.Code] {
				t.Fatalf("unknown error code %q", res.Err.Code)
			}
			if res.ID != 0 || res.Deleted != 0 {
				t.Fatalf("refused entry returned %+v", res)
			}
			checkUnchanged(t, before, after)
			return
		}
		checkInvariants(t, after)
		b := encodeState(t, after)
		if back := encodeState(t, restored(t, b).State()); !bytes.Equal(back, b) {
			t.Fatalf("snapshot round trip changed the state:\n got: %s\nwant: %s", back, b)
		}
	})
}

func FuzzReadSnapshot(f *testing.F) {
	valid := fuzzBase(f)
	empty := encodeState(f, New(nil).State())
	header := empty[:bytes.IndexByte(empty, '\n')+1]
	seeds := [][]byte{
		valid,
		empty,
		header,
		valid[:len(valid)/2],
		valid[:len(valid)-1],
		append(bytes.Clone(valid), '}'),
		nil,
		[]byte("null"),
		[]byte(`{"format":"prefsd-snapshot","version":2}`),
		append(bytes.Clone(header), "{}\n"...),
		append(bytes.Clone(header), `{"token":{"id":1,"user_id":7,"digest":"AA=="}}`...),
		append(bytes.Clone(header), `{"user":{"id":1,"username":"a"}}`+"\n"+`{"pref":{"u":1,"k":"","v":""}}`+"\n"+`{"token":{"id":2,"user_id":1,"digest":null}}`...),
		append(bytes.Clone(header), `{"user":{"id":1,"username":"a"},"member":{"node_id":"x"}}`...),
		append(bytes.Clone(header), `{"member":{}}`...),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ReadSnapshot(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("ReadSnapshot error = %v, want one wrapping ErrBadSnapshot", err)
			}
			return
		}
		// Whatever was accepted encodes, and re-reading that is stable.
		b := encodeState(t, s)
		s2, err := ReadSnapshot(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("ReadSnapshot(Encode(s)) error = %v", err)
		}
		if b2 := encodeState(t, s2); !bytes.Equal(b2, b) {
			t.Fatalf("re-reading an encoded snapshot changed it:\n got: %s\nwant: %s", b2, b)
		}
	})
}

package fsm

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// goldenSnapshot is a version 1 snapshot of goldenFixture, written by the
// encoder that kept preferences in a radix tree, one entry per key. It is
// never regenerated: it pins the format that nodes already hold on disk.
const goldenSnapshot = "testdata/snapshot-v1.jsonl"

// TestGoldenSnapshot checks that a stored snapshot restores to a state
// that encodes to the same bytes, and that the same commands applied today
// build that state: the layout in memory does not show in the format.
func TestGoldenSnapshot(t *testing.T) {
	want, err := os.ReadFile(goldenSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	f := restored(t, want)
	s := f.State()
	if got := encodeState(t, s); !bytes.Equal(got, want) {
		t.Errorf("restored %s encodes differently:\n got: %s\nwant: %s", goldenSnapshot, got, want)
	}
	checkInvariants(t, s)

	built := goldenFixture(t).state()
	if got := encodeState(t, built); !bytes.Equal(got, want) {
		t.Errorf("goldenFixture encodes differently from %s:\n got: %s\nwant: %s", goldenSnapshot, got, want)
	}
	// Spot checks of the restored state's queries.
	u, ok := s.UserByName("user-069")
	if !ok {
		t.Fatal("UserByName(user-069) not found")
	}
	got := s.Prefs(u.ID)
	if len(got) != int(u.PrefCount) {
		t.Fatalf("Prefs(%d) = %v, want %d preferences", u.ID, got, u.PrefCount)
	}
	for i, kv := range got {
		if i > 0 && got[i-1].Key >= kv.Key {
			t.Errorf("Prefs(%d) not in bytewise key order: %q before %q", u.ID, got[i-1].Key, kv.Key)
		}
		if v, ok := s.Pref(u.ID, kv.Key); !ok || v != kv.Value {
			t.Errorf("Pref(%d, %q) = %q, %v, want %q", u.ID, kv.Key, v, ok, kv.Value)
		}
	}
	if _, ok := s.UserByName("User-065"); ok {
		t.Error("deleted user User-065 restored")
	}
}

// goldenFixture builds the state testdata/snapshot-v1.jsonl holds: every
// table, enough users for the users and names tables to span several
// nodes, names created out of order and in mixed case, keys that sort
// differently by bytes and by characters, overwritten and deleted
// preferences, and deleted users.
func goldenFixture(t testing.TB) *harness {
	t.Helper()
	h := richFixture(t)
	h.ok(CmdPutCatalog, PutCatalog{Defs: []SettingDef{
		{Registry: RegistryInvenTree, Scope: ScopeGlobal, Key: "LABEL_INLINE", Type: TypeBoolean, Default: "False"},
		{Registry: RegistryInvenTree, Scope: ScopeUser, Key: "SEARCH_PREVIEW", Type: TypeBoolean, Default: "True"},
	}})
	h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{"LABEL_INLINE", "True"}}})
	h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeUser, UserID: 1, Values: []KV{{"SEARCH_PREVIEW", "False"}}})
	h.ok(CmdCreateSession, CreateSession{UserID: 1, Digest: sessionDigest("s1"), TTL: int64(time.Hour)})
	keys := []string{"zeta", "a", "B", "é", "a\x00b", "a b", "日本", "Z", "ab", "émile", "0"}
	for i := range 70 {
		id := h.user(fmt.Sprintf("User-%03d", 70-i))
		var set []KV
		for j := range 1 + i%len(keys) {
			k := keys[(i+j*5)%len(keys)]
			set = append(set, KV{Key: k, Value: fmt.Sprintf("v%d-%d %s", i, j, strings.Repeat("x", (i*j)%13))})
		}
		h.set(id, set...)
		if i%3 == 0 {
			h.ok(CmdPatchPrefs, PatchPrefs{UserID: id, Set: []KV{{Key: keys[i%len(keys)], Value: "again"}}, Delete: []string{keys[(i+1)%len(keys)], "absent"}})
		}
		if i%11 == 5 {
			h.ok(CmdDeleteUser, DeleteUser{UserID: id})
		}
	}
	return h
}

package fsm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"
)

// TestKeyLayout pins the bytes of the tree keys: they order the state, and
// with it the snapshot bytes replicas are compared by, so building them
// differently must not change them.
func TestKeyLayout(t *testing.T) {
	id := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	cat := func(r Registry, s Scope, key string) []byte {
		return []byte(string(r) + "\x00" + string(s) + "\x00" + key)
	}
	digest := bytes.Repeat([]byte{0xab}, 32)
	for _, c := range []struct {
		name      string
		got, want []byte
	}{
		{"idKey", idKey(0x0102030405060708), id(0x0102030405060708)},
		{"pairKey", pairKey(7, 9), append(id(7), id(9)...)},
		{"userSessionKey", userSessionKey(7, digest), append(id(7), digest...)},
		{"catalogKey", catalogKey(RegistryInvenTree, ScopeUser, "LABEL_INLINE"), cat(RegistryInvenTree, ScopeUser, "LABEL_INLINE")},
		{"catalogKey prefix", catalogKey(RegistryDynPrefs, ScopeGlobal, ""), cat(RegistryDynPrefs, ScopeGlobal, "")},
		{"settingKey", settingKey(7, RegistryDynPrefs, ScopeUser, "misc__is_zombie"), append(id(7), cat(RegistryDynPrefs, ScopeUser, "misc__is_zombie")...)},
		{"settingKey global", settingKey(0, RegistryInvenTree, ScopeGlobal, "A"), append(id(0), cat(RegistryInvenTree, ScopeGlobal, "A")...)},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

// TestEncodeLayout pins a command's bytes: the type, then json.Marshal of
// the body, whatever the body's length.
func TestEncodeLayout(t *testing.T) {
	for n := range 300 {
		body := PatchPrefs{UserID: uint64(n), Set: []KV{{Key: "k", Value: string(bytes.Repeat([]byte{'v'}, n))}}}
		cmd, err := Encode(CmdPatchPrefs, body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]byte{byte(CmdPatchPrefs)}, b...)
		if !bytes.Equal(cmd, want) {
			t.Fatalf("Encode(%d-byte value) = %q, want %q", n, cmd, want)
		}
	}
}

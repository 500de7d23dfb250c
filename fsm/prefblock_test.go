package fsm

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// checkBlock verifies that b holds exactly want, in bytewise key order,
// with its bytes and bounds consistent.
func checkBlock(t *testing.T, b prefBlock, want map[string]string) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(want))
	if b.len() != len(keys) {
		t.Fatalf("block holds %d preferences, want %d", b.len(), len(keys))
	}
	size := 0
	for _, k := range keys {
		size += len(k) + len(want[k])
	}
	if len(b.data) != size {
		t.Fatalf("block holds %d bytes, want %d", len(b.data), size)
	}
	kvs := b.kvs()
	for i, k := range keys {
		if b.key(i) != k || b.value(i) != want[k] {
			t.Fatalf("entry %d = %q: %q, want %q: %q", i, b.key(i), b.value(i), k, want[k])
		}
		if kvs[i] != (KV{Key: k, Value: want[k]}) {
			t.Fatalf("kvs()[%d] = %+v, want %q: %q", i, kvs[i], k, want[k])
		}
		if v, ok := b.get(k); !ok || v != want[k] {
			t.Fatalf("get(%q) = %q, %v, want %q", k, v, ok, want[k])
		}
		// Keys next to k are not there unless stored.
		probes := []string{k + "\x00"}
		if k != "" {
			probes = append(probes, k[:len(k)-1], k[:len(k)-1]+string(k[len(k)-1]+1))
		}
		for _, probe := range probes {
			if _, stored := want[probe]; stored {
				continue
			}
			if v, ok := b.get(probe); ok {
				t.Fatalf("get(%q) = %q, true for a key not stored", probe, v)
			}
		}
	}
	if len(keys) == 0 && kvs != nil {
		t.Fatalf("kvs() of an empty block = %v, want nil", kvs)
	}
}

// randomKey draws keys that share prefixes and differ in their last byte,
// including bytes above 0x7f, so that bytewise order matters.
func randomKey(r *rand.Rand) string {
	return strings.Repeat("k", r.IntN(3)) + string([]byte{byte(r.IntN(256))})
}

// TestPrefBlockPatched applies random patches to a block and compares it
// with a map after each one, keeping every earlier block to check that a
// patch leaves the block it started from as it was.
func TestPrefBlockPatched(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var b prefBlock
	want := map[string]string{}
	type version struct {
		b    prefBlock
		want map[string]string
	}
	var versions []version
	for step := range 300 {
		final := map[string]*string{}
		for range r.IntN(12) + 1 {
			k := randomKey(r)
			if r.IntN(3) == 0 {
				final[k] = nil
			} else {
				v := strings.Repeat(fmt.Sprint(step), r.IntN(4))
				final[k] = &v
			}
		}
		var changes []prefChange
		n, size := b.len(), int64(len(b.data))
		for _, k := range slices.Sorted(maps.Keys(final)) {
			changes = append(changes, prefChange{key: k, value: final[k]})
			if cur, ok := want[k]; ok {
				n--
				size -= int64(len(k) + len(cur))
				delete(want, k)
			}
			if v := final[k]; v != nil {
				n++
				size += int64(len(k) + len(*v))
				want[k] = *v
			}
		}
		b = b.patched(changes, n, size)
		checkBlock(t, b, want)
		versions = append(versions, version{b, maps.Clone(want)})
	}
	for _, v := range versions {
		checkBlock(t, v.b, v.want)
	}
}

// TestPrefLoader feeds preferences to a loader in order, shuffled and with
// repeats, and checks the blocks it stores: the last value of a key wins.
func TestPrefLoader(t *testing.T) {
	type pref struct {
		user  uint64
		key   string
		value string
	}
	r := rand.New(rand.NewPCG(9, 10))
	var sorted []pref
	for u := range uint64(40) {
		keys := map[string]bool{}
		for range r.IntN(30) {
			keys[randomKey(r)] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			sorted = append(sorted, pref{u + 1, k, fmt.Sprint(u, k)})
		}
	}
	shuffled := slices.Clone(sorted)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	repeated := slices.Clone(sorted)
	for i := range 60 {
		p := sorted[r.IntN(len(sorted))]
		p.value = fmt.Sprint("again ", i)
		repeated = slices.Insert(repeated, r.IntN(len(repeated)+1), p)
	}
	for _, tt := range []struct {
		name  string
		prefs []pref
	}{
		{"in order", sorted},
		{"shuffled", shuffled},
		{"with repeats", repeated},
		{"empty key", []pref{{1, "", ""}, {1, "", "x"}, {1, "a", "b"}, {2, "", ""}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var tr btree[uint64, prefBlock]
			x := tr.txn()
			l := prefLoader{prefs: &x}
			want := map[uint64]map[string]string{}
			for _, p := range tt.prefs {
				if !l.add(p.user, p.key, p.value) {
					t.Fatalf("add(%d, %q) refused", p.user, p.key)
				}
				if want[p.user] == nil {
					want[p.user] = map[string]string{}
				}
				want[p.user][p.key] = p.value
			}
			l.flush()
			tr = x.commit()
			if tr.Len() != len(want) {
				t.Errorf("%d blocks for %d users", tr.Len(), len(want))
			}
			for u, kvs := range want {
				b, ok := tr.get(u)
				if !ok {
					t.Fatalf("no block for user %d", u)
				}
				checkBlock(t, b, kvs)
			}
		})
	}
}

// TestRestoreUnorderedPrefs restores a snapshot whose preferences are not
// in the order Encode writes, with a key repeated: the state is the one
// the ordered records describe, the last value of a key winning.
func TestRestoreUnorderedPrefs(t *testing.T) {
	h := newHarness(t)
	a, b := h.user("a"), h.user("b")
	h.set(a, KV{"x", "1"}, KV{"y", "2"}, KV{"z", "3"})
	h.set(b, KV{"p", "4"}, KV{"q", "5"})
	ordered := encodeState(t, h.state())

	lines := strings.SplitAfter(string(ordered), "\n")
	var prefs, rest []string
	for _, line := range lines {
		if strings.HasPrefix(line, `{"pref":`) {
			prefs = append(prefs, line)
		} else {
			rest = append(rest, line)
		}
	}
	if len(prefs) != 5 {
		t.Fatalf("%d preference records, want 5:\n%s", len(prefs), ordered)
	}
	// y of a first with a stale value, then b's, then a's, x twice.
	stale := strings.Replace(prefs[1], `"v":"2"`, `"v":"old"`, 1)
	unordered := []string{stale, prefs[4], prefs[2], prefs[3], prefs[0], prefs[1], prefs[0]}
	var sb strings.Builder
	for _, line := range rest[:3] { // header and the two users
		sb.WriteString(line)
	}
	for _, line := range unordered {
		sb.WriteString(line)
	}
	for _, line := range rest[3:] {
		sb.WriteString(line)
	}
	s, err := ReadSnapshot(strings.NewReader(sb.String()))
	if err != nil {
		t.Fatalf("ReadSnapshot: %v", err)
	}
	if got := encodeState(t, s); !bytes.Equal(got, ordered) {
		t.Errorf("unordered snapshot restored as\n%s\nwant\n%s", got, ordered)
	}
	checkInvariants(t, s)
}

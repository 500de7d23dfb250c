package fsm

import (
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
)

const benchUsers = 1000

// benchFSM returns an FSM holding benchUsers users, each with a few
// preferences, and the index of its last entry.
func benchFSM(b *testing.B) (*FSM, uint64) {
	b.Helper()
	f := New(nil)
	logs := make([]*raft.Log, 0, 2*benchUsers)
	for i := range benchUsers {
		logs = append(logs, &raft.Log{Index: uint64(len(logs) + 1), Type: raft.LogCommand,
			Data: mustEntry(b, testNow, CmdCreateUser, CreateUser{Username: fmt.Sprintf("user%04d", i)})})
	}
	for i := range benchUsers {
		logs = append(logs, &raft.Log{Index: uint64(len(logs) + 1), Type: raft.LogCommand,
			Data: mustEntry(b, testNow, CmdPatchPrefs, PatchPrefs{UserID: uint64(i + 1), Set: []KV{{"theme", "dark"}, {"lang", "en"}, {"layout", "wide"}}})})
	}
	for i, r := range f.ApplyBatch(logs) {
		if res := r.(Result); res.Err != nil {
			b.Fatalf("setup entry %d: %v", i+1, res.Err)
		}
	}
	return f, uint64(len(logs))
}

// benchEntries returns n PatchPrefs entries, each setting one key of one
// user, spread over every user and a few keys.
func benchEntries(b *testing.B, n int) [][]byte {
	b.Helper()
	out := make([][]byte, n)
	for i := range out {
		out[i] = mustEntry(b, testNow, CmdPatchPrefs, PatchPrefs{
			UserID: uint64(i%benchUsers + 1),
			Set:    []KV{{Key: fmt.Sprintf("key%d", i%8), Value: fmt.Sprintf("value-%d", i)}},
		})
	}
	return out
}

func BenchmarkApplyPatchPrefs(b *testing.B) {
	f, idx := benchFSM(b)
	entries := benchEntries(b, 4096)
	l := &raft.Log{Type: raft.LogCommand}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		idx++
		l.Index, l.Data = idx, entries[i%len(entries)]
		if res := f.Apply(l).(Result); res.Err != nil {
			b.Fatal(res.Err)
		}
		i++
	}
}

func BenchmarkApplyBatch64(b *testing.B) {
	const size = 64
	f, idx := benchFSM(b)
	entries := benchEntries(b, 4096)
	batch := make([]*raft.Log, size)
	for i := range batch {
		batch[i] = &raft.Log{Type: raft.LogCommand}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, l := range batch {
			idx++
			l.Index, l.Data = idx, entries[n%len(entries)]
			n++
		}
		for _, r := range f.ApplyBatch(batch) {
			if res := r.(Result); res.Err != nil {
				b.Fatal(res.Err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/entry")
}

// benchCommands are typical commands of the write paths, by type: an Open
// edX merge-patch, a settings write of the typed dialects, and a token.
var benchCommands = []struct {
	typ  CmdType
	body any
}{
	{CmdPatchPrefs, PatchPrefs{UserID: 4711,
		Set:    []KV{{"pref_1", "another value"}, {"pref_2", "{'nested': [1, 2.5, True, None]}"}, {"time_zone", "Europe/Paris"}},
		Delete: []string{"pref_9"}}},
	{CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeUser, UserID: 4711,
		Values: []KV{{"LABEL_INLINE", "False"}, {"SEARCH_PREVIEW_SHOW_PARTS", "True"}}}},
	{CmdCreateToken, CreateToken{UserID: 4711, Name: "ci <deploy> & more", Digest: make([]byte, 32)}},
}

// BenchmarkEncode measures Encode, which every write calls on the node
// that received it.
func BenchmarkEncode(b *testing.B) {
	for _, c := range benchCommands {
		b.Run(c.typ.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(c.typ, c.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStamp measures Stamp, which the leader calls on every command.
func BenchmarkStamp(b *testing.B) {
	cmd, err := Encode(benchCommands[0].typ, benchCommands[0].body)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		Stamp(cmd, testNow)
	}
}

// BenchmarkDecode measures what Apply does before it changes anything:
// splitting a log entry and decoding its body into the command type.
func BenchmarkDecode(b *testing.B) {
	decode := map[CmdType]func([]byte) Result{
		CmdPatchPrefs:  func(body []byte) Result { return decodeAnd(body, func(*PatchPrefs) Result { return Result{} }) },
		CmdSetSettings: func(body []byte) Result { return decodeAnd(body, func(*SetSettings) Result { return Result{} }) },
		CmdCreateToken: func(body []byte) Result { return decodeAnd(body, func(*CreateToken) Result { return Result{} }) },
	}
	for _, c := range benchCommands {
		b.Run(c.typ.String(), func(b *testing.B) {
			entry := mustEntry(b, testNow, c.typ, c.body)
			fn := decode[c.typ]
			b.ReportAllocs()
			for b.Loop() {
				typ, _, body, err := DecodeEntry(entry)
				if err != nil || typ != c.typ {
					b.Fatalf("DecodeEntry = %v, %v", typ, err)
				}
				if res := fn(body); res.Err != nil {
					b.Fatal(res.Err)
				}
			}
		})
	}
}

// BenchmarkReads measures the queries the read handlers make: one
// preference, all of a user's preferences, and a user by name.
func BenchmarkReads(b *testing.B) {
	f, _ := benchFSM(b)
	s := f.State()
	b.Run("pref", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := s.Pref(uint64(i%benchUsers+1), "lang"); !ok {
				b.Fatal("Pref not found")
			}
			i++
		}
	})
	b.Run("prefs", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if kvs := s.Prefs(uint64(i%benchUsers + 1)); len(kvs) != 3 {
				b.Fatalf("Prefs = %v", kvs)
			}
			i++
		}
	})
	b.Run("user-by-name", func(b *testing.B) {
		names := make([]string, benchUsers)
		for i := range names {
			names[i] = fmt.Sprintf("user%04d", i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := s.UserByName(names[i%benchUsers]); !ok {
				b.Fatal("UserByName not found")
			}
			i++
		}
	})
}

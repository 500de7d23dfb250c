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

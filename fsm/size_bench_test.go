package fsm

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// The size of the state BenchmarkSizeState builds. The defaults are the
// full-size run (1,000,000 preferences over 100,000 users); pass smaller
// values after -args for a quick one. cluster/size_bench_test.go defines
// the same flags, so that one -args list serves both packages.
var (
	sizeUsers       = flag.Int("size.users", 100_000, "users the size benchmarks load")
	sizeKeys        = flag.Int("size.keys", 10, "preferences per user the size benchmarks load")
	sizeValue       = flag.Int("size.value", 32, "average preference value length, in bytes, in the size benchmarks")
	sizeHeapProfile = flag.String("size.heapprofile", "", "write heap profiles of the loaded state to this file, and of the restored state to this file + \".restored\" (BenchmarkSizeState)")
)

// sizeBatch is how many commands the loader applies per ApplyBatch: raft
// hands the state machine at most MaxAppendEntries (256) entries at once.
const sizeBatch = 256

// splitmix64 is a small deterministic mixer, so that the loaded state, and
// with it the snapshot bytes, are the same on every run.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// sizeAlphabet is what generated values are made of.
const sizeAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

// sizeUsername returns the name of the benchmark's user u.
func sizeUsername(u int) string { return fmt.Sprintf("user-%06d", u) }

// sizeKey returns the name of a user's preference k.
func sizeKey(k int) string { return "pref-" + strconv.Itoa(k) }

// sizeValueOf returns the value of user u's preference k: printable ASCII,
// its length spread evenly from 3/4 to 5/4 of avg, the same on every run.
func sizeValueOf(u, k, avg int) string {
	x := splitmix64(uint64(u)<<20 | uint64(k))
	n := avg*3/4 + int(x%uint64(avg/2+1))
	var sb strings.Builder
	sb.Grow(n)
	for i := range n {
		if i%10 == 0 {
			x = splitmix64(x)
		}
		sb.WriteByte(sizeAlphabet[x>>(6*(i%10))&63])
	}
	return sb.String()
}

// sizePatch returns the PatchPrefs command that sets every preference of
// the benchmark's user u, whose id is id: one multi-key patch per user, as
// a dialect's bulk or merge-patch request builds it.
func sizePatch(u int, id uint64) PatchPrefs {
	c := PatchPrefs{UserID: id, Set: make([]KV, *sizeKeys)}
	for k := range c.Set {
		c.Set[k] = KV{Key: sizeKey(k), Value: sizeValueOf(u, k, *sizeValue)}
	}
	return c
}

// sizeRawBytes returns the bytes of the usernames, keys and values the
// benchmark stores: what the state would hold with no overhead at all.
func sizeRawBytes() int64 {
	var raw int64
	for u := range *sizeUsers {
		raw += int64(len(sizeUsername(u)))
		for k := range *sizeKeys {
			raw += int64(len(sizeKey(k)) + len(sizeValueOf(u, k, *sizeValue)))
		}
	}
	return raw
}

// loadSizeState creates the benchmark's users and preferences in f through
// ApplyBatch, sizeBatch stamped entries at a time, as raft would apply
// them, and returns the index of the last entry. Each batch's entries are
// garbage once applied, so only the state stays live.
func loadSizeState(b *testing.B, f *FSM) uint64 {
	b.Helper()
	var idx uint64
	apply := func(logs []*raft.Log) []Result {
		out := make([]Result, len(logs))
		for i, r := range f.ApplyBatch(logs) {
			res, ok := r.(Result)
			if !ok || res.Err != nil {
				b.Fatalf("entry %d: %v", logs[i].Index, r)
			}
			out[i] = res
		}
		return out
	}
	entry := func(typ CmdType, body any) *raft.Log {
		idx++
		return &raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: mustEntry(b, testNow, typ, body)}
	}
	for first := 0; first < *sizeUsers; first += sizeBatch {
		last := min(first+sizeBatch, *sizeUsers)
		logs := make([]*raft.Log, 0, last-first)
		for u := first; u < last; u++ {
			logs = append(logs, entry(CmdCreateUser, CreateUser{Username: sizeUsername(u)}))
		}
		created := apply(logs)
		logs = logs[:0]
		for u := first; u < last; u++ {
			logs = append(logs, entry(CmdPatchPrefs, sizePatch(u, created[u-first].ID)))
		}
		apply(logs)
	}
	return idx
}

// memSample is the process's memory after a full collection.
type memSample struct {
	heapAlloc uint64 // bytes of live heap objects (MemStats.HeapAlloc)
	heapInuse uint64 // bytes in in-use heap spans (MemStats.HeapInuse)
	rss       uint64 // resident set size from /proc/self/statm, 0 if unreadable
}

// sampleMem collects garbage, returns freed memory to the system (so that
// the resident size means something) and reads the heap and resident sizes.
func sampleMem() memSample {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heapAlloc: ms.HeapAlloc, heapInuse: ms.HeapInuse, rss: readRSS()}
}

// readRSS returns the process's resident set size, or 0 where
// /proc/self/statm cannot be read.
func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// memDelta returns after minus before, or 0 if memory shrank.
func memDelta(after, before uint64) uint64 {
	if after < before {
		return 0
	}
	return after - before
}

// mib formats a byte count in MiB for the summary.
func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// sizeFileSink is a raft.SnapshotSink writing to a file, synced on Close as
// raft's file snapshot store does.
type sizeFileSink struct{ *os.File }

var _ raft.SnapshotSink = sizeFileSink{}

func (s sizeFileSink) ID() string    { return filepath.Base(s.Name()) }
func (s sizeFileSink) Cancel() error { return s.File.Close() }

func (s sizeFileSink) Close() error {
	if err := s.Sync(); err != nil {
		_ = s.File.Close()
		return err
	}
	return s.File.Close()
}

// BenchmarkSizeState loads -size.users users with -size.keys preferences
// each into a state machine and reports what holding them costs:
//
//   - memory: the heap in use (and live, and the process's resident size)
//     after a collection, minus the same before loading, per raw byte of
//     usernames, keys and values held;
//   - the snapshot: its size, and the time to take it and persist it to a
//     file (fsynced, as raft's file store does);
//   - restore: the time to rebuild a fresh state machine from that file,
//     and the memory the restored state holds.
//
// Run it once (-benchtime=1x); `make bench-size` does. The whole run is one
// measurement, so ns/op is suppressed. -size.heapprofile writes heap
// profiles taken while the loaded state, then the restored one, is live.
func BenchmarkSizeState(b *testing.B) {
	if *sizeUsers < 1 || *sizeKeys < 1 || *sizeValue < 1 {
		b.Fatalf("-size.users, -size.keys and -size.value must be positive")
	}
	raw := sizeRawBytes()
	prefs := int64(*sizeUsers) * int64(*sizeKeys)

	base := sampleMem()
	f := New(nil)
	start := time.Now()
	idx := loadSizeState(b, f)
	load := time.Since(start)
	loaded := sampleMem()
	if *sizeHeapProfile != "" {
		writeHeapProfile(b, *sizeHeapProfile)
	}
	if got := f.Index(); got != idx {
		b.Fatalf("state at index %d after loading %d entries", got, idx)
	}
	if u, ok := f.State().UserByName(sizeUsername(*sizeUsers - 1)); !ok || u.PrefCount != int64(*sizeKeys) {
		b.Fatalf("last user = %+v, %v; want %d preferences", u, ok, *sizeKeys)
	}

	// Snapshot and persist, as raft does, to a file.
	path := filepath.Join(b.TempDir(), "state.snap")
	file, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	snap, err := f.Snapshot()
	if err != nil {
		b.Fatalf("Snapshot: %v", err)
	}
	if err := snap.Persist(sizeFileSink{file}); err != nil {
		b.Fatalf("Persist: %v", err)
	}
	snap.Release()
	persisted := time.Since(start)
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}

	start = time.Now()
	want, err := f.State().Digest()
	if err != nil {
		b.Fatal(err)
	}
	digestTime := time.Since(start)

	// Restore into a fresh state machine, as a new node does: f and snap
	// are not used past this point, so the loaded state is garbage and the
	// restored one reuses its memory.
	in, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	restoredFSM := New(nil)
	start = time.Now()
	if err := restoredFSM.Restore(in); err != nil {
		b.Fatalf("Restore: %v", err)
	}
	restore := time.Since(start)
	restored := sampleMem()
	if *sizeHeapProfile != "" {
		writeHeapProfile(b, *sizeHeapProfile+".restored")
	}
	got, err := restoredFSM.State().Digest()
	if err != nil {
		b.Fatal(err)
	}
	if got != want {
		b.Fatalf("restored state digest %s, loaded state %s", got, want)
	}
	runtime.KeepAlive(restoredFSM)

	inuse := memDelta(loaded.heapInuse, base.heapInuse)
	live := memDelta(loaded.heapAlloc, base.heapAlloc)
	restoredInuse := memDelta(restored.heapInuse, base.heapInuse)
	restoredLive := memDelta(restored.heapAlloc, base.heapAlloc)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(raw), "raw-B")
	b.ReportMetric(float64(inuse), "heap-inuse-B")
	b.ReportMetric(float64(live), "heap-live-B")
	b.ReportMetric(float64(inuse)/float64(raw), "inuse/raw")
	b.ReportMetric(float64(live)/float64(raw), "live/raw")
	b.ReportMetric(float64(inuse)/float64(prefs), "inuse-B/pref")
	b.ReportMetric(float64(restoredInuse)/float64(raw), "restored-inuse/raw")
	b.ReportMetric(float64(restoredLive)/float64(raw), "restored-live/raw")
	b.ReportMetric(float64(info.Size()), "snapshot-B")
	b.ReportMetric(persisted.Seconds(), "snapshot-s")
	b.ReportMetric(restore.Seconds(), "restore-s")
	b.ReportMetric(load.Seconds(), "load-s")
	rssLine := "resident size: /proc/self/statm not readable"
	if base.rss > 0 && loaded.rss > 0 {
		rss := memDelta(loaded.rss, base.rss)
		b.ReportMetric(float64(rss), "rss-B")
		b.ReportMetric(float64(rss)/float64(raw), "rss/raw")
		rssLine = fmt.Sprintf("resident size:  %s before, %s loaded, %s restored: +%s (%.2fx raw)",
			mib(base.rss), mib(loaded.rss), mib(restored.rss), mib(rss), float64(rss)/float64(raw))
	}
	b.Logf("state size: %d users x %d preferences = %d preferences, values ~%d bytes, applied as %d entries in %v",
		*sizeUsers, *sizeKeys, prefs, *sizeValue, idx, load.Round(time.Millisecond))
	b.Logf("raw bytes:      %d (%s) of usernames, keys and values", raw, mib(uint64(raw)))
	b.Logf("heap in use:    %s before, %s loaded: +%s = %.2fx raw, %.0f B per preference",
		mib(base.heapInuse), mib(loaded.heapInuse), mib(inuse), float64(inuse)/float64(raw), float64(inuse)/float64(prefs))
	b.Logf("heap live:      %s before, %s loaded: +%s = %.2fx raw",
		mib(base.heapAlloc), mib(loaded.heapAlloc), mib(live), float64(live)/float64(raw))
	b.Logf("%s", rssLine)
	b.Logf("snapshot:       %d bytes (%s, %.2fx raw), Snapshot+Persist to a file in %v",
		info.Size(), mib(uint64(info.Size())), float64(info.Size())/float64(raw), persisted.Round(time.Millisecond))
	b.Logf("restore:        %v into a fresh FSM; restored heap in use +%s = %.2fx raw, live +%s = %.2fx raw",
		restore.Round(time.Millisecond), mib(restoredInuse), float64(restoredInuse)/float64(raw),
		mib(restoredLive), float64(restoredLive)/float64(raw))
	b.Logf("digest:         %v to compute State.Digest (sha256 %s...)", digestTime.Round(time.Millisecond), want[:16])
}

// writeHeapProfile writes a heap profile as of the last collection.
func writeHeapProfile(b *testing.B, path string) {
	b.Helper()
	out, err := os.Create(path)
	if err != nil {
		b.Fatalf("-size.heapprofile: %v", err)
	}
	defer out.Close()
	if err := pprof.WriteHeapProfile(out); err != nil {
		b.Fatalf("-size.heapprofile: %v", err)
	}
	b.Logf("heap profile written to %s", path)
}

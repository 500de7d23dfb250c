package cluster_test

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// The size of the state BenchmarkSizeCatchUp loads. fsm/size_bench_test.go
// defines the same flags with the same defaults, so that one -args list
// serves both packages.
var (
	sizeUsers = flag.Int("size.users", 100_000, "users the size benchmarks load")
	sizeKeys  = flag.Int("size.keys", 10, "preferences per user the size benchmarks load")
	sizeValue = flag.Int("size.value", 32, "average preference value length, in bytes, in the size benchmarks")
)

const (
	// sizeClients is how many writers load the leader at once: enough to
	// fill raft's batches of MaxAppendEntries (256) entries per fsync.
	sizeClients = 256
	// catchUpLimit bounds the wait for the new node, so that a node that
	// never catches up fails the benchmark instead of hanging it. It is a
	// guard, not an expectation.
	catchUpLimit = 15 * time.Minute
)

// splitmix64 is a small deterministic mixer, so that the loaded state is the
// same on every run. It is fsm/size_bench_test.go's, which another package
// cannot import.
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

// sizePatch returns the command that sets every preference of the
// benchmark's user u, whose id is id: one multi-key patch per user, as a
// dialect's bulk or merge-patch request builds it.
func sizePatch(u int, id uint64) fsm.PatchPrefs {
	c := fsm.PatchPrefs{UserID: id, Set: make([]fsm.KV, *sizeKeys)}
	for k := range c.Set {
		c.Set[k] = fsm.KV{Key: "pref-" + strconv.Itoa(k), Value: sizeValueOf(u, k, *sizeValue)}
	}
	return c
}

// loadUser creates the benchmark's user u through n and sets its
// preferences in one patch. It may run on any goroutine.
func loadUser(n *testnode.Node, u int, logf func(string, ...any)) error {
	cmd, err := fsm.Encode(fsm.CmdCreateUser, fsm.CreateUser{Username: sizeUsername(u)})
	if err != nil {
		return err
	}
	res, _, failed, err := tryApply(n, cmd, logf)
	if err != nil {
		return fmt.Errorf("create %s: %w", sizeUsername(u), err)
	}
	id := res.ID
	switch {
	case failed > 0 && isFSMError(res.Err, fsm.ErrUserExists):
		// An attempt of unknown outcome did create it; n leads, so its
		// own state has it.
		usr, ok := n.FSM().State().UserByName(sizeUsername(u))
		if !ok {
			return fmt.Errorf("create %s: exists, yet not found", sizeUsername(u))
		}
		id = usr.ID
	case res.Err != nil:
		return fmt.Errorf("create %s: refused: %v", sizeUsername(u), res.Err)
	}
	if cmd, err = fsm.Encode(fsm.CmdPatchPrefs, sizePatch(u, id)); err != nil {
		return err
	}
	res, _, _, err = tryApply(n, cmd, logf)
	if err == nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		return fmt.Errorf("set preferences of %s: %w", sizeUsername(u), err)
	}
	return nil
}

// loadThroughRaft loads every user of the benchmark through the leader
// with sizeClients concurrent writers.
func loadThroughRaft(b *testing.B, leader *testnode.Node) {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range sizeClients {
		wg.Go(func() {
			for failed.Load() == nil {
				u := int(next.Add(1)) - 1
				if u >= *sizeUsers {
					return
				}
				if err := loadUser(leader, u, b.Logf); err != nil {
					failed.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
}

// freeRaftAddr returns a loopback address with a port that was free a
// moment ago.
func freeRaftAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// openNewcomer opens an empty node that neither bootstraps nor joins by
// itself: raft only, with testnode's timeouts, waiting to be added. It has
// no HTTP server; the leader reaches it over raft alone.
func openNewcomer(b *testing.B, id string, leader *testnode.Node, logs *syncBuffer) *cluster.Node {
	b.Helper()
	cfg := config.Default()
	cfg.NodeID = id
	cfg.HTTPAddr = freeRaftAddr(b)
	cfg.RaftAddr = freeRaftAddr(b)
	cfg.DataDir = b.TempDir()
	cfg.Join = []string{leader.Addr} // so that it does not bootstrap; it never calls JoinCluster
	cfg.ClusterKey = testnode.ClusterKey
	cfg.HeartbeatTimeout = 150 * time.Millisecond
	cfg.ElectionTimeout = 150 * time.Millisecond
	cfg.LeaderWait = 5 * time.Second
	cfg.LogLevel = "warn"
	if err := cfg.Validate(); err != nil {
		b.Fatalf("newcomer config: %v", err)
	}
	n, err := cluster.Open(cfg, cluster.Options{RaftLogOutput: logs})
	if err != nil {
		b.Fatalf("open newcomer: %v", err)
	}
	b.Cleanup(func() {
		if err := n.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			b.Logf("newcomer: close: %v", err)
		}
	})
	return n
}

// BenchmarkSizeCatchUp measures how long a new node takes to catch up with
// a leader holding -size.users users with -size.keys preferences each.
//
// A one-node cluster (real TCP, raft-boltdb in a temp dir, as testnode
// runs it) is loaded through raft, one CreateUser and one multi-key
// PatchPrefs per user, by sizeClients concurrent writers; the leader then
// takes a raft snapshot, which compacts its log, so a new node can only
// catch up by installing that snapshot. An empty node is then added as a
// nonvoter (a voter added to a one-node cluster would stall commits until
// it caught up), and the benchmark reports the time from AddNonvoter until
// the newcomer's state machine holds the leader's index with the same
// State.Digest, and when the snapshot restore landed on the way.
//
// Run it once (-benchtime=1x); `make bench-size` does. ns/op is suppressed.
func BenchmarkSizeCatchUp(b *testing.B) {
	if *sizeUsers < 1 || *sizeKeys < 1 || *sizeValue < 1 {
		b.Fatalf("-size.users, -size.keys and -size.value must be positive")
	}
	nodes := testnode.StartCluster(b, 1, func(c *config.Config) {
		// No snapshot but the one taken below, and a short log tail
		// after it, so that even a small run catches up by snapshot.
		c.SnapshotInterval = time.Hour
		c.TrailingLogs = 64
	})
	leader := testnode.WaitLeader(b, nodes)

	start := time.Now()
	first := leader.FSM().Index()
	loadThroughRaft(b, leader)
	load := time.Since(start)
	entries := leader.FSM().Index() - first

	start = time.Now()
	snap := leader.Raft().Snapshot()
	if err := snap.Error(); err != nil {
		b.Fatalf("raft snapshot: %v", err)
	}
	snapTime := time.Since(start)
	meta, rc, err := snap.Open()
	if err != nil {
		b.Fatalf("open raft snapshot: %v", err)
	}
	_ = rc.Close()

	logs := &syncBuffer{}
	newcomer := openNewcomer(b, "newcomer", leader, logs)

	start = time.Now()
	add := leader.Raft().AddNonvoter(raft.ServerID(newcomer.ID()), raft.ServerAddress(newcomer.RaftAddr()), 0, 0)
	if err := add.Error(); err != nil {
		b.Fatalf("add nonvoter: %v", err)
	}
	var restored, caughtUp time.Duration
	var digest cluster.Digest
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		idx := newcomer.FSM().Index()
		if restored == 0 && idx > 0 {
			// An empty node's index moves first when the snapshot is
			// restored.
			restored = time.Since(start)
		}
		if idx >= add.Index() && idx == leader.FSM().Index() {
			at := time.Since(start)
			got, err := newcomer.StateDigest()
			if err != nil {
				b.Fatal(err)
			}
			want, err := leader.StateDigest()
			if err != nil {
				b.Fatal(err)
			}
			if got.FSMIndex == want.FSMIndex && got.SHA256 == want.SHA256 {
				caughtUp, digest = at, want
				break
			}
		}
		if time.Since(start) > catchUpLimit {
			b.Fatalf("newcomer at index %d, leader at %d after %v; newcomer's raft log:\n%s",
				idx, leader.FSM().Index(), catchUpLimit, logs.String())
		}
		<-tick.C
	}
	installed := bareRaftStat(b, newcomer, "last_snapshot_index")

	prefs := int64(*sizeUsers) * int64(*sizeKeys)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(entries)/load.Seconds(), "load-entries/s")
	b.ReportMetric(snapTime.Seconds(), "raft-snapshot-s")
	b.ReportMetric(float64(meta.Size), "snapshot-B")
	b.ReportMetric(restored.Seconds(), "restored-s")
	b.ReportMetric(caughtUp.Seconds(), "catchup-s")
	b.Logf("loaded %d users x %d preferences = %d preferences through raft: %d entries in %v (%.0f entries/s, %d writers)",
		*sizeUsers, *sizeKeys, prefs, entries, load.Round(time.Millisecond), float64(entries)/load.Seconds(), sizeClients)
	b.Logf("raft snapshot:  index %d, %d bytes (%.1f MiB), taken in %v",
		meta.Index, meta.Size, float64(meta.Size)/(1<<20), snapTime.Round(time.Millisecond))
	b.Logf("new nonvoter:   snapshot restored %v after AddNonvoter, caught up (index %d, digest %s...) after %v",
		restored.Round(time.Millisecond), digest.FSMIndex, digest.SHA256[:16], caughtUp.Round(time.Millisecond))
	if installed == 0 {
		b.Logf("note: the newcomer caught up from the log, not by installing a snapshot")
	}
}

// bareRaftStat is helpers_test.go's raftStat for a node without testnode.
func bareRaftStat(b *testing.B, n *cluster.Node, name string) uint64 {
	b.Helper()
	v, err := strconv.ParseUint(n.Raft().Stats()[name], 10, 64)
	if err != nil {
		b.Fatalf("raft stat %s of %s: %v", name, n.ID(), err)
	}
	return v
}

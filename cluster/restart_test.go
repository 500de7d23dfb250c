package cluster_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// Stopping every node and starting them again from their data directories
// brings the whole state back.
func TestRestartAllNodes(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	testnode.WaitLeader(t, nodes)
	uid := createUser(t, nodes[0], "restart")
	const n = 30
	for i := range n {
		setPref(t, nodes[i%len(nodes)], uid, fmt.Sprintf("k%02d", i), fmt.Sprintf("v%02d", i))
	}
	leader := testnode.WaitLeader(t, nodes)
	waitConverged(t, leader, nodes)
	want := stateBytes(t, leader.FSM().State())
	wantIndex := leader.FSM().Index()

	for _, node := range nodes {
		node.Stop()
	}
	for i, node := range nodes {
		nodes[i] = node.Restart(t)
	}
	leader = testnode.WaitLeader(t, nodes)
	for _, node := range nodes {
		st := readLinearizable(t, node)
		if st.Index() < wantIndex {
			t.Errorf("node %s at index %d after restart, had %d", node.ID(), st.Index(), wantIndex)
		}
		u, ok := st.UserByID(uid)
		if !ok || u.PrefCount != n {
			t.Fatalf("node %s: user %d after restart: %+v, %v", node.ID(), uid, u, ok)
		}
		for i := range n {
			k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("v%02d", i)
			if got, ok := st.Pref(uid, k); !ok || got != v {
				t.Errorf("node %s: %s = %q, %v; want %q", node.ID(), k, got, ok, v)
			}
		}
		if len(st.Members()) != 3 {
			t.Errorf("node %s: %d members after restart, want 3", node.ID(), len(st.Members()))
		}
	}
	waitConverged(t, leader, nodes)
	// Nothing but the state before the restart: no command was replayed
	// twice or lost. New leaders may add entries (barriers, housekeeping)
	// that move the index, but not the data, so compare at the data level.
	got := stateBytes(t, leader.FSM().State())
	if stripIndex(got) != stripIndex(want) {
		t.Errorf("state after restart differs:\n%s\nbefore:\n%s", got, want)
	}
	// The cluster takes writes again.
	setPref(t, testnode.Followers(nodes)[0], uid, "after", "restart")
}

// stripIndex drops the header line, which carries the applied index, from
// an encoded state.
func stripIndex(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// With frequent snapshots and short trailing logs: a restarted follower
// restores from its snapshot, and a follower that was down while the leader
// compacted its log past it catches up through InstallSnapshot.
func TestSnapshotRestoreAndInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 400 entries")
	}
	snapCfg := func(c *config.Config) {
		c.SnapshotThreshold = 20
		c.TrailingLogs = 10
		// Raft checks the threshold every SnapshotInterval (randomised up
		// to twice that); the default of two minutes would outlast the test.
		c.SnapshotInterval = 50 * time.Millisecond
	}
	nodes := testnode.StartCluster(t, 3, snapCfg)
	leader := testnode.WaitLeader(t, nodes)
	uid := createUser(t, leader, "snap")

	write := func(from, count int) {
		t.Helper()
		// Eight writers keep raft's batches full, as real load would.
		var wg sync.WaitGroup
		errs := make(chan error, count)
		next := make(chan int, count)
		for i := from; i < from+count; i++ {
			next <- i
		}
		close(next)
		live := leader
		for range 8 {
			wg.Go(func() {
				for i := range next {
					cmd, _ := fsm.Encode(fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: fmt.Sprintf("k%03d", i), Value: fmt.Sprintf("v%03d", i)}}})
					res, _, _, err := tryApply(live, cmd, t.Logf)
					if err == nil && res.Err != nil {
						err = res.Err
					}
					if err != nil {
						errs <- fmt.Errorf("write %d: %w", i, err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	checkAll := func(t *testing.T, n *testnode.Node, st *fsm.State, count int) {
		t.Helper()
		u, ok := st.UserByID(uid)
		if !ok || u.PrefCount != int64(count) {
			t.Fatalf("node %s: user %+v, %v; want %d preferences", n.ID(), u, ok, count)
		}
		for i := range count {
			if v, ok := st.Pref(uid, fmt.Sprintf("k%03d", i)); !ok || v != fmt.Sprintf("v%03d", i) {
				t.Fatalf("node %s: k%03d = %q, %v", n.ID(), i, v, ok)
			}
		}
	}

	write(0, 200)
	testnode.Eventually(t, convergeFor, func() error {
		for _, n := range nodes {
			if s := n.Raft().Stats()["last_snapshot_index"]; s == "0" || s == "" {
				return fmt.Errorf("node %s has taken no snapshot yet", n.ID())
			}
		}
		return nil
	})

	t.Run("restart-restores", func(t *testing.T) {
		f := testnode.Followers(nodes)[0]
		waitConverged(t, leader, nodes)
		snapIdx := raftStat(t, f, "last_snapshot_index")
		i := indexOf(nodes, f)
		f = f.Restart(t)
		nodes[i] = f
		// Raft restores the latest snapshot while it opens, before it has
		// heard from the leader: the state is there at once.
		if got := raftStat(t, f, "last_snapshot_index"); got < snapIdx {
			t.Fatalf("restarted %s has snapshot %d, had %d", f.ID(), got, snapIdx)
		}
		st := f.FSM().State()
		if st.Index() == 0 {
			t.Fatalf("restarted %s holds an empty state: the snapshot was not restored", f.ID())
		}
		if u, ok := st.UserByID(uid); !ok || u.PrefCount == 0 {
			t.Fatalf("restarted %s: restored state lacks the user's preferences: %+v, %v", f.ID(), u, ok)
		}
		leader = testnode.WaitLeader(t, nodes)
		waitConverged(t, leader, nodes)
		checkAll(t, f, readLinearizable(t, f), 200)
	})

	t.Run("install-snapshot", func(t *testing.T) {
		leader = testnode.WaitLeader(t, nodes)
		f := testnode.Followers(nodes)[0]
		stopIdx := f.Raft().LastIndex()
		f.Stop()
		write(200, 200)
		// Wait until the leader has compacted its log past what the
		// stopped follower holds: it compacts up to TrailingLogs behind
		// its latest snapshot at most, so a snapshot 20 entries on is
		// well past it.
		testnode.Eventually(t, convergeFor, func() error {
			if s := raftStat(t, leader, "last_snapshot_index"); s <= stopIdx+20 {
				return fmt.Errorf("leader's snapshot at %d, follower stopped at %d", s, stopIdx)
			}
			return nil
		})

		logs := &syncBuffer{}
		f.Opts.Logs = logs
		f.Opts.Configure = func(c *config.Config) {
			snapCfg(c)
			c.LogLevel = "debug" // raft logs an installed snapshot at info
		}
		i := indexOf(nodes, f)
		f = f.Restart(t)
		nodes[i] = f
		waitConverged(t, leader, nodes)
		if want, got := stateBytes(t, leader.FSM().State()), stateBytes(t, f.FSM().State()); string(want) != string(got) {
			t.Fatalf("follower %s differs from leader after install", f.ID())
		}
		checkAll(t, f, readLinearizable(t, f), 400)
		if !strings.Contains(logs.String(), "Installed remote snapshot") {
			t.Errorf("follower %s caught up without installing a snapshot; raft log:\n%s", f.ID(), logs.String())
		}
		if got := raftStat(t, f, "last_snapshot_index"); got <= stopIdx {
			t.Errorf("follower %s's latest snapshot is at %d, not past %d where it stopped", f.ID(), got, stopIdx)
		}
	})
}

func indexOf(nodes []*testnode.Node, n *testnode.Node) int {
	for i, m := range nodes {
		if m == n {
			return i
		}
	}
	return -1
}

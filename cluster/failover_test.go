package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// When the leader stops, the others elect a new one, writes through a
// survivor succeed, and no acknowledged write is lost; the old leader,
// restarted, catches up to the same state.
func TestLeaderFailover(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	old := testnode.WaitLeader(t, nodes)
	uid := createUser(t, old, "failover")

	// Acknowledged writes through every node, leader and followers.
	acked := map[string]string{}
	for i := range 12 {
		n := nodes[i%len(nodes)]
		k, v := fmt.Sprintf("before-%02d", i), fmt.Sprintf("via-%s", n.ID())
		setPref(t, n, uid, k, v)
		acked[k] = v
	}
	oldTerm := old.Raft().CurrentTerm()

	// Writers keep writing through both followers while the leader stops.
	// Every write they see acknowledged must survive; a write whose outcome
	// is unknown may or may not.
	var (
		mu         sync.Mutex
		unknown    int
		unexpected []string
		wg         sync.WaitGroup
	)
	countAcked := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	stopWriters := make(chan struct{})
	for w, f := range testnode.Followers(nodes) {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopWriters:
					return
				default:
				}
				k, v := fmt.Sprintf("during-%d-%03d", w, i), "via-"+f.ID()
				cmd, _ := fsm.Encode(fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: k, Value: v}}})
				ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
				res, _, err := f.Apply(ctx, cmd)
				cancel()
				mu.Lock()
				switch {
				case err == nil && res.Err == nil:
					acked[k] = v
				case err == nil:
					unexpected = append(unexpected, fmt.Sprintf("%s refused: %v", k, res.Err))
				case errors.Is(err, cluster.ErrUnknownOutcome), errors.Is(err, cluster.ErrNoLeader):
					unknown++
				default:
					unexpected = append(unexpected, fmt.Sprintf("%s via %s: %v", k, f.ID(), err))
				}
				mu.Unlock()
			}
		})
	}
	base := countAcked()
	testnode.Eventually(t, convergeFor, func() error {
		if n := countAcked(); n < base+4 {
			return fmt.Errorf("%d writes acknowledged before the stop", n-base)
		}
		return nil
	})

	old.Stop()
	survivors := without(nodes, old)
	leader := testnode.WaitLeader(t, survivors)
	if leader == old {
		t.Fatal("the stopped node is still the leader")
	}
	if term := leader.Raft().CurrentTerm(); term <= oldTerm {
		t.Fatalf("new leader %s in term %d, old leader's term was %d", leader.ID(), term, oldTerm)
	}
	// The writers get through the new leader too.
	base = countAcked()
	testnode.Eventually(t, convergeFor, func() error {
		if n := countAcked(); n < base+4 {
			return fmt.Errorf("%d writes acknowledged since the new leader was elected", n-base)
		}
		return nil
	})
	close(stopWriters)
	wg.Wait()
	for _, u := range unexpected {
		t.Error(u)
	}
	t.Logf("%d writes acknowledged, %d with unknown outcome", len(acked), unknown)
	followers := testnode.Followers(survivors)
	if len(followers) != 1 {
		t.Fatalf("want 1 surviving follower, got %d", len(followers))
	}
	f := followers[0]

	// Writes through the surviving follower and the new leader succeed.
	for i := range 6 {
		n := survivors[i%2]
		if i == 0 {
			n = f
		}
		k, v := fmt.Sprintf("after-%02d", i), fmt.Sprintf("via-%s", n.ID())
		setPref(t, n, uid, k, v)
		acked[k] = v
	}
	checkPrefs := func(t *testing.T, n *testnode.Node, st *fsm.State) {
		t.Helper()
		for k, v := range acked {
			if got, ok := st.Pref(uid, k); !ok || got != v {
				t.Errorf("node %s: %s = %q, %v; want %q", n.ID(), k, got, ok, v)
			}
		}
		// Writes of unknown outcome may have been committed too.
		if u, ok := st.UserByID(uid); !ok || u.PrefCount < int64(len(acked)) || u.PrefCount > int64(len(acked)+unknown) {
			t.Errorf("node %s: user %d has %+v, want %d to %d preferences", n.ID(), uid, u, len(acked), len(acked)+unknown)
		}
	}
	for _, n := range survivors {
		checkPrefs(t, n, readLinearizable(t, n))
	}

	// The old leader comes back as a follower and catches up.
	restarted := old.Restart(t)
	all := append(survivors, restarted)
	leader = testnode.WaitLeader(t, all)
	waitConverged(t, leader, all)
	checkPrefs(t, restarted, restarted.FSM().State())
	checkPrefs(t, restarted, readLinearizable(t, restarted))
}

// A leader cut off from its quorum must neither serve a linearizable read
// nor acknowledge a write, however soon after the cut it is asked.
func TestIsolatedLeaderRefusesReadsAndWrites(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	uid := createUser(t, leader, "isolated")
	setPref(t, leader, uid, "k", "before")

	for _, f := range testnode.Followers(nodes) {
		f.Stop()
	}

	const bound = 3 * time.Second
	type outcome struct {
		what string
		err  error
		info string
	}
	results := make(chan outcome, 2)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		st, err := leader.Read(ctx, cluster.Linearizable)
		info := ""
		if st != nil {
			info = fmt.Sprintf("state at index %d", st.Index())
		}
		results <- outcome{"linearizable read", err, info}
	}()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		cmd, _ := fsm.Encode(fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: "k", Value: "after"}}})
		res, idx, err := leader.Apply(ctx, cmd)
		results <- outcome{"write", err, fmt.Sprintf("result %+v at index %d", res, idx)}
	}()
	for range 2 {
		o := <-results
		if o.err == nil {
			t.Errorf("isolated leader served a %s: %s", o.what, o.info)
			continue
		}
		// The error must say the cluster could not do it, not something
		// unrelated.
		if !errors.Is(o.err, cluster.ErrNoLeader) && !errors.Is(o.err, cluster.ErrUnknownOutcome) &&
			!errors.Is(o.err, cluster.ErrTimeout) && !errors.Is(o.err, cluster.ErrNotLeader) {
			t.Errorf("isolated leader's %s failed with %v, want a cluster sentinel", o.what, o.err)
		}
		t.Logf("%s refused after %v: %v", o.what, time.Since(start).Round(time.Millisecond), o.err)
	}
	// The bound is the context's, plus shutdown slack: the calls did not
	// hang past their deadline.
	if el := time.Since(start); el > bound+2*time.Second {
		t.Errorf("calls took %v, beyond their %v deadline", el, bound)
	}

	// A stale read is still served, from the node's own state, and the
	// refused write is not in it.
	st, err := leader.Read(context.Background(), cluster.Stale)
	if err != nil {
		t.Fatalf("stale read on the isolated node: %v", err)
	}
	if v, _ := st.Pref(uid, "k"); v != "before" {
		t.Errorf("isolated node's state has k = %q, want %q", v, "before")
	}
	if leader.IsLeader() {
		t.Errorf("node %s still believes it leads with no quorum", leader.ID())
	}
}

package cluster_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// memberIDs returns the node ids of the raft configuration as n sees it.
func memberIDs(n *testnode.Node) ([]string, error) {
	st, err := n.Status()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, m := range st.Members {
		ids = append(ids, m.NodeID)
	}
	slices.Sort(ids)
	return ids, nil
}

func directoryIDs(st *fsm.State) []string {
	var ids []string
	for _, m := range st.Members() {
		ids = append(ids, m.NodeID)
	}
	return ids
}

func TestJoinIsIdempotentAndRemove(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	followers := testnode.Followers(nodes)

	// The node to remove: n3, unless it happens to lead.
	target := byID(t, nodes, "n3")
	if target == leader {
		target = followers[0]
	}
	via := without(followers, target)[0] // a follower that stays

	t.Run("join-existing-is-noop", func(t *testing.T) {
		lastIndex := leader.Raft().LastIndex()
		fsmIndex := leader.FSM().Index()
		before, err := memberIDs(leader)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range nodes {
			req := cluster.JoinRequest{NodeID: m.ID(), RaftAddr: m.RaftAddr(), APIAddr: m.Addr}
			for _, through := range []*testnode.Node{leader, via} {
				if err := through.Join(opCtx(t), req); err != nil {
					t.Fatalf("join %s again through %s: %v", m.ID(), through.ID(), err)
				}
			}
		}
		// Nothing was written: no configuration change, no directory entry.
		if got := leader.Raft().LastIndex(); got != lastIndex {
			t.Errorf("leader's last index moved from %d to %d on repeated joins", lastIndex, got)
		}
		if got := leader.FSM().Index(); got != fsmIndex {
			t.Errorf("leader's state moved from index %d to %d on repeated joins", fsmIndex, got)
		}
		after, err := memberIDs(leader)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(before, after) || len(after) != 3 {
			t.Errorf("members %v before repeated joins, %v after", before, after)
		}
	})

	t.Run("join-bad-request", func(t *testing.T) {
		for _, req := range []cluster.JoinRequest{
			{RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2"},
			{NodeID: "x", APIAddr: "127.0.0.1:2"},
			{NodeID: "x", RaftAddr: "127.0.0.1:1"},
		} {
			if err := via.Join(opCtx(t), req); !errors.Is(err, cluster.ErrBadRequest) {
				t.Errorf("Join(%+v) = %v, want ErrBadRequest", req, err)
			}
		}
	})

	t.Run("remove-unknown", func(t *testing.T) {
		// Through the leader, and through a follower, whose call carries
		// the leader's answer back over the wire.
		for _, through := range []*testnode.Node{leader, via} {
			if err := through.Remove(opCtx(t), "no-such-node"); !errors.Is(err, cluster.ErrNotFound) {
				t.Errorf("Remove(unknown) through %s = %v, want ErrNotFound", role(through), err)
			}
		}
	})

	t.Run("remove", func(t *testing.T) {
		if err := via.Remove(opCtx(t), target.ID()); err != nil {
			t.Fatalf("Remove(%s) through %s: %v", target.ID(), via.ID(), err)
		}
		rest := without(nodes, target)
		testnode.Eventually(t, convergeFor, func() error {
			for _, n := range rest {
				ids, err := memberIDs(n)
				if err != nil {
					return err
				}
				if slices.Contains(ids, target.ID()) || len(ids) != 2 {
					return fmt.Errorf("node %s: raft members %v", n.ID(), ids)
				}
				if d := directoryIDs(n.FSM().State()); slices.Contains(d, target.ID()) || len(d) != 2 {
					return fmt.Errorf("node %s: member directory %v", n.ID(), d)
				}
			}
			return nil
		})
		// The two that remain still form a quorum.
		leader := testnode.WaitLeader(t, rest)
		uid := createUser(t, without(rest, leader)[0], "after-remove")
		for _, n := range rest {
			if _, ok := readLinearizable(t, n).UserByID(uid); !ok {
				t.Errorf("node %s misses a write made after the removal", n.ID())
			}
		}
		// Removing it again: it is no longer anywhere.
		if err := leader.Remove(opCtx(t), target.ID()); !errors.Is(err, cluster.ErrNotFound) {
			t.Errorf("second Remove(%s) = %v, want ErrNotFound", target.ID(), err)
		}
	})
}

// Every node reports the same leader, and the member list of each names
// every node with its own addresses.
func TestStatus(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	testnode.Eventually(t, convergeFor, func() error {
		for _, n := range nodes {
			st, err := n.Status()
			if err != nil {
				return fmt.Errorf("status of %s: %v", n.ID(), err)
			}
			if st.NodeID != n.ID() || st.LeaderID != leader.ID() || st.LeaderAddr != leader.Addr {
				return fmt.Errorf("node %s: status %+v; leader is %s at %s", n.ID(), st, leader.ID(), leader.Addr)
			}
			wantState := "Follower"
			if n == leader {
				wantState = "Leader"
			}
			if st.State != wantState || st.Term == 0 || st.FSMIndex == 0 || st.AppliedIndex < st.FSMIndex {
				return fmt.Errorf("node %s: status %+v", n.ID(), st)
			}
			if (n == leader) != (st.LastContact == "") {
				return fmt.Errorf("node %s: last contact %q", n.ID(), st.LastContact)
			}
			if len(st.Members) != len(nodes) {
				return fmt.Errorf("node %s lists %d members", n.ID(), len(st.Members))
			}
			leaders := 0
			for _, m := range st.Members {
				want := byID(t, nodes, m.NodeID)
				if m.RaftAddr != want.RaftAddr() || m.APIAddr != want.Addr || m.Suffrage != "Voter" {
					return fmt.Errorf("node %s lists %+v; want raft %s, api %s, voter", n.ID(), m, want.RaftAddr(), want.Addr)
				}
				if m.Leader {
					leaders++
					if m.NodeID != leader.ID() {
						return fmt.Errorf("node %s marks %s as leader", n.ID(), m.NodeID)
					}
				}
			}
			if leaders != 1 {
				return fmt.Errorf("node %s marks %d leaders", n.ID(), leaders)
			}
			if err := n.Ready(); err != nil {
				return fmt.Errorf("node %s not ready: %v", n.ID(), err)
			}
		}
		return nil
	})
}

// A node that comes back with the same id but a new address and no state
// (a replaced machine) joins in place of its old entry.
func TestRejoinAtNewAddress(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	old := testnode.Followers(nodes)[0]
	uid := createUser(t, leader, "rejoin")
	setPref(t, leader, uid, "k", "v")

	via := without(nodes, old, leader)[0] // joins through a follower, which forwards

	old.Stop()
	fresh := testnode.Start(t, testnode.Options{ID: old.ID(), Join: []string{via.Addr}})
	if fresh.RaftAddr() == old.RaftAddr() || fresh.Addr == old.Addr {
		t.Fatalf("the new node reuses an address: raft %s, http %s", fresh.RaftAddr(), fresh.Addr)
	}
	all := append(without(nodes, old), fresh)
	testnode.Eventually(t, convergeFor, func() error {
		for _, n := range without(all, fresh) {
			st, err := n.Status()
			if err != nil {
				return err
			}
			found := 0
			for _, m := range st.Members {
				if m.NodeID == fresh.ID() {
					found++
					if m.RaftAddr != fresh.RaftAddr() || m.APIAddr != fresh.Addr {
						return fmt.Errorf("node %s lists %+v, want raft %s, api %s", n.ID(), m, fresh.RaftAddr(), fresh.Addr)
					}
				}
			}
			if found != 1 || len(st.Members) != 3 {
				return fmt.Errorf("node %s lists members %+v", n.ID(), st.Members)
			}
		}
		return nil
	})
	leader = testnode.WaitLeader(t, all)
	waitConverged(t, leader, all)
	if v, ok := readLinearizable(t, fresh).Pref(uid, "k"); !ok || v != "v" {
		t.Fatalf("the new node lacks earlier data: %q, %v", v, ok)
	}
	// And it takes part: a write through it is seen everywhere.
	idx := setPref(t, fresh, uid, "from-fresh", "yes")
	for _, n := range all {
		if st := readLinearizable(t, n); st.Index() < idx {
			t.Errorf("node %s at %d, write at %d", n.ID(), st.Index(), idx)
		}
	}
}

package cluster_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/internal/testnode"
)

func confirmations(t *testing.T, n *testnode.Node, method string) float64 {
	t.Helper()
	return mustMetric(t, n.Registry, "prefsd_raft_read_confirmations_total", map[string]string{"method": method})
}

// Linearizable reads are confirmed by asking the voters for their term, with
// no raft entry, as long as a quorum answers; the leader's term is what every
// node reports.
func TestLinearizableReadsConfirmByTerm(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	uid := createUser(t, leader, "confirm")
	setPref(t, leader, uid, "k", "v1")

	for _, n := range nodes {
		if got, want := n.Term().Term, leader.Raft().CurrentTerm(); got != want {
			t.Errorf("%s reports term %d, the leader's is %d", n.ID(), got, want)
		}
	}

	lastIndex := leader.Raft().LastIndex()
	for _, n := range nodes {
		st := readLinearizable(t, n)
		if v, _ := st.Pref(uid, "k"); v != "v1" {
			t.Errorf("linearizable read on %s: k = %q, want v1", n.ID(), v)
		}
	}
	if got := confirmations(t, leader, "term"); got < 1 {
		t.Errorf("term confirmations = %v, want at least 1", got)
	}
	if got := confirmations(t, leader, "barrier"); got != 0 {
		t.Errorf("barrier confirmations = %v, want 0", got)
	}
	if got := leader.Raft().LastIndex(); got != lastIndex {
		t.Errorf("reads appended to the raft log: last index %d, was %d", got, lastIndex)
	}

	// With one follower gone the other still makes a quorum.
	gone := testnode.Followers(nodes)[0]
	gone.Stop()
	setPref(t, leader, uid, "k", "v2")
	before := confirmations(t, leader, "term")
	for _, n := range without(nodes, gone) {
		if v, _ := readLinearizable(t, n).Pref(uid, "k"); v != "v2" {
			t.Errorf("linearizable read on %s with a follower down: k = %q, want v2", n.ID(), v)
		}
	}
	if got := confirmations(t, leader, "term"); got <= before {
		t.Errorf("term confirmations %v -> %v with a follower down, want more", before, got)
	}
	if got := confirmations(t, leader, "barrier"); got != 0 {
		t.Errorf("barrier confirmations = %v with a follower down, want 0", got)
	}
}

// In a cluster being upgraded, voters of a version without the term
// endpoint give no vote: the leader confirms reads with a barrier while too
// few voters answer, and by term again once a quorum can.
func TestLinearizableReadsWithVotersWithoutTermEndpoint(t *testing.T) {
	old := map[string]*atomic.Bool{}
	nodes := testnode.StartClusterWith(t, 3, func(o *testnode.Options) {
		isOld := &atomic.Bool{}
		old[o.ID] = isOld
		o.Wrap = func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if isOld.Load() && r.URL.Path == cluster.PathTerm {
					// As a version without the route answers: the
					// router's own 404.
					r = r.Clone(r.Context())
					r.URL.Path = "/internal/v1/no-such-route"
				}
				h.ServeHTTP(w, r)
			})
		}
	})
	leader := testnode.WaitLeader(t, nodes)
	uid := createUser(t, leader, "upgrade")
	followers := testnode.Followers(nodes)
	for _, f := range followers {
		old[f.ID()].Store(true)
	}

	steps := []struct {
		name      string
		oldVoters int    // followers still without the endpoint
		method    string // the confirmations that must grow
		other     string // the confirmations that must not
	}{
		{name: "both followers old", oldVoters: 2, method: "barrier", other: "term"},
		{name: "one follower upgraded", oldVoters: 1, method: "term", other: "barrier"},
		{name: "all upgraded", oldVoters: 0, method: "term", other: "barrier"},
	}
	for i, step := range steps {
		for j, f := range followers {
			old[f.ID()].Store(j < step.oldVoters)
		}
		value := fmt.Sprintf("v%d", i)
		setPref(t, leader, uid, "k", value)
		before, otherBefore := confirmations(t, leader, step.method), confirmations(t, leader, step.other)
		for _, n := range nodes {
			if v, _ := readLinearizable(t, n).Pref(uid, "k"); v != value {
				t.Errorf("%s: linearizable read on %s: k = %q, want %q", step.name, n.ID(), v, value)
			}
		}
		if got := confirmations(t, leader, step.method); got <= before {
			t.Errorf("%s: %s confirmations %v -> %v, want more", step.name, step.method, before, got)
		}
		if got := confirmations(t, leader, step.other); got != otherBefore {
			t.Errorf("%s: %s confirmations %v -> %v, want none", step.name, step.other, otherBefore, got)
		}
	}
}

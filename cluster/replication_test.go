package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// A write acknowledged by any node is seen by a linearizable read on any
// other node started after the write returned: read-your-writes across the
// cluster, whichever node takes the write and whichever serves the read.
func TestReadYourWritesAcrossNodes(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	testnode.WaitLeader(t, nodes)
	uid := createUser(t, nodes[0], "ryw")

	type pair struct{ writer, reader *testnode.Node }
	var pairs []pair
	for _, w := range nodes {
		for _, r := range nodes {
			if w != r {
				pairs = append(pairs, pair{w, r})
			}
		}
	}
	const rounds = 5
	seq := 0
	for _, p := range pairs {
		t.Run(role(p.writer)+"->"+role(p.reader), func(t *testing.T) {
			for range rounds {
				// One key overwritten over and over: a reader that lags by
				// even one write sees the wrong value, not merely none.
				seq++
				want := strconv.Itoa(seq)
				idx := setPref(t, p.writer, uid, "counter", want)
				// A key of its own, too, so that a read missing the write
				// entirely is told apart from one missing an overwrite.
				own := fmt.Sprintf("w-%s-r-%s-%d", p.writer.ID(), p.reader.ID(), seq)
				idx2 := setPref(t, p.writer, uid, own, want)

				st := readLinearizable(t, p.reader)
				if st.Index() < idx2 || idx2 <= idx {
					t.Fatalf("read on %s at index %d; writes were at %d and %d", p.reader.ID(), st.Index(), idx, idx2)
				}
				if got, ok := st.Pref(uid, "counter"); !ok || got != want {
					t.Fatalf("read on %s: counter = %q, %v; want %q", p.reader.ID(), got, ok, want)
				}
				if got, ok := st.Pref(uid, own); !ok || got != want {
					t.Fatalf("read on %s: %s = %q, %v; want %q", p.reader.ID(), own, got, ok, want)
				}
			}
		})
	}
}

// A follower's Apply is forwarded to the leader, which commits it, and the
// follower counts the forward; the leader forwards nothing.
func TestFollowerApplyIsForwarded(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	followers := testnode.Followers(nodes)
	if len(followers) != 2 {
		t.Fatalf("want 2 followers, got %d", len(followers))
	}
	fwd := func(n *testnode.Node, kind, result string) float64 {
		return mustMetric(t, n.Registry, "prefsd_forwarded_requests_total", map[string]string{"kind": kind, "result": result})
	}

	for _, f := range followers {
		t.Run(f.ID(), func(t *testing.T) {
			before := fwd(f, "apply", "ok")
			beforeErr := fwd(f, "apply", "error")
			leaderBefore := fwd(leader, "apply", "ok")

			// No retries here: a retried attempt would count as well.
			name := "fwd-" + f.ID()
			res, idx, err := f.Apply(opCtx(t), encode(t, fsm.CmdCreateUser, fsm.CreateUser{Username: name}))
			if err != nil || res.Err != nil {
				t.Fatalf("create user through %s: %v, %v", f.ID(), err, res.Err)
			}

			// The leader applied the entry before the follower's Apply
			// returned: its state has it now, at the index reported.
			st := leader.FSM().State()
			u, ok := st.UserByName(name)
			if !ok || u.ID != res.ID {
				t.Fatalf("leader %s does not hold user %s (id %d) right after the forwarded apply", leader.ID(), name, res.ID)
			}
			if st.Index() < idx {
				t.Fatalf("leader at index %d, forwarded write at %d", st.Index(), idx)
			}
			if got := fwd(f, "apply", "ok"); got != before+1 {
				t.Errorf("follower %s forwarded{apply,ok} = %v, want %v", f.ID(), got, before+1)
			}
			if got := fwd(f, "apply", "error"); got != beforeErr {
				t.Errorf("follower %s forwarded{apply,error} = %v, want %v", f.ID(), got, beforeErr)
			}
			if got := fwd(leader, "apply", "ok"); got != leaderBefore {
				t.Errorf("leader forwarded{apply,ok} = %v, want %v: the leader forwarded to itself", got, leaderBefore)
			}

			// A linearizable read on a follower forwards for a read index.
			rBefore := fwd(f, "readindex", "ok")
			readLinearizable(t, f)
			if got := fwd(f, "readindex", "ok"); got != rBefore+1 {
				t.Errorf("follower %s forwarded{readindex,ok} = %v, want %v", f.ID(), got, rBefore+1)
			}
		})
	}

	t.Run("leader-write-not-forwarded", func(t *testing.T) {
		before := fwd(leader, "apply", "ok")
		mustApply(t, leader, fsm.CmdCreateUser, fsm.CreateUser{Username: "on-leader"})
		if got := fwd(leader, "apply", "ok"); got != before {
			t.Errorf("leader forwarded{apply,ok} = %v after its own write, want %v", got, before)
		}
	})

	t.Run("empty-command", func(t *testing.T) {
		// An empty command is refused as a bad request, on the leader and,
		// across the wire, on a follower.
		for _, n := range []*testnode.Node{leader, followers[0]} {
			if _, _, err := n.Apply(opCtx(t), nil); !errors.Is(err, cluster.ErrBadRequest) {
				t.Errorf("Apply(empty) on %s = %v, want ErrBadRequest", role(n), err)
			}
		}
	})

	t.Run("refusal-relayed", func(t *testing.T) {
		// A refused command travels back from the leader as Result.Err,
		// not as an error of the call, with its code intact.
		f := followers[0]
		res, _, err := f.Apply(opCtx(t), encode(t, fsm.CmdCreateUser, fsm.CreateUser{Username: "FWD-" + f.ID()}))
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		if !isFSMError(res.Err, fsm.ErrUserExists) {
			t.Fatalf("duplicate username through follower: Result.Err = %v, want %v", res.Err, fsm.ErrUserExists)
		}
	})
}

func TestConsistencyLevels(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	followers := testnode.Followers(nodes)
	uid := createUser(t, leader, "levels")

	t.Run("stale-is-local", func(t *testing.T) {
		for _, f := range followers {
			before := f.FSM().State()
			st, err := f.Read(context.Background(), cluster.Stale)
			if err != nil {
				t.Fatalf("stale read on %s: %v", f.ID(), err)
			}
			if st != before && st != f.FSM().State() {
				t.Fatalf("stale read on %s did not return the node's own state", f.ID())
			}
		}
		// A stale read is served without a leader round trip: it does
		// not count as forwarded.
		f := followers[0]
		before := mustMetric(t, f.Registry, "prefsd_forwarded_requests_total", map[string]string{"kind": "readindex", "result": "ok"})
		for range 5 {
			if _, err := f.Read(context.Background(), cluster.Stale); err != nil {
				t.Fatal(err)
			}
		}
		if got := mustMetric(t, f.Registry, "prefsd_forwarded_requests_total", map[string]string{"kind": "readindex", "result": "ok"}); got != before {
			t.Errorf("stale reads forwarded a read index: %v -> %v", before, got)
		}
	})

	// Leader and Linearizable reads on any node, right after a write on
	// another, see the write.
	for _, c := range []cluster.Consistency{cluster.Leader, cluster.Linearizable} {
		for _, reader := range nodes {
			t.Run(c.String()+"-on-"+role(reader), func(t *testing.T) {
				writer := nodes[0]
				if writer == reader {
					writer = nodes[1]
				}
				key := fmt.Sprintf("%s-%s", c, reader.ID())
				idx := setPref(t, writer, uid, key, "x")
				st, err := reader.Read(opCtx(t), c)
				if err != nil {
					t.Fatalf("%s read on %s: %v", c, reader.ID(), err)
				}
				if st.Index() < idx {
					t.Fatalf("%s read on %s at index %d, write at %d", c, reader.ID(), st.Index(), idx)
				}
				if v, ok := st.Pref(uid, key); !ok || v != "x" {
					t.Fatalf("%s read on %s misses %s", c, reader.ID(), key)
				}
			})
		}
	}
}

func TestParseConsistency(t *testing.T) {
	tests := []struct {
		in      string
		want    cluster.Consistency
		wantErr bool
		name    string
	}{
		{in: "", want: cluster.Linearizable, name: "linearizable"},
		{in: "linearizable", want: cluster.Linearizable, name: "linearizable"},
		{in: "leader", want: cluster.Leader, name: "leader"},
		{in: "stale", want: cluster.Stale, name: "stale"},
		{in: "Leader", wantErr: true},
		{in: "STALE", wantErr: true},
		{in: " stale", wantErr: true},
		{in: "consistent", wantErr: true},
		{in: "default", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(strconv.Quote(tc.in), func(t *testing.T) {
			got, err := cluster.ParseConsistency(tc.in)
			if tc.wantErr {
				if !errors.Is(err, cluster.ErrBadConsistency) {
					t.Fatalf("ParseConsistency(%q) = %v, %v; want ErrBadConsistency", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseConsistency(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if got.String() != tc.name {
				t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.name)
			}
			// A level's name parses back to the level.
			if back, err := cluster.ParseConsistency(got.String()); err != nil || back != got {
				t.Errorf("ParseConsistency(%q) = %v, %v; want %v", got.String(), back, err, got)
			}
		})
	}
	if s := cluster.Consistency(0).String(); s != "unknown" {
		t.Errorf("Consistency(0).String() = %q, want unknown", s)
	}
}

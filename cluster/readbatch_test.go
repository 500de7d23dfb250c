package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/faultnet"
	"github.com/prefsd/prefsd/internal/testnode"
)

// Concurrent reads on a follower share read-index calls to the leader, and
// every one of them still sees every write acknowledged before it began,
// wherever that write went in.
func TestFollowerReadsShareCalls(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	followers := testnode.Followers(nodes)
	reader, other := followers[0], followers[1]
	uid := createUser(t, leader, "shared-reads")

	for _, c := range []cluster.Consistency{cluster.Linearizable, cluster.Leader} {
		t.Run(c.String(), func(t *testing.T) {
			// Writers through the leader and the other follower each
			// count up a key of their own; acked holds the last value
			// each saw acknowledged.
			writers := []*testnode.Node{leader, other}
			acked := make([]atomic.Int64, len(writers))
			key := func(w int) string { return fmt.Sprintf("%s-seq-%d", c, w) }
			stop := make(chan struct{})
			var (
				writes   sync.WaitGroup
				writeErr atomic.Pointer[error]
			)
			for w, n := range writers {
				writes.Go(func() {
					for i := int64(1); ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						cmd, err := fsm.Encode(fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: key(w), Value: strconv.FormatInt(i, 10)}}})
						if err == nil {
							_, _, _, err = tryApply(n, cmd, t.Logf)
						}
						if err != nil {
							writeErr.CompareAndSwap(nil, &err)
							return
						}
						acked[w].Store(i)
					}
				})
			}

			const readers, perReader = 32, 20
			before := forwardedReadIndex(t, reader)
			start := make(chan struct{})
			var reads sync.WaitGroup
			errs := make(chan error, readers)
			for range readers {
				reads.Go(func() {
					<-start
					for range perReader {
						want := make([]int64, len(writers))
						for w := range writers {
							want[w] = acked[w].Load()
						}
						st, err := reader.Read(opCtx(t), c)
						if err != nil {
							errs <- fmt.Errorf("%s read on %s: %w", c, reader.ID(), err)
							return
						}
						for w := range writers {
							v, _ := st.Pref(uid, key(w))
							got, _ := strconv.ParseInt(v, 10, 64)
							if got < want[w] {
								errs <- fmt.Errorf("%s read on %s at index %d: %s = %d, but %d was acknowledged before the read began",
									c, reader.ID(), st.Index(), key(w), got, want[w])
								return
							}
						}
					}
				})
			}
			close(start)
			reads.Wait()
			close(stop)
			writes.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if p := writeErr.Load(); p != nil {
				t.Fatalf("writer: %v", *p)
			}
			calls := forwardedReadIndex(t, reader) - before
			t.Logf("%d %s reads on %s made %v read-index calls to the leader; %d and %d writes acknowledged meanwhile",
				readers*perReader, c, reader.ID(), calls, acked[0].Load(), acked[1].Load())
			if calls < 1 || calls >= readers*perReader {
				t.Errorf("%d concurrent reads made %v read-index calls, want at least 1 and fewer than reads", readers*perReader, calls)
			}
		})
	}
}

// proxiedCluster is a three-node cluster in which n2 reaches n1's HTTP API
// only through a faultnet proxy, so a test can hold up or drop n2's
// forwarded calls to n1 while raft traffic flows as usual. n1 leads.
type proxiedCluster struct {
	net        *faultnet.Network
	n1, n2, n3 *testnode.Node
}

func startProxiedCluster(t *testing.T) *proxiedCluster {
	t.Helper()
	fn := faultnet.New(t.Logf)
	t.Cleanup(func() {
		if err := fn.Close(); err != nil {
			t.Errorf("faultnet: close: %v", err)
		}
	})
	for name, ip := range map[string]string{"n1": "127.0.0.61", "n2": "127.0.0.62"} {
		if err := fn.AddNode(name, ip); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	ln.Close()
	proxy, err := fn.Proxy("n1", "127.0.0.1:0", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	pc := &proxiedCluster{net: fn}
	pc.n1 = testnode.Start(t, testnode.Options{ID: "n1", HTTPAddr: httpAddr, Configure: func(c *config.Config) {
		c.AdvertiseHTTP = proxy
		c.PeerSourceIP = "127.0.0.61"
	}})
	testnode.WaitLeader(t, []*testnode.Node{pc.n1})
	pc.n2 = testnode.Start(t, testnode.Options{ID: "n2", Join: []string{pc.n1.Addr}, Configure: func(c *config.Config) {
		c.PeerSourceIP = "127.0.0.62"
	}})
	pc.n3 = testnode.Start(t, testnode.Options{ID: "n3", Join: []string{pc.n1.Addr}})
	testnode.Eventually(t, convergeFor, func() error {
		for _, n := range []*testnode.Node{pc.n1, pc.n2, pc.n3} {
			if got := len(n.FSM().State().Members()); got != 3 {
				return fmt.Errorf("node %s knows %d members, want 3", n.ID(), got)
			}
			if err := n.Ready(); err != nil {
				return fmt.Errorf("node %s: %v", n.ID(), err)
			}
		}
		if id, addr := pc.n2.LeaderInfo(); id != "n1" || addr != proxy {
			return fmt.Errorf("n2 knows leader %q at %q, want n1 at %s", id, addr, proxy)
		}
		return nil
	})
	return pc
}

// A read whose context ends while it waits leaves with ErrTimeout; the
// call it started goes on for the reads that came after it and answers
// them.
func TestFollowerReadTimeoutLeavesCallToOthers(t *testing.T) {
	pc := startProxiedCluster(t)
	uid := createUser(t, pc.n1, "timeout-reads")
	setPref(t, pc.n1, uid, "k", "v1")
	readLinearizable(t, pc.n2) // n2 reads through n1's proxy
	term := pc.n1.Raft().CurrentTerm()
	errorsBefore := mustMetric(t, pc.n2.Registry, "prefsd_forwarded_requests_total", map[string]string{"kind": "readindex", "result": "error"})
	okBefore := mustMetric(t, pc.n2.Registry, "prefsd_forwarded_requests_total", map[string]string{"kind": "readindex", "result": "ok"})

	// The next call's request reaches n1 late, so it is under way when the
	// read that started it gives up: that read's context is over already.
	pc.net.Delay("n2", "n1", 2*time.Second)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := pc.n2.Read(done, cluster.Linearizable); !errors.Is(err, cluster.ErrTimeout) {
		t.Fatalf("read with an ended context: %v, want ErrTimeout", err)
	}
	pc.net.Delay("n2", "n1", 0)
	setPref(t, pc.n3, uid, "k", "v2")

	const readers = 8
	wait := startReaders(opCtx(t), pc.n2, readers, uid, "k", "v2")
	for _, err := range wait() {
		t.Error(err)
	}
	// The readers returned after the call the abandoned read started had
	// ended (they were in it or in a later one), so its outcome is
	// counted: it was not cancelled with that read. Only a leader change
	// could make a call fail here.
	failed := mustMetric(t, pc.n2.Registry, "prefsd_forwarded_requests_total", map[string]string{"kind": "readindex", "result": "error"}) - errorsBefore
	succeeded := mustMetric(t, pc.n2.Registry, "prefsd_forwarded_requests_total", map[string]string{"kind": "readindex", "result": "ok"}) - okBefore
	t.Logf("read-index calls since the abandoned read: %v succeeded, %v failed", succeeded, failed)
	if now := pc.n1.Raft().CurrentTerm(); now != term {
		t.Logf("term moved from %d to %d: calls may have failed with the leader", term, now)
	} else if failed != 0 {
		t.Errorf("%v read-index calls failed with no leader change, want none", failed)
	}
	if succeeded < 1 {
		t.Errorf("no read-index call succeeded, yet %d reads were answered", readers)
	}
}

// Stopping a follower releases every read waiting on it with ErrShutdown,
// even while its call to the leader is stuck.
func TestFollowerReadsReleasedOnShutdown(t *testing.T) {
	pc := startProxiedCluster(t)
	readLinearizable(t, pc.n2)
	pc.net.Block("n2", "n1")

	const readers = 8
	ctx := opCtx(t)
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			_, err := pc.n2.Read(ctx, cluster.Linearizable)
			errs <- err
		})
	}
	testnode.Eventually(t, convergeFor, func() error {
		if pc.net.Stats().BytesDropped == 0 {
			return errors.New("no read-index call under way")
		}
		return nil
	})
	pc.n2.Stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, cluster.ErrShutdown) {
			t.Errorf("read on a stopping node: %v, want ErrShutdown", err)
		}
	}
}

// When leadership moves while a follower's call to the old leader is stuck,
// the follower gives up that call and its reads go to the new leader.
func TestFollowerReadsFollowLeaderChange(t *testing.T) {
	pc := startProxiedCluster(t)
	uid := createUser(t, pc.n1, "moving-reads")
	setPref(t, pc.n1, uid, "k", "v1")
	readLinearizable(t, pc.n2)
	// n2's calls to n1 go nowhere from now on, and would last until their
	// own deadline, which is as long as the reads'.
	pc.net.Block("n2", "n1")

	wait := startReaders(opCtx(t), pc.n2, 8, uid, "k", "v1")
	testnode.Eventually(t, convergeFor, func() error {
		if pc.net.Stats().BytesDropped == 0 {
			return errors.New("no read-index call under way")
		}
		return nil
	})
	transfer := pc.n1.Raft().LeadershipTransferToServer(raft.ServerID(pc.n3.ID()), raft.ServerAddress(pc.n3.RaftAddr())).Error()
	errs := wait()
	if transfer != nil {
		t.Fatalf("leadership transfer to n3: %v", transfer)
	}
	for _, err := range errs {
		t.Error(err)
	}
	leader := testnode.WaitLeader(t, []*testnode.Node{pc.n1, pc.n2, pc.n3})
	setPref(t, leader, uid, "k", "v2")
	if v, _ := readLinearizable(t, pc.n2).Pref(uid, "k"); v != "v2" {
		t.Errorf("read on n2 after a write through %s: k = %q, want %q", leader.ID(), v, "v2")
	}
}

// startReaders starts linearizable reads of key on n, one per reader, and
// returns a function that waits for them and returns what went wrong: an
// error, or a value other than want.
func startReaders(ctx context.Context, n *testnode.Node, readers int, uid uint64, key, want string) func() []error {
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			st, err := n.Read(ctx, cluster.Linearizable)
			if err != nil {
				errs <- err
				return
			}
			if v, _ := st.Pref(uid, key); v != want {
				errs <- fmt.Errorf("read at index %d: %s = %q, want %q", st.Index(), key, v, want)
			}
		})
	}
	return func() []error {
		wg.Wait()
		close(errs)
		var out []error
		for err := range errs {
			out = append(out, err)
		}
		return out
	}
}

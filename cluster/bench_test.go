package cluster_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

var benchClients = []int{1, 16, 64}

// runClients runs b.N operations spread over clients goroutines, client c
// talking to nodes[c%len(nodes)], and reports throughput and per-operation
// latency percentiles. op is called with the client number and a global
// operation number; setup, untimed, prepares each client.
func runClients(b *testing.B, nodes []*testnode.Node, clients int, unit string, op func(ctx context.Context, n *testnode.Node, client, i int) error) {
	b.Helper()
	lat := make([][]time.Duration, clients)
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	ctx := context.Background()

	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		n := nodes[c%len(nodes)]
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N || failed.Load() != nil {
					return
				}
				t0 := time.Now()
				if err := op(ctx, n, c, i); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) != b.N {
		b.Fatalf("%d operations done, want %d", len(all), b.N)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), unit+"/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkClusterWrite measures committed writes on a 3-node cluster,
// each client writing distinct keys of a user of its own, clients spread
// round-robin over the leader and the followers (which forward).
func BenchmarkClusterWrite(b *testing.B) {
	nodes := testnode.StartCluster(b, 3, nil)
	testnode.WaitLeader(b, nodes)
	run := 0
	for _, clients := range benchClients {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			b.StopTimer()
			run++
			// A user per client, with room for every key it may write.
			users := make([]uint64, clients)
			for c := range users {
				users[c] = createUser(b, nodes[c%len(nodes)], fmt.Sprintf("bench-w%d-c%d", run, c))
				mustApply(b, nodes[c%len(nodes)], fsm.CmdSetUserQuota, fsm.SetUserQuota{
					UserID: users[c], Quota: fsm.QuotaPatch{MaxPreferences: ptr(int64(b.N + 1)), MaxTotalBytes: ptr(int64(b.N+1) * 64)},
				})
			}
			value := "0123456789abcdef0123456789abcdef"
			b.StartTimer()
			runClients(b, nodes, clients, "writes", func(ctx context.Context, n *testnode.Node, c, i int) error {
				cmd, err := fsm.Encode(fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: users[c], Set: []fsm.KV{{Key: fmt.Sprintf("k%09d", i), Value: value}}})
				if err != nil {
					return err
				}
				res, _, err := n.Apply(ctx, cmd)
				if err != nil {
					return fmt.Errorf("write %d via %s: %w", i, n.ID(), err)
				}
				if res.Err != nil {
					return fmt.Errorf("write %d via %s refused: %v", i, n.ID(), res.Err)
				}
				return nil
			})
		})
	}
}

// BenchmarkClusterLinearizableRead measures linearizable reads, clients
// spread round-robin over the leader and the followers.
func BenchmarkClusterLinearizableRead(b *testing.B) {
	nodes := testnode.StartCluster(b, 3, nil)
	leader := testnode.WaitLeader(b, nodes)
	uid := createUser(b, leader, "bench-read")
	setPref(b, leader, uid, "k", "v")
	for _, clients := range benchClients {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			runClients(b, nodes, clients, "reads", func(ctx context.Context, n *testnode.Node, _, _ int) error {
				st, err := n.Read(ctx, cluster.Linearizable)
				if err != nil {
					return fmt.Errorf("read via %s: %w", n.ID(), err)
				}
				if v, ok := st.Pref(uid, "k"); !ok || v != "v" {
					return fmt.Errorf("read via %s: k = %q, %v", n.ID(), v, ok)
				}
				return nil
			})
		})
	}
}

// BenchmarkFollowerRead measures linearizable and leader-level reads with
// every client on one follower, which must obtain each read index from the
// leader, and reports how many read-index calls it forwarded per read.
func BenchmarkFollowerRead(b *testing.B) {
	nodes := testnode.StartCluster(b, 3, nil)
	leader := testnode.WaitLeader(b, nodes)
	follower := testnode.Followers(nodes)[0]
	uid := createUser(b, leader, "bench-follower-read")
	setPref(b, leader, uid, "k", "v")
	for _, c := range []cluster.Consistency{cluster.Linearizable, cluster.Leader} {
		for _, clients := range benchClients {
			b.Run(fmt.Sprintf("%s/clients=%d", c, clients), func(b *testing.B) {
				before := forwardedReadIndex(b, follower)
				runClients(b, []*testnode.Node{follower}, clients, "reads", func(ctx context.Context, n *testnode.Node, _, _ int) error {
					st, err := n.Read(ctx, c)
					if err != nil {
						return fmt.Errorf("read via %s: %w", n.ID(), err)
					}
					if v, ok := st.Pref(uid, "k"); !ok || v != "v" {
						return fmt.Errorf("read via %s: k = %q, %v", n.ID(), v, ok)
					}
					return nil
				})
				b.ReportMetric((forwardedReadIndex(b, follower)-before)/float64(b.N), "calls/read")
			})
		}
	}
}

// forwardedReadIndex returns how many read-index calls n has forwarded to
// the leader, whatever their result.
func forwardedReadIndex(t testing.TB, n *testnode.Node) float64 {
	t.Helper()
	var sum float64
	for _, result := range []string{"ok", "error"} {
		sum += mustMetric(t, n.Registry, "prefsd_forwarded_requests_total", map[string]string{"kind": "readindex", "result": result})
	}
	return sum
}

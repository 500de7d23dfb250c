package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// Concurrent writes through a follower share forwarded calls to the
// leader, and each still gets its own index and is applied.
func TestForwardedWritesShareCalls(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	follower := testnode.Followers(nodes)[0]
	uid := createUser(t, leader, "batched-writes")
	setPref(t, follower, uid, "warm", "up") // the forwarding connection is open

	const writers, perWriter = 32, 10
	callsBefore := mustMetric(t, follower.Registry, "prefsd_forwarded_requests_total", map[string]string{"kind": "apply", "result": "ok"})
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		indexes = map[uint64]string{}
	)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				key := fmt.Sprintf("w%d-%d", w, i)
				res, idx, _, err := tryApply(follower, encode(t, fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: key, Value: key}}}), t.Logf)
				if err == nil && res.Err != nil {
					err = res.Err
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", key, err)
					return
				}
				mu.Lock()
				if other, dup := indexes[idx]; dup {
					errs <- fmt.Errorf("%s and %s both got index %d", key, other, idx)
				}
				indexes[idx] = key
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := readLinearizable(t, leader)
	for idx, key := range indexes {
		if v, ok := st.Pref(uid, key); !ok || v != key {
			t.Errorf("%s (index %d) = %q, %v after it was acknowledged", key, idx, v, ok)
		}
	}
	calls := mustMetric(t, follower.Registry, "prefsd_forwarded_requests_total", map[string]string{"kind": "apply", "result": "ok"}) - callsBefore
	t.Logf("%d concurrent writes through %s took %v forwarded calls", writers*perWriter, follower.ID(), calls)
	if calls < 1 || calls >= writers*perWriter {
		t.Errorf("%d writes made %v forwarded calls, want at least 1 and fewer than writes", writers*perWriter, calls)
	}
}

// A refusal in a forwarded batch is its own command's answer: the others
// in the same batch are applied.
func TestForwardedBatchKeepsRefusalsApart(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	follower := testnode.Followers(nodes)[0]
	uid := createUser(t, leader, "quota-batch")
	const limit, writers = 5, 24
	mustApply(t, leader, fsm.CmdSetUserQuota, fsm.SetUserQuota{UserID: uid, Quota: fsm.QuotaPatch{MaxPreferences: ptr(int64(limit))}})

	var wg sync.WaitGroup
	type outcome struct {
		key string
		res fsm.Result
		err error
	}
	out := make(chan outcome, writers)
	for w := range writers {
		wg.Go(func() {
			key := fmt.Sprintf("k%02d", w)
			res, _, _, err := tryApply(follower, encode(t, fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: key, Value: "v"}}}), t.Logf)
			out <- outcome{key, res, err}
		})
	}
	wg.Wait()
	close(out)
	var stored, refused []string
	for o := range out {
		switch {
		case o.err != nil:
			t.Errorf("%s: %v", o.key, o.err)
		case errors.Is(o.res.Err, fsm.ErrTooManyPreferences):
			refused = append(refused, o.key)
		case o.res.Err != nil:
			t.Errorf("%s: refused with %v, want a quota refusal or success", o.key, o.res.Err)
		default:
			stored = append(stored, o.key)
		}
	}
	if len(stored) != limit || len(refused) != writers-limit {
		t.Fatalf("%d stored %v and %d refused, want %d and %d", len(stored), stored, len(refused), limit, writers-limit)
	}
	st := readLinearizable(t, leader)
	for _, k := range stored {
		if _, ok := st.Pref(uid, k); !ok {
			t.Errorf("acknowledged %s is not stored", k)
		}
	}
	for _, k := range refused {
		if _, ok := st.Pref(uid, k); ok {
			t.Errorf("refused %s is stored", k)
		}
	}
}

// A write whose context ends while it still waits for a forwarding slot is
// withdrawn: it reports that nothing was written, and it never is.
func TestForwardWithdrawnWhenContextEnds(t *testing.T) {
	pc := startProxiedCluster(t)
	uid := createUser(t, pc.n1, "withdrawn")
	setPref(t, pc.n2, uid, "warm", "up")

	// Drop n2's calls to n1, and occupy both forwarding slots with one
	// write each: a call is under way once the proxy has dropped its bytes.
	pc.net.Block("n2", "n1")
	var busy sync.WaitGroup
	defer busy.Wait()
	for i := range 2 {
		dropped := pc.net.Stats().BytesDropped
		busy.Go(func() {
			// Its outcome is unknown once the link comes back: the call
			// is cut. Only the withdrawn write below is checked.
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			defer cancel()
			pc.n2.Apply(ctx, encode(t, fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: fmt.Sprintf("busy%d", i), Value: "v"}}}))
		})
		testnode.Eventually(t, 5*time.Second, func() error {
			if pc.net.Stats().BytesDropped == dropped {
				return fmt.Errorf("forwarded call %d not under way yet", i+1)
			}
			return nil
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err := pc.n2.Apply(ctx, encode(t, fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: "withdrawn", Value: "v"}}}))
	if !errors.Is(err, cluster.ErrNoLeader) {
		t.Fatalf("queued write with an ended context: %v, want ErrNoLeader (not started)", err)
	}
	pc.net.Unblock("n2", "n1")
	busy.Wait()
	setPref(t, pc.n2, uid, "after", "v") // forwarding works again
	if _, ok := readLinearizable(t, pc.n1).Pref(uid, "withdrawn"); ok {
		t.Error("the withdrawn write was applied")
	}
}

// The batch endpoint refuses malformed bodies before applying anything.
func TestApplyBatchRefusesMalformed(t *testing.T) {
	nodes := testnode.StartCluster(t, 1, nil)
	leader := testnode.WaitLeader(t, nodes)
	for name, body := range map[string]string{
		"empty":        "",
		"zero length":  "\x00",
		"truncated":    "\x05abc",
		"bad varint":   "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
		"trailing len": "\x01\x08\x05",
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, leader.URL+cluster.PathApplyBatch, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(cluster.KeyHeader, testnode.ClusterKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
		})
	}
}

// A leader without the batch endpoint (an older version, during a rolling
// upgrade) answers 404 to it; the follower then forwards each command in a
// call of its own, and writes keep working.
func TestForwardFallsBackToSingleCalls(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	ln.Close()
	target := &url.URL{Scheme: "http", Host: httpAddr}
	var batchCalls, singleCalls atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case cluster.PathApplyBatch:
			batchCalls.Add(1)
			http.NotFound(w, r)
			return
		case cluster.PathApply:
			singleCalls.Add(1)
		}
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	n1 := testnode.Start(t, testnode.Options{ID: "n1", HTTPAddr: httpAddr, Configure: func(c *config.Config) {
		c.AdvertiseHTTP = strings.TrimPrefix(proxy.URL, "http://")
	}})
	testnode.WaitLeader(t, []*testnode.Node{n1})
	n2 := testnode.Start(t, testnode.Options{ID: "n2", Join: []string{n1.Addr}})
	testnode.Eventually(t, convergeFor, func() error {
		if _, addr := n2.LeaderInfo(); addr != strings.TrimPrefix(proxy.URL, "http://") {
			return fmt.Errorf("n2 knows the leader at %q", addr)
		}
		return n2.Ready()
	})
	uid := createUser(t, n1, "fallback")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { setPref(t, n2, uid, fmt.Sprintf("k%d", i), "v") })
	}
	wg.Wait()
	st := readLinearizable(t, n1)
	for i := range 8 {
		if _, ok := st.Pref(uid, fmt.Sprintf("k%d", i)); !ok {
			t.Errorf("k%d was acknowledged but is not stored", i)
		}
	}
	// Each forwarding slot may have tried a batch before the first 404.
	if b := batchCalls.Load(); b < 1 || b > 2 || singleCalls.Load() < 8 {
		t.Errorf("%d batch calls and %d single calls, want 1 or 2 (one per slot, then none) and at least 8", b, singleCalls.Load())
	}
}

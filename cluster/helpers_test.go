package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/internal/testnode"
)

// The bounds the tests wait within. They are generous: the race detector on
// a small machine slows raft down a lot, and a failing condition fails the
// test only once its bound has passed.
const (
	opTimeout   = 15 * time.Second
	convergeFor = 20 * time.Second
)

// opCtx returns a context bounded by opTimeout, cancelled with the test.
func opCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

func encode(t testing.TB, typ fsm.CmdType, body any) fsm.Command {
	t.Helper()
	cmd, err := fsm.Encode(typ, body)
	if err != nil {
		t.Fatalf("encode %s: %v", typ, err)
	}
	return cmd
}

// retryable reports whether err says that no leader took a write, or
// that its fate is unknown: what a client may see while leadership moves,
// which these tests provoke and a loaded machine provokes on its own.
func retryable(err error) bool {
	return errors.Is(err, cluster.ErrUnknownOutcome) || errors.Is(err, cluster.ErrNoLeader) ||
		errors.Is(err, cluster.ErrNotLeader) || errors.Is(err, cluster.ErrTimeout)
}

// applyRetry applies a command through n, trying again, within opTimeout,
// while the error is retryable. Use it only for commands whose second
// application is harmless or detected (setting a key, setting a quota,
// creating a user by name). It returns how many attempts failed.
func applyRetry(t testing.TB, n *testnode.Node, typ fsm.CmdType, body any) (fsm.Result, uint64, int) {
	t.Helper()
	res, idx, failed, err := tryApply(n, encode(t, typ, body), t.Logf)
	if err != nil {
		t.Fatalf("apply %s through %s: %v (after %d failed attempts)", typ, n.ID(), err, failed)
	}
	return res, idx, failed
}

// tryApply is applyRetry for goroutines other than the test's: it returns
// the error that ended its attempts instead of failing the test.
func tryApply(n *testnode.Node, cmd fsm.Command, logf func(string, ...any)) (fsm.Result, uint64, int, error) {
	deadline := time.Now().Add(opTimeout)
	for failed := 0; ; failed++ {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		res, idx, err := n.Apply(ctx, cmd)
		cancel()
		if err == nil {
			if idx == 0 {
				return res, idx, failed, errors.New("index 0")
			}
			return res, idx, failed, nil
		}
		if !retryable(err) || time.Now().After(deadline) {
			return res, idx, failed, err
		}
		logf("apply %s through %s: %v; trying again", cmd.Type(), n.ID(), err)
	}
}

// mustApply applies a command through n and fails the test on any error,
// a refusal included. It retries only as applyRetry does.
func mustApply(t testing.TB, n *testnode.Node, typ fsm.CmdType, body any) (fsm.Result, uint64) {
	t.Helper()
	res, idx, _ := applyRetry(t, n, typ, body)
	if res.Err != nil {
		t.Fatalf("apply %s through %s: refused: %v", typ, n.ID(), res.Err)
	}
	return res, idx
}

// createUser creates a user through n and returns its id.
func createUser(t testing.TB, n *testnode.Node, name string) uint64 {
	t.Helper()
	res, _, failed := applyRetry(t, n, fsm.CmdCreateUser, fsm.CreateUser{Username: name})
	if failed > 0 && isFSMError(res.Err, fsm.ErrUserExists) {
		// An attempt of unknown outcome did create it.
		u, ok := readLinearizable(t, n).UserByName(name)
		if !ok {
			t.Fatalf("create user %s: exists, yet not found", name)
		}
		return u.ID
	}
	if res.Err != nil || res.ID == 0 {
		t.Fatalf("create user %s: %v, id %d", name, res.Err, res.ID)
	}
	return res.ID
}

// setPref sets one preference through n and returns the entry's index.
func setPref(t testing.TB, n *testnode.Node, uid uint64, key, value string) uint64 {
	t.Helper()
	_, idx := mustApply(t, n, fsm.CmdPatchPrefs, fsm.PatchPrefs{UserID: uid, Set: []fsm.KV{{Key: key, Value: value}}})
	return idx
}

// readLinearizable reads n's state at the linearizable level.
func readLinearizable(t testing.TB, n *testnode.Node) *fsm.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	st, err := n.Read(ctx, cluster.Linearizable)
	if err != nil {
		t.Fatalf("linearizable read on %s: %v", n.ID(), err)
	}
	return st
}

// stateBytes is the snapshot encoding of st: equal bytes, equal states.
func stateBytes(t testing.TB, st *fsm.State) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := st.Encode(&buf); err != nil {
		t.Fatalf("encode state: %v", err)
	}
	return buf.Bytes()
}

// stateBytesErr is stateBytes for use inside Eventually conditions.
func stateBytesErr(st *fsm.State) ([]byte, error) {
	var buf bytes.Buffer
	err := st.Encode(&buf)
	return buf.Bytes(), err
}

// waitConverged waits until every node has applied the same index as the
// reference node and holds byte-for-byte the same state.
func waitConverged(t testing.TB, ref *testnode.Node, nodes []*testnode.Node) {
	t.Helper()
	testnode.Eventually(t, convergeFor, func() error {
		want := ref.FSM().State()
		wantBytes, err := stateBytesErr(want)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			got := n.FSM().State()
			if got.Index() != want.Index() {
				return fmt.Errorf("node %s at index %d, %s at %d", n.ID(), got.Index(), ref.ID(), want.Index())
			}
			gotBytes, err := stateBytesErr(got)
			if err != nil {
				return err
			}
			if !bytes.Equal(gotBytes, wantBytes) {
				return fmt.Errorf("node %s differs from %s at index %d:\n%s\nvs\n%s", n.ID(), ref.ID(), got.Index(), gotBytes, wantBytes)
			}
		}
		return nil
	})
}

// byID returns the node with the given id.
func byID(t testing.TB, nodes []*testnode.Node, id string) *testnode.Node {
	t.Helper()
	for _, n := range nodes {
		if n.ID() == id {
			return n
		}
	}
	t.Fatalf("no node %s", id)
	return nil
}

// without returns nodes minus the ones given.
func without(nodes []*testnode.Node, drop ...*testnode.Node) []*testnode.Node {
	var out []*testnode.Node
next:
	for _, n := range nodes {
		for _, d := range drop {
			if n == d {
				continue next
			}
		}
		out = append(out, n)
	}
	return out
}

// role names a node's raft role for test names.
func role(n *testnode.Node) string {
	if n.IsLeader() {
		return n.ID() + "(leader)"
	}
	return n.ID() + "(follower)"
}

// raftStat returns one of raft's numeric stats.
func raftStat(t testing.TB, n *testnode.Node, name string) uint64 {
	t.Helper()
	s, ok := n.Raft().Stats()[name]
	if !ok {
		t.Fatalf("raft stats of %s have no %q", n.ID(), name)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("raft stat %s=%q of %s: %v", name, s, n.ID(), err)
	}
	return v
}

// metricValue finds the series of family name whose labels include every
// label given, and returns its value: a counter's or gauge's value, or a
// histogram's or summary's sample count.
func metricValue(g prometheus.Gatherer, name string, labels map[string]string) (float64, error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), nil
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), nil
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), nil
			case dto.MetricType_SUMMARY:
				return float64(m.GetSummary().GetSampleCount()), nil
			case dto.MetricType_UNTYPED:
				return m.GetUntyped().GetValue(), nil
			}
		}
		return 0, fmt.Errorf("metric %s has no series with labels %v", name, labels)
	}
	return 0, fmt.Errorf("no metric %s", name)
}

// seriesCount returns how many series the family name has.
func seriesCount(g prometheus.Gatherer, name string) (int, error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric()), nil
		}
	}
	return 0, nil
}

func mustMetric(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	v, err := metricValue(g, name, labels)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// syncBuffer is a bytes.Buffer safe for concurrent writers, for logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// isFSMError reports whether a result error matches target. It guards
// against the typed-nil trap of passing a nil *fsm.Error as an error.
func isFSMError(err *fsm.Error, target *fsm.Error) bool {
	return err != nil && errors.Is(err, target)
}

func ptr[T any](v T) *T { return &v }

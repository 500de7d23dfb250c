package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/prefsd/prefsd/lincheck"
)

// modelTraffic is the checked half of a scenario's load: lincheck's
// workload, recording a history that must be linearizable.
type modelTraffic struct {
	h *lincheck.History
	w *lincheck.Workload
}

// newModelTraffic creates the workload's users through a live node.
func newModelTraffic(t *testing.T, fc *faultCluster, seed uint64, opts lincheck.Options) *modelTraffic {
	t.Helper()
	h := lincheck.NewHistory()
	opts.Seed = seed
	if opts.Timeout == 0 {
		opts.Timeout = 1500 * time.Millisecond
	}
	w := lincheck.NewWorkload(h, opts)
	t.Cleanup(w.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.Setup(ctx, "http://"+fc.live()[0].HTTPAddr, adminToken); err != nil {
		t.Fatal(err)
	}
	return &modelTraffic{h: h, w: w}
}

// run is model client idx until ctx ends; each definite outcome counts in
// done.
func (m *modelTraffic) run(ctx context.Context, idx int, urls []string, done *atomic.Int64) error {
	return m.w.Run(ctx, idx, urls, func() { done.Add(1) })
}

// Stats returns the operations recorded and the writes among them whose
// outcome is unknown.
func (m *modelTraffic) Stats() (ops, unknown int) {
	ops, unknown, _ = m.h.Stats()
	return ops, unknown
}

// Check checks the history within timeout, writing a visualisation if it
// fails.
func (m *modelTraffic) Check(t *testing.T, timeout time.Duration) porcupine.CheckResult {
	t.Helper()
	counts := m.w.Counts()
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s:%d", k, counts[k])
	}
	t.Logf("model answers:%s", b.String())
	return lincheck.Check(t, m.h.Operations(), timeout)
}

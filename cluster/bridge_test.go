//go:build hashicorpmetrics

package cluster_test

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/internal/testnode"
)

// BridgeRaftMetrics installs a process-wide go-metrics sink, so the tests
// install it once, on one registry they all share.
var (
	bridgeOnce sync.Once
	bridgeReg  *prometheus.Registry
	bridgeErr  error
)

func bridgedRegistry() (*prometheus.Registry, error) {
	bridgeOnce.Do(func() {
		bridgeReg = prometheus.NewRegistry()
		bridgeErr = cluster.BridgeRaftMetrics(bridgeReg)
	})
	return bridgeReg, bridgeErr
}

// With the hashicorpmetrics tag, raft's own metrics (go-metrics) reach
// Prometheus as prefsd_raft_* series.
func TestBridgeRaftMetrics(t *testing.T) {
	if !cluster.RaftMetricsBridged {
		t.Fatal("built with hashicorpmetrics, but RaftMetricsBridged is false")
	}
	reg, err := bridgedRegistry()
	if err != nil {
		t.Fatalf("BridgeRaftMetrics: %v", err)
	}
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	uid := createUser(t, leader, "bridge")
	for i := range 5 {
		setPref(t, testnode.Followers(nodes)[0], uid, fmt.Sprintf("k%d", i), "v")
	}

	var names []string
	testnode.Eventually(t, convergeFor, func() error {
		mfs, err := reg.Gather()
		if err != nil {
			return err
		}
		names = names[:0]
		found := map[string]bool{}
		for _, mf := range mfs {
			name := mf.GetName()
			names = append(names, name)
			switch {
			case strings.HasPrefix(name, "prefsd_raft_apply"):
				found["apply"] = true
			case strings.HasPrefix(name, "prefsd_raft_commitTime"):
				found["commitTime"] = true
			}
		}
		if !found["apply"] || !found["commitTime"] {
			sort.Strings(names)
			return fmt.Errorf("raft's apply and commitTime series missing (found %v) among %v", found, names)
		}
		return nil
	})
	t.Logf("%d bridged families", len(names))
}

//go:build !hashicorpmetrics

package cluster

import "github.com/prometheus/client_golang/prometheus"

// RaftMetricsBridged reports whether this binary routes hashicorp/raft's own
// metrics to Prometheus. Build with -tags hashicorpmetrics to enable it.
const RaftMetricsBridged = false

// BridgeRaftMetrics does nothing without the hashicorpmetrics build tag:
// raft then reports to armon/go-metrics, which prefsd does not export.
func BridgeRaftMetrics(prometheus.Registerer) error { return nil }

//go:build hashicorpmetrics

package cluster

import (
	"fmt"

	gometrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// RaftMetricsBridged reports whether this binary routes hashicorp/raft's own
// metrics to Prometheus. It needs the hashicorpmetrics build tag.
const RaftMetricsBridged = true

// BridgeRaftMetrics sends hashicorp/raft's and raft-boltdb's own metrics
// (timers as summaries, counters, gauges) to reg as prefsd_raft_* series.
//
// go-metrics keeps its sink in a process-wide global, which raft writes to;
// this is the one global prefsd configures, once, from main.
func BridgeRaftMetrics(reg prometheus.Registerer) error {
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{
		Name:       "prefsd_raft_bridge",
		Registerer: reg,
		Expiration: 0, // keep series; raft's timers fire only on activity
	})
	if err != nil {
		return fmt.Errorf("raft metrics sink: %w", err)
	}
	cfg := gometrics.DefaultConfig("prefsd")
	cfg.EnableHostname = false
	cfg.EnableRuntimeMetrics = false
	cfg.EnableServiceLabel = false
	if _, err := gometrics.NewGlobal(cfg, sink); err != nil {
		return fmt.Errorf("raft metrics: %w", err)
	}
	return nil
}

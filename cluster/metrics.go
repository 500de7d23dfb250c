package cluster

import (
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/prefsd/prefsd/fsm"
)

// Metrics are the cluster layer's Prometheus metrics. A nil *Metrics
// records nothing.
type Metrics struct {
	reg           prometheus.Registerer
	applyDuration *prometheus.HistogramVec
	readDuration  *prometheus.HistogramVec
	forwarded     *prometheus.CounterVec
	leaderChanges prometheus.Counter
	commands      *prometheus.CounterVec
	quotaRefusals *prometheus.CounterVec
	confirmations *prometheus.CounterVec
}

// NewMetrics creates the cluster metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	fast := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{
		reg: reg,
		applyDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "prefsd", Subsystem: "raft", Name: "apply_duration_seconds",
			Help:    "Time from a write reaching this node to its command being committed and applied.",
			Buckets: fast,
		}, []string{"command"}),
		readDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "prefsd", Subsystem: "raft", Name: "read_index_duration_seconds",
			Help:    "Time to make a read consistent: obtaining a read index and applying up to it.",
			Buckets: fast,
		}, []string{"consistency"}),
		forwarded: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "prefsd", Name: "forwarded_requests_total",
			Help: "Requests this node forwarded to the leader, by kind and result.",
		}, []string{"kind", "result"}),
		leaderChanges: f.NewCounter(prometheus.CounterOpts{
			Namespace: "prefsd", Subsystem: "raft", Name: "leader_changes_total",
			Help: "Times this node gained or lost leadership.",
		}),
		commands: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "prefsd", Subsystem: "fsm", Name: "commands_total",
			Help: "Commands applied to the state machine, by command and result.",
		}, []string{"command", "result"}),
		quotaRefusals: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "prefsd", Subsystem: "fsm", Name: "quota_refusals_total",
			Help: "Writes the state machine refused for exceeding a quota, by limit.",
		}, []string{"limit"}),
		confirmations: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "prefsd", Subsystem: "raft", Name: "read_confirmations_total",
			Help: "Leadership confirmations for linearizable reads, by how the quorum was asked: term or barrier.",
		}, []string{"method"}),
	}
	for _, method := range []string{"term", "barrier"} {
		m.confirmations.WithLabelValues(method)
	}
	for _, t := range fsm.CmdTypes() {
		m.commands.WithLabelValues(t.String(), "ok")
	}
	for _, k := range []string{"apply", "readindex", "join", "remove"} {
		m.forwarded.WithLabelValues(k, "ok")
		m.forwarded.WithLabelValues(k, "error")
	}
	return m
}

func (m *Metrics) observeCommand(t fsm.CmdType, err *fsm.Error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = err.Code
	}
	m.commands.WithLabelValues(t.String(), result).Inc()
	if fsm.IsQuotaError(err) {
		m.quotaRefusals.WithLabelValues(err.Code).Inc()
	}
}

func (m *Metrics) observeApply(t fsm.CmdType, d time.Duration) {
	if m == nil {
		return
	}
	m.applyDuration.WithLabelValues(t.String()).Observe(d.Seconds())
}

func (m *Metrics) observeRead(c Consistency, d time.Duration) {
	if m == nil {
		return
	}
	m.readDuration.WithLabelValues(c.String()).Observe(d.Seconds())
}

func (m *Metrics) observeConfirm(method string) {
	if m == nil {
		return
	}
	m.confirmations.WithLabelValues(method).Inc()
}

func (m *Metrics) observeForward(kind string, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.forwarded.WithLabelValues(kind, result).Inc()
}

func (m *Metrics) leaderChanged(bool) {
	if m == nil {
		return
	}
	m.leaderChanges.Inc()
}

// watchRaft registers a collector that reads raft's state on each scrape.
func (m *Metrics) watchRaft(r *raft.Raft, f *fsm.FSM) {
	if m == nil {
		return
	}
	m.reg.MustRegister(newRaftCollector(r, f))
}

// raftCollector turns raft.Stats into gauges at scrape time; it needs no
// goroutine of its own.
type raftCollector struct {
	raft *raft.Raft
	fsm  *fsm.FSM
	// gauges maps raft.Stats keys to gauges.
	gauges                                            []raftGauge
	state, isLeader, hasLeader, lastContact, fsmIndex *prometheus.Desc
}

type raftGauge struct {
	stat string
	desc *prometheus.Desc
}

func raftDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName("prefsd", "raft", name), help, labels, nil)
}

func newRaftCollector(r *raft.Raft, f *fsm.FSM) *raftCollector {
	return &raftCollector{
		raft: r,
		fsm:  f,
		gauges: []raftGauge{
			{"term", raftDesc("term", "Current raft term.")},
			{"commit_index", raftDesc("commit_index", "Index of the last entry known committed.")},
			{"applied_index", raftDesc("applied_index", "Index of the last entry raft handed to the state machine.")},
			{"last_log_index", raftDesc("last_log_index", "Index of the last entry in the log.")},
			{"last_snapshot_index", raftDesc("last_snapshot_index", "Index of the last snapshot.")},
			{"fsm_pending", raftDesc("fsm_pending", "Entries waiting to be applied to the state machine.")},
			{"num_peers", raftDesc("num_peers", "Other voters in the configuration.")},
		},
		state:       raftDesc("state", "1 for the node's current raft state.", "state"),
		isLeader:    raftDesc("is_leader", "1 if this node is the leader."),
		hasLeader:   raftDesc("has_leader", "1 if this node knows a leader."),
		lastContact: raftDesc("last_contact_seconds", "Seconds since a follower last heard from the leader."),
		fsmIndex:    prometheus.NewDesc("prefsd_fsm_index", "Index of the last entry the state machine applied.", nil, nil),
	}
}

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range c.gauges {
		ch <- g.desc
	}
	ch <- c.state
	ch <- c.isLeader
	ch <- c.hasLeader
	ch <- c.lastContact
	ch <- c.fsmIndex
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.raft.Stats()
	for _, g := range c.gauges {
		if v, err := strconv.ParseFloat(stats[g.stat], 64); err == nil {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v)
		}
	}
	state := c.raft.State()
	for _, s := range []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown} {
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, boolFloat(s == state), s.String())
	}
	ch <- prometheus.MustNewConstMetric(c.isLeader, prometheus.GaugeValue, boolFloat(state == raft.Leader))
	addr, _ := c.raft.LeaderWithID()
	ch <- prometheus.MustNewConstMetric(c.hasLeader, prometheus.GaugeValue, boolFloat(addr != ""))
	if lc := c.raft.LastContact(); !lc.IsZero() && state != raft.Leader {
		ch <- prometheus.MustNewConstMetric(c.lastContact, prometheus.GaugeValue, time.Since(lc).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.fsmIndex, prometheus.GaugeValue, float64(c.fsm.Index()))
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

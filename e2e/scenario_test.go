package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/prefsd/prefsd/internal/testbin"
	"github.com/prefsd/prefsd/lincheck"
)

// A scenario runs concurrent clients against every node of a faultCluster
// while its fault function misbehaves, then heals everything and checks
// the outcome:
//
//   - the history of the model clients is linearizable (porcupine);
//   - every write a node acknowledged to the ledger writers is on every
//     node;
//   - every node's state machine has the same digest;
//   - the cluster served writes before the fault and serves them again
//     after it.
type scenario struct {
	name  string
	nodes int      // 3 when 0
	flags []string // extra node flags
	// model adjusts the model clients' workload (a quota-heavy mix, say).
	model lincheck.Options
	// checkTimeout bounds the linearizability check (2 minutes when 0).
	checkTimeout time.Duration
	// fault misbehaves while traffic runs. It returns when the cluster may
	// heal; the runner then heals the network, resumes paused nodes and
	// restarts stopped ones.
	fault func(r *scenarioRun)
}

// scenarioRun is a scenario in progress, as its fault function sees it.
type scenarioRun struct {
	t   *testing.T
	fc  *faultCluster
	rng *rand.Rand
	// done counts operations with a definite outcome, model and ledger
	// clients together.
	done atomic.Int64
	// anomalies are violations seen while the fault lasted (an isolated
	// leader acknowledging a write, say).
	mu        sync.Mutex
	anomalies []string
}

// anomaly records a violation the scenario saw directly.
func (r *scenarioRun) anomaly(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.anomalies = append(r.anomalies, msg)
	r.mu.Unlock()
	r.t.Errorf("anomaly: %s", msg)
}

// waitProgress waits until n more operations have completed with a
// definite outcome.
func (r *scenarioRun) waitProgress(n int, timeout time.Duration) {
	r.t.Helper()
	target := r.done.Load() + int64(n)
	testbin.Eventually(r.t, timeout, fmt.Sprintf("%d more operations to complete", n), func() error {
		if got := r.done.Load(); got < target {
			return fmt.Errorf("%d of %d done", got-(target-int64(n)), n)
		}
		return nil
	})
}

// scenarioResult is what a run measured.
type scenarioResult struct {
	Ops       int // model operations recorded (unknown writes included)
	Unknown   int // model writes with an unknown outcome
	Acked     int // ledger writes acknowledged
	Attempts  int // ledger writes tried
	Faults    []string
	Check     porcupine.CheckResult
	Lost      int // acknowledged ledger writes missing from the worst node
	LostWhat  []string
	Anomalies []string
	Digest    digest
	Took      time.Duration
}

// Failed reports whether the run found anything wrong.
func (res scenarioResult) Failed() bool {
	return res.Check != porcupine.Ok || res.Lost > 0 || len(res.Anomalies) > 0
}

func (res scenarioResult) String() string {
	return fmt.Sprintf("%d model ops (%d unknown), %d/%d ledger writes acknowledged, %d faults, linearizability %s, %d acknowledged writes lost, %d anomalies, %v",
		res.Ops, res.Unknown, res.Acked, res.Attempts, len(res.Faults), res.Check, res.Lost, len(res.Anomalies), res.Took.Round(time.Millisecond))
}

// scenarioSize scales a run: progress is how many operations must complete
// before the fault and after the heal.
type scenarioSize struct {
	ModelClients  int
	LedgerWriters int
	Progress      int
}

var shortSize = scenarioSize{ModelClients: 6, LedgerWriters: 2, Progress: 40}

// runScenario runs sc and returns what it measured. It fails t when the
// cluster cannot be set up or does not recover; it does not fail t for
// anomalies, lost writes or a non-linearizable history (the caller decides,
// so that a control run can require them).
func runScenario(t *testing.T, sc scenario, size scenarioSize, seed uint64) scenarioResult {
	t.Helper()
	start := time.Now()
	nodes := sc.nodes
	if nodes == 0 {
		nodes = 3
	}
	fc := newFaultCluster(t, nodes, sc.flags...)
	r := &scenarioRun{t: t, fc: fc, rng: rand.New(rand.NewPCG(seed, 0x5eed))}
	urls := fc.URLs()

	model := newModelTraffic(t, fc, seed, sc.model)
	led := newLedger(t, fc, 2)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var clientErrs []error
	var errMu sync.Mutex
	for i := range size.ModelClients {
		wg.Go(func() {
			if err := model.run(ctx, i, urls, &r.done); err != nil {
				errMu.Lock()
				clientErrs = append(clientErrs, err)
				errMu.Unlock()
				cancel()
			}
		})
	}
	for i := range size.LedgerWriters {
		wg.Go(func() { led.run(ctx, i, urls, &r.done) })
	}
	stopTraffic := func() {
		cancel()
		wg.Wait()
	}
	defer stopTraffic()

	r.waitProgress(size.Progress, 60*time.Second)
	sc.fault(r)
	fc.heal()
	fc.restartDead()
	fc.waitHealthy(90 * time.Second)
	r.waitProgress(size.Progress, 60*time.Second)
	stopTraffic()
	if len(clientErrs) > 0 {
		t.Fatalf("a client saw an answer the model does not allow for: %v", errors.Join(clientErrs...))
	}

	res := scenarioResult{Faults: fc.Faults(), Anomalies: r.anomalies}
	res.Digest = fc.waitConverged(60 * time.Second)
	res.Lost, res.LostWhat = led.lost(t, fc)
	res.Acked, res.Attempts = led.Acked()
	t.Logf("ledger answers: %v", led.Answers())
	res.Ops, res.Unknown = model.Stats()
	timeout := sc.checkTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	res.Check = model.Check(t, timeout)
	res.Took = time.Since(start)
	t.Logf("%s: %s; faults: %s", sc.name, res, strings.Join(res.Faults, ", "))
	for _, w := range res.LostWhat {
		t.Logf("lost: %s", w)
	}
	return res
}

// requireClean fails t if a run found anything wrong.
func requireClean(t *testing.T, res scenarioResult) {
	t.Helper()
	if res.Check != porcupine.Ok {
		t.Errorf("the history is not linearizable: %s (see the visualisation above)", res.Check)
	}
	if res.Lost > 0 {
		t.Errorf("%d acknowledged writes are missing, e.g. %s", res.Lost, strings.Join(res.LostWhat, "; "))
	}
	for _, a := range res.Anomalies {
		t.Errorf("anomaly: %s", a)
	}
}

// The scenarios. Each holds its fault until the cluster has visibly reacted
// (a new leader, progress on the majority side), never for a fixed time.
var scenarios = []scenario{
	{name: "LeaderKill", fault: func(r *scenarioRun) {
		fc := r.fc
		leader := fc.leader()
		fc.kill(leader)
		fc.leaderAmong(fc.live(), 30*time.Second)
		r.waitProgress(40, 60*time.Second)
		fc.restart(leader)
	}},
	{name: "QuotaCreatesDuringLeaderChange", model: lincheck.Options{Mix: lincheck.Mix{User: 20, Quota: 75, Global: 5}, QuotaLimit: 4, QuotaUsers: 4}, fault: func(r *scenarioRun) {
		// Most clients create keys against one small quota while leaders
		// die and stall: no acceptance past the limit, no refusal below it.
		fc := r.fc
		leader := fc.leader()
		fc.kill(leader)
		fc.leaderAmong(fc.live(), 30*time.Second)
		r.waitProgress(60, 60*time.Second)
		fc.restart(leader)
		fc.waitHealthy(60 * time.Second)
		leader = fc.leader()
		fc.pause(leader)
		fc.leaderAmong(fc.live(), 30*time.Second)
		r.waitProgress(60, 60*time.Second)
		fc.resume(leader)
	}},
	{name: "FollowerKill", fault: func(r *scenarioRun) {
		fc := r.fc
		f := fc.followers(fc.leader())[0]
		fc.kill(f)
		r.waitProgress(40, 60*time.Second)
		fc.restart(f)
	}},
	{name: "LeaderIsolated", fault: isolatedLeader},
	{name: "OneWayLeaderDeaf", fault: func(r *scenarioRun) {
		// The leader can send but hears nothing back: it must step down,
		// and the others elect a leader among themselves.
		fc := r.fc
		leader := fc.leader()
		others := fc.followers(leader)
		for _, f := range others {
			fc.block(f, leader)
		}
		waitNewLeader(r, others, leader)
		r.waitProgress(40, 60*time.Second)
	}},
	{name: "OneWayFollowerDeaf", fault: func(r *scenarioRun) {
		// One follower hears nothing from the leader but can still send.
		fc := r.fc
		leader := fc.leader()
		f := fc.followers(leader)[0]
		fc.block(leader, f)
		r.waitProgress(80, 60*time.Second)
	}},
	{name: "FlappingPartitions", fault: func(r *scenarioRun) {
		fc := r.fc
		for range 6 {
			members := fc.members()
			fc.isolate(members[r.rng.IntN(len(members))])
			holdFor(r, time.Duration(200+r.rng.IntN(600))*time.Millisecond)
			fc.heal()
			holdFor(r, time.Duration(100+r.rng.IntN(300))*time.Millisecond)
		}
	}},
	{name: "LeaderPause", fault: func(r *scenarioRun) {
		// Paused for longer than the election timeout: the others elect a
		// new leader before the old one wakes up, still believing it leads.
		fc := r.fc
		leader := fc.leader()
		fc.pause(leader)
		fc.leaderAmong(fc.live(), 30*time.Second)
		r.waitProgress(40, 60*time.Second)
		fc.resume(leader)
	}},
	{name: "SlowNetwork", fault: func(r *scenarioRun) {
		r.fc.delayAll(30 * time.Millisecond)
		r.waitProgress(60, 60*time.Second)
	}},
	{name: "RollingRestart", fault: func(r *scenarioRun) {
		fc := r.fc
		for _, n := range fc.members() {
			fc.term(n)
			fc.restart(n)
			fc.waitHealthy(60 * time.Second)
			r.waitProgress(20, 60*time.Second)
		}
	}},
	{name: "RemoveAndReadd", fault: func(r *scenarioRun) {
		fc := r.fc
		f := fc.followers(fc.leader())[0]
		fc.remove(f)
		fc.waitHealthy(60 * time.Second)
		r.waitProgress(30, 60*time.Second)
		fc.readd(f)
		fc.waitHealthy(60 * time.Second)
		n4 := fc.add()
		fc.waitHealthy(60 * time.Second)
		r.waitProgress(30, 60*time.Second)
		fc.remove(n4)
	}},
	{name: "KillAll", fault: func(r *scenarioRun) {
		r.fc.killAll()
	}},
}

// isolatedLeader cuts the leader off from every other node while clients
// keep reaching it. Until the network heals it must acknowledge no write
// and serve no linearizable read: a probe sends it both the whole time.
func isolatedLeader(r *scenarioRun) {
	fc := r.fc
	leader := fc.leader()
	others := fc.followers(leader)
	fc.isolate(leader)
	probe := newIsolationProbe(r, leader)
	waitNewLeader(r, others, leader)
	r.waitProgress(40, 60*time.Second)
	probe.stop()
}

// waitNewLeader waits until nodes agree on a leader among themselves other
// than old.
func waitNewLeader(r *scenarioRun, nodes []*faultNode, old *faultNode) {
	r.t.Helper()
	testbin.Eventually(r.t, 30*time.Second, fmt.Sprintf("%s to elect a leader other than %s", faultIDs(nodes), old.ID), func() error {
		l := r.fc.leaderAmong(nodes, 30*time.Second)
		if l == old {
			return fmt.Errorf("%s still leads", old.ID)
		}
		return nil
	})
}

// holdFor lets a fault last d while traffic runs. It is part of a fault's
// schedule, not a wait for a condition.
func holdFor(r *scenarioRun, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	<-timer.C
}

// isolationProbe sends writes and linearizable reads to one node and
// records an anomaly for any 2xx answer: the node is cut off from the
// majority, so neither can be correct.
type isolationProbe struct {
	r    *scenarioRun
	n    *faultNode
	quit chan struct{}
	done chan struct{}
	sent atomic.Int64
}

// probers is how many requests a probe keeps in flight.
const probers = 4

func newIsolationProbe(r *scenarioRun, n *faultNode) *isolationProbe {
	p := &isolationProbe{r: r, n: n, quit: make(chan struct{}), done: make(chan struct{})}
	var wg sync.WaitGroup
	for i := range probers {
		wg.Go(func() { p.run(i) })
	}
	go func() {
		wg.Wait()
		close(p.done)
	}()
	return p
}

func (p *isolationProbe) run(prober int) {
	client := &http.Client{Timeout: 1500 * time.Millisecond, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for i := prober; ; i += probers {
		select {
		case <-p.quit:
			return
		default:
		}
		var req *http.Request
		if i%2 == 0 {
			req, _ = http.NewRequest(http.MethodPatch, p.n.URL("/api/user/v1/preferences/admin"),
				strings.NewReader(fmt.Sprintf(`{"probe-%d": "x"}`, i)))
			req.Header.Set("Content-Type", "application/merge-patch+json")
		} else {
			req, _ = http.NewRequest(http.MethodGet, p.n.URL("/api/user/v1/preferences/admin?consistency=linearizable"), nil)
		}
		req.Header.Set("Authorization", "Token "+adminToken)
		res, err := client.Do(req)
		p.sent.Add(1)
		if err != nil {
			continue
		}
		res.Body.Close()
		if res.StatusCode/100 == 2 {
			p.r.anomaly("node %s, cut off from the majority, answered %s %s with %d", p.n.ID, req.Method, req.URL.Path, res.StatusCode)
		}
	}
}

// stop ends the probe and waits for its last request; every answer it
// judged arrived before the network heals.
func (p *isolationProbe) stop() {
	close(p.quit)
	<-p.done
	p.r.t.Logf("isolation probe: %d requests to %s, none may succeed", p.sent.Load(), p.n.ID)
}

// TestScenarios runs every scenario once, briefly.
func TestScenarios(t *testing.T) {
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			res := runScenario(t, sc, shortSize, uint64(i+1))
			requireClean(t, res)
		})
	}
}

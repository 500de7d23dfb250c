package e2e

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/prefsd/prefsd/lincheck"
)

// Long randomized fault schedules, run by `make chaos`.
var (
	chaosRuns     = flag.Int("chaos.runs", 0, "randomized fault schedules to run (0 skips TestChaos)")
	chaosDuration = flag.Duration("chaos.duration", 60*time.Second, "how long each randomized schedule injects faults")
	chaosSeed     = flag.Uint64("chaos.seed", 0, "seed of the first schedule (0: from the clock); run i uses seed+i")
)

// chaosSize is the traffic of a randomized schedule.
var chaosSize = scenarioSize{ModelClients: 8, LedgerWriters: 3, Progress: 60}

// chaosModel spreads a long history over more users than a short
// scenario's, so that each partition of it stays small enough to check.
var chaosModel = lincheck.Options{Users: 8, QuotaUsers: 4}

// chaosTally sums the runs of TestChaos.
type chaosTally struct {
	mu        sync.Mutex
	runs      int
	failed    int
	ops       int
	unknown   int
	acked     int
	faults    int
	anomalies int
	lost      int
	notLin    int
}

func (c *chaosTally) add(res scenarioResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs++
	if res.Failed() {
		c.failed++
	}
	c.ops += res.Ops
	c.unknown += res.Unknown
	c.acked += res.Acked
	c.faults += len(res.Faults)
	c.anomalies += len(res.Anomalies)
	c.lost += res.Lost
	if res.Check != porcupine.Ok {
		c.notLin++
	}
}

func (c *chaosTally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "chaos summary\n")
	fmt.Fprintf(&b, "  schedules run                %d (%d failed)\n", c.runs, c.failed)
	fmt.Fprintf(&b, "  operations checked           %d (%d writes with unknown outcome)\n", c.ops, c.unknown)
	fmt.Fprintf(&b, "  ledger writes acknowledged   %d\n", c.acked)
	fmt.Fprintf(&b, "  faults injected              %d\n", c.faults)
	fmt.Fprintf(&b, "  non-linearizable histories   %d\n", c.notLin)
	fmt.Fprintf(&b, "  anomalies found              %d\n", c.anomalies+c.notLin)
	fmt.Fprintf(&b, "  acknowledged writes lost     %d\n", c.lost)
	return b.String()
}

// nemeses are the faults a randomized schedule draws from: every
// scenario's fault.
func nemeses() []scenario {
	return scenarios
}

// TestChaos runs -chaos.runs randomized schedules. Each starts a fresh
// cluster of three or five nodes, then for -chaos.duration draws faults at
// random from every scenario's, letting the cluster recover between them,
// and checks the whole history at the end.
func TestChaos(t *testing.T) {
	if *chaosRuns <= 0 {
		t.Skip("randomized fault schedules run with `make chaos` (-chaos.runs=N)")
	}
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	var tally chaosTally
	defer func() { fmt.Fprint(os.Stdout, "\n"+tally.String()) }()
	for i := range *chaosRuns {
		s := seed + uint64(i)
		nodes := 3
		if s%3 == 0 {
			nodes = 5
		}
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			sc := scenario{name: fmt.Sprintf("chaos seed %d, %d nodes", s, nodes), nodes: nodes, model: chaosModel, fault: func(r *scenarioRun) {
				randomSchedule(r, *chaosDuration)
			}}
			res := runScenario(t, sc, chaosSize, s)
			tally.add(res)
			requireClean(t, res)
			t.Logf("reproduce with: make chaos CHAOS_RUNS=1 CHAOS_SEED=%d CHAOS_DURATION=%v", s, *chaosDuration)
		})
	}
}

// randomSchedule injects randomly drawn faults until d has passed, letting
// the cluster heal and serve again after each one.
func randomSchedule(r *scenarioRun, d time.Duration) {
	fc := r.fc
	all := nemeses()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		nem := all[r.rng.IntN(len(all))]
		r.t.Logf("chaos: %s", nem.name)
		nem.fault(r)
		fc.heal()
		fc.restartDead()
		fc.waitHealthy(90 * time.Second)
		r.waitProgress(20, 60*time.Second)
	}
}

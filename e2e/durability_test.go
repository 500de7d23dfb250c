package e2e

import (
	"testing"
	"time"
)

// killAllMidLoad is the durability fault: every node is SIGKILLed at once
// while writes stream in, twice, with a full restart in between.
func killAllMidLoad(r *scenarioRun) {
	fc := r.fc
	fc.killAll()
	fc.restartDead()
	fc.waitHealthy(90 * time.Second)
	r.waitProgress(100, 60*time.Second)
	fc.killAll()
}

// Every write acknowledged before the whole cluster was SIGKILLed is on
// every node after the restart, and the replicas converge.
func TestCrashDurability(t *testing.T) {
	res := runScenario(t, scenario{name: "KillAllMidLoad", fault: killAllMidLoad}, shortSize, 101)
	requireClean(t, res)
	if res.Acked == 0 {
		t.Fatal("no ledger write was acknowledged: the run proves nothing")
	}
}

// The control run: the same crash with --unsafe-no-fsync, whose log store
// acknowledges writes before they are stored, must lose acknowledged
// writes, and the ledger must see it. If it did not, the durability test
// above could not see loss either.
func TestCrashDurabilityControl(t *testing.T) {
	sc := scenario{
		name:  "KillAllWithoutFsync",
		flags: []string{"--unsafe-no-fsync"},
		// Once writes are lost the history is not linearizable, and
		// proving it can take the checker long; what matters here is the
		// ledger.
		checkTimeout: 5 * time.Second,
		fault: func(r *scenarioRun) {
			fc := r.fc
			// A clean restart stores everything written so far, the users
			// and tokens the clients need among it; only what follows is
			// at risk.
			for _, n := range fc.members() {
				fc.term(n)
			}
			fc.restartDead()
			fc.waitHealthy(90 * time.Second)
			r.waitProgress(200, 60*time.Second)
			fc.killAll()
		},
	}
	res := runScenario(t, sc, shortSize, 102)
	if res.Lost == 0 {
		t.Fatalf("with fsync off, a SIGKILL of every node lost no acknowledged write (%s): the harness cannot see loss", res)
	}
	t.Logf("control: the harness saw %d lost acknowledged writes, e.g. %v; linearizability %s", res.Lost, res.LostWhat, res.Check)
}

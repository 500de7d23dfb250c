package e2e

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
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
// writes, and the harness must see it: the ledger as a missing key, or the
// checker as a read that missed an acknowledged write. If neither did, the
// durability test above could not see loss either.
//
// What is lost is what was acknowledged after the last flush of the node
// that leads after the restart, often a fraction of a second of writes:
// the control writes with more ledger writers than the other scenarios, so
// that the window is rarely empty.
func TestCrashDurabilityControl(t *testing.T) {
	sc := scenario{
		name:  "KillAllWithoutFsync",
		flags: []string{"--unsafe-no-fsync"},
		// Once writes are lost the history is not linearizable, and
		// proving it can take the checker long; a timeout leaves the
		// verdict to the ledger.
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
	size := shortSize
	size.LedgerWriters = 8
	res := runScenario(t, sc, size, 102)
	if res.Lost == 0 && res.Check != porcupine.Illegal {
		t.Fatalf("with fsync off, a SIGKILL of every node lost no acknowledged write that the harness could see (%s): it cannot see loss", res)
	}
	t.Logf("control: the ledger saw %d lost acknowledged writes (e.g. %v), the checker found the history %s", res.Lost, res.LostWhat, res.Check)
}

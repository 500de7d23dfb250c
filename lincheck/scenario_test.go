package lincheck_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/internal/testnode"
	"github.com/prefsd/prefsd/lincheck"
)

const (
	scenarioClients = 6
	scenarioOps     = 400
)

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testnode.Eventually(t, timeout, func() error {
		if cond() {
			return nil
		}
		return errors.New(what)
	})
}

// Six clients spread over a three-node cluster read, write, delete and
// merge-patch three users' preferences, create keys against a fourth
// user's quota and read and write a global setting while the leader is
// stopped and later restarted; the whole history must be linearizable.
func TestLinearizableAcrossLeaderStopAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster scenario; skipped under -short")
	}
	nodes := testnode.StartCluster(t, 3, func(c *config.Config) {
		c.RateLimitUser, c.RateLimitAddress = 0, 0
	})
	leader := testnode.WaitLeader(t, nodes)

	h := lincheck.NewHistory()
	w := lincheck.NewWorkload(h, lincheck.Options{Seed: 42, Timeout: 2 * time.Second})
	defer w.Close()
	setupCtx, cancelSetup := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelSetup()
	if err := w.Setup(setupCtx, leader.URL, testnode.AdminToken); err != nil {
		t.Fatal(err)
	}
	tgt := w.Target()
	if len(tgt.Quota) == 0 || tgt.GlobalKey == "" {
		t.Fatalf("setup made no quota user or global setting: %+v", tgt)
	}
	// Writing a global setting needs staff status: an ordinary user is
	// refused before anything is written.
	if status := patchGlobal(t, leader.URL, tgt.GlobalKey, tgt.Users[0].Token, "not-staff"); status != http.StatusForbidden {
		t.Fatalf("global setting write by a non-staff user = %d, want 403", status)
	}
	// Every node must know the users and their tokens before traffic
	// starts, so that a 401 stays the exception.
	users := append(append([]lincheck.User{tgt.Staff}, tgt.Quota...), tgt.Users...)
	for _, n := range nodes {
		waitFor(t, 10*time.Second, "node "+n.ID()+" does not know the users yet", func() bool {
			st := n.FSM().State()
			for _, u := range users {
				usr, ok := st.UserByName(u.Name)
				if !ok || len(st.Tokens(usr.ID)) == 0 {
					return false
				}
			}
			return true
		})
	}

	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.URL
	}
	var (
		definites    atomic.Int64
		afterRestart atomic.Int64
		restarted    atomic.Bool
		wg           sync.WaitGroup
		errMu        sync.Mutex
		errs         []error
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := func() {
		if definites.Add(1) >= scenarioOps {
			cancel()
		}
		if restarted.Load() {
			afterRestart.Add(1)
		}
	}
	for i := range scenarioClients {
		wg.Go(func() {
			if err := w.Run(ctx, i, urls, progress); err != nil {
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
			}
		})
	}
	clientsDone := make(chan struct{})
	go func() { wg.Wait(); close(clientsDone) }()

	// The fault: stop the leader a third of the way in, restart it at
	// two thirds, with traffic throughout.
	waitFor(t, 20*time.Second, "traffic did not reach a third of its operations", func() bool { return definites.Load() >= scenarioOps/3 })
	old := testnode.WaitLeader(t, nodes)
	stopAt := h.Now()
	old.Stop()
	var rest []*testnode.Node
	for _, n := range nodes {
		if n != old {
			rest = append(rest, n)
		}
	}
	newLeader := testnode.WaitLeader(t, rest)
	electedAt := h.Now()
	waitFor(t, 20*time.Second, "traffic stalled after the leader stopped", func() bool { return definites.Load() >= 2*scenarioOps/3 })
	back := old.Restart(t)
	restartAt := h.Now()
	restarted.Store(true)
	t.Logf("stopped leader %s; %s took over; restarted %s", old.ID(), newLeader.ID(), back.ID())

	select {
	case <-clientsDone:
	case <-time.After(30 * time.Second):
		cancel()
		<-clientsDone
		t.Fatalf("clients did not finish %d operations within 30s (done %d)", scenarioOps, definites.Load())
	}
	for _, err := range errs {
		t.Error(err)
	}

	t.Logf("answers: %v", w.Counts())
	ops := h.Operations()
	n, unknown, dropped := h.Stats()
	t.Logf("history: %d operations (%d definite, %d after the restart, %d unknown writes), %d failed reads dropped",
		n, definites.Load(), afterRestart.Load(), unknown, dropped)
	// Guard against a vacuous pass: operations of every kind must have had
	// a definite outcome, including after the restart.
	if a := afterRestart.Load(); a < 20 {
		t.Errorf("only %d definite operations after the restart", a)
	}
	var reads, quotaOK, refusals, globalReads, globalWrites int
	for _, o := range ops {
		in, out := o.Input.(lincheck.Input), o.Output.(lincheck.Output)
		switch {
		case out.Unknown:
		case in.User == lincheck.GlobalUser(tgt.GlobalKey) && in.Kind == lincheck.Get:
			if out.Found {
				globalReads++
			}
		case in.User == lincheck.GlobalUser(tgt.GlobalKey):
			globalWrites++
		case in.Kind == lincheck.Get && out.Found:
			reads++
		case out.Refused:
			refusals++
		case in.Quota > 0:
			quotaOK++
		}
	}
	if reads < 20 || quotaOK < 3 || refusals < 1 || globalReads < 2 || globalWrites < 2 {
		t.Errorf("the check would say little: %d reads found a value, %d quota user writes accepted and %d refused, "+
			"%d global setting reads found a value and %d writes were acknowledged", reads, quotaOK, refusals, globalReads, globalWrites)
	}

	start := time.Now()
	res := lincheck.Check(t, ops, 10*time.Second,
		porcupine.Annotation{Tag: "nemesis", Start: stopAt, End: electedAt, Description: "stop leader " + old.ID()},
		porcupine.Annotation{Tag: "nemesis", Start: restartAt, End: restartAt, Description: "restart " + old.ID()},
	)
	t.Logf("check of %d operations took %v", len(ops), time.Since(start).Round(time.Millisecond))
	if res != porcupine.Ok {
		t.Fatalf("history is %s, want Ok", res)
	}

	// Control: the same history with one read made stale must be caught.
	stale, desc, found := makeStale(ops)
	if !found {
		t.Fatalf("control: no read in the history could be made stale")
	}
	if res, err := lincheck.CheckPath(stale, 10*time.Second, ""); err != nil || res != porcupine.Illegal {
		t.Errorf("control: history with %s checked %s (%v), want Illegal", desc, res, err)
	}

	// A second workload with the same users starts from a clean slate:
	// Setup clears the preferences the first one left and sets the global
	// setting back to its default, so that its history, which assumes an
	// empty start, checks too.
	h2 := lincheck.NewHistory()
	w2 := lincheck.NewWorkload(h2, lincheck.Options{Seed: 43, Timeout: 2 * time.Second})
	defer w2.Close()
	setup2, cancelSetup2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelSetup2()
	if err := w2.Setup(setup2, newLeader.URL, testnode.AdminToken); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	var done2 atomic.Int64
	var wg2 sync.WaitGroup
	errs = errs[:0]
	for i := range 3 {
		wg2.Go(func() {
			if err := w2.Run(ctx2, i, urls, func() {
				if done2.Add(1) >= 150 {
					cancel2()
				}
			}); err != nil {
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
			}
		})
	}
	waitFor(t, 30*time.Second, "the second workload did not finish", func() bool { return ctx2.Err() != nil })
	wg2.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if res := lincheck.Check(t, h2.Operations(), 10*time.Second); res != porcupine.Ok {
		t.Errorf("history after a second Setup is %s, want Ok", res)
	}
}

// patchGlobal writes a global setting as the token's user and returns the
// status.
func patchGlobal(t *testing.T, base, key, token, value string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, base+"/api/settings/global/"+key+"/", strings.NewReader(`{"value": "`+value+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// makeStale returns a copy of ops in which one read that found a value
// instead reports the value of an acknowledged put to the same key that
// another acknowledged put had overwritten before the read began: a stale
// read, which no linearization allows since values are unique.
func makeStale(ops []porcupine.Operation) ([]porcupine.Operation, string, bool) {
	for ri, r := range ops {
		rin, rout := r.Input.(lincheck.Input), r.Output.(lincheck.Output)
		if rin.Kind != lincheck.Get || !rout.Found {
			continue
		}
		for _, w1 := range ops {
			in1 := w1.Input.(lincheck.Input)
			if in1.Kind != lincheck.Put || in1.User != rin.User || in1.Key != rin.Key || w1.Output.(lincheck.Output).Unknown || in1.Value == rout.Value {
				continue
			}
			for _, w2 := range ops {
				in2 := w2.Input.(lincheck.Input)
				if in2.Kind == lincheck.Put && in2.User == rin.User && in2.Key == rin.Key && !w2.Output.(lincheck.Output).Unknown &&
					w1.Return < w2.Call && w2.Return < r.Call {
					out := append([]porcupine.Operation(nil), ops...)
					out[ri].Output = lincheck.Output{Found: true, Value: in1.Value}
					return out, fmt.Sprintf("%s made to see %q", lincheck.Describe(rin, rout), in1.Value), true
				}
			}
		}
	}
	return nil, "", false
}

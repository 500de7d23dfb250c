package lincheck_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
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
	scenarioUsers   = 3
	scenarioKeys    = 4
)

// httpClient is what a scenario client speaks through: short timeouts,
// so that a request to a stopped node turns into an unknown outcome
// quickly.
var httpClient = &http.Client{Timeout: 3 * time.Second}

// adminDo sends an admin request to base and returns the answer's body,
// failing the test unless the status is want.
func adminDo(t *testing.T, base, method, path string, body any, want int) []byte {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+testnode.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, out, want)
	}
	return out
}

// outcome classifies an answer: definite (the status is part of the
// model), unknown (transport error, 5xx, or a refusal that may come from
// a node not yet caught up), or unexpected (a test or server bug).
type outcome int

const (
	definite outcome = iota
	indefinite
	unexpected
)

// userClient runs one sequential client's requests.
type userClient struct {
	idx    int
	rec    *lincheck.Client
	rng    *rand.Rand
	seq    int
	tokens []string
	nodes  []string // base URLs, tried round-robin
	next   int
}

func (c *userClient) do(method, url, token, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Token "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (c *userClient) value() string {
	c.seq++
	return fmt.Sprintf("c%d-%d", c.idx, c.seq)
}

// step issues one random operation to the next node and records it. It
// returns whether the operation had a definite outcome, and an error for
// an answer the model does not allow for (which fails the test).
func (c *userClient) step() (bool, error) {
	base := c.nodes[c.next%len(c.nodes)]
	c.next++
	u := c.rng.IntN(scenarioUsers)
	user, token := fmt.Sprintf("lin%d", u), c.tokens[u]
	key := func() string { return fmt.Sprintf("k%d", c.rng.IntN(scenarioKeys)) }
	prefs := base + "/api/user/v1/preferences/" + user

	var in lincheck.Input
	switch r := c.rng.IntN(100); {
	case r < 40:
		in = lincheck.Input{Kind: lincheck.Get, User: user, Key: key()}
	case r < 70:
		in = lincheck.Input{Kind: lincheck.Put, User: user, Key: key(), Value: c.value()}
	case r < 80:
		in = lincheck.Input{Kind: lincheck.Delete, User: user, Key: key()}
	default:
		seen := map[string]bool{}
		for range 2 + c.rng.IntN(2) {
			k := key()
			if seen[k] {
				continue
			}
			seen[k] = true
			f := lincheck.Field{Key: k}
			if c.rng.IntN(4) == 0 {
				f.Delete = true
			} else {
				f.Value = c.value()
			}
			in.Patch = append(in.Patch, f)
		}
		in.Kind, in.User = lincheck.Patch, user
	}

	call := c.rec.Invoke(in)
	var (
		status int
		body   []byte
		err    error
	)
	switch in.Kind {
	case lincheck.Get:
		status, body, err = c.do(http.MethodGet, prefs+"/"+in.Key, token, "", nil)
	case lincheck.Delete:
		status, body, err = c.do(http.MethodDelete, prefs+"/"+in.Key, token, "", nil)
	case lincheck.Put, lincheck.Patch:
		patch := map[string]any{}
		if in.Kind == lincheck.Put {
			patch[in.Key] = in.Value
		}
		for _, f := range in.Patch {
			if f.Delete {
				patch[f.Key] = nil
			} else {
				patch[f.Key] = f.Value
			}
		}
		b, _ := json.Marshal(patch)
		status, body, err = c.do(http.MethodPatch, prefs, token, "application/merge-patch+json", b)
	}
	if err != nil {
		tally("transport error")
		call.Unknown()
		return false, nil
	}
	tally(fmt.Sprintf("%s %d", in.Kind, status))
	var out lincheck.Output
	kind := unexpected
	switch {
	case status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout || status >= 500:
		kind = indefinite
	case status == http.StatusUnauthorized:
		// A node that has not caught up may not know the token yet; the
		// request was refused before reaching the log.
		kind = indefinite
	case in.Kind == lincheck.Get && status == http.StatusOK:
		var v string
		if jerr := json.Unmarshal(body, &v); jerr != nil {
			call.Unknown()
			return false, fmt.Errorf("%s: 200 with body %q: %v", lincheck.Describe(in, out), body, jerr)
		}
		out, kind = lincheck.Output{Found: true, Value: v}, definite
	case (in.Kind == lincheck.Get || in.Kind == lincheck.Delete) && status == http.StatusNotFound:
		kind = definite
	case in.Kind == lincheck.Delete && status == http.StatusNoContent:
		out, kind = lincheck.Output{Found: true}, definite
	case (in.Kind == lincheck.Put || in.Kind == lincheck.Patch) && status == http.StatusNoContent:
		kind = definite
	}
	switch kind {
	case definite:
		call.Return(out)
		return true, nil
	case indefinite:
		call.Unknown()
		return false, nil
	}
	call.Unknown()
	return false, fmt.Errorf("%s via %s: unexpected %d %s", lincheck.Describe(in, lincheck.Output{Unknown: true}), base, status, body)
}

// answers counts the scenario's answers by operation and status.
var answers = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func tally(what string) {
	answers.Lock()
	answers.n[what]++
	answers.Unlock()
}

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
// merge-patch three users' preferences while the leader is stopped and
// later restarted; the whole history must be linearizable.
func TestLinearizableAcrossLeaderStopAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster scenario; skipped under -short")
	}
	answers.Lock()
	clear(answers.n)
	answers.Unlock()
	nodes := testnode.StartCluster(t, 3, func(c *config.Config) {
		c.RateLimitUser, c.RateLimitAddress = 0, 0
	})
	leader := testnode.WaitLeader(t, nodes)

	tokens := make([]string, scenarioUsers)
	for u := range tokens {
		name := fmt.Sprintf("lin%d", u)
		adminDo(t, leader.URL, http.MethodPost, "/api/admin/users", map[string]any{"username": name}, http.StatusCreated)
		var tok struct {
			Token string `json:"token"`
		}
		b := adminDo(t, leader.URL, http.MethodPost, "/api/admin/users/"+name+"/tokens", map[string]any{"name": "t"}, http.StatusCreated)
		if err := json.Unmarshal(b, &tok); err != nil || tok.Token == "" {
			t.Fatalf("token answer %s: %v", b, err)
		}
		tokens[u] = tok.Token
	}
	// Every node must know the tokens before traffic starts.
	for _, n := range nodes {
		n := n
		waitFor(t, 10*time.Second, "node "+n.ID()+" does not know the users yet", func() bool {
			st := n.FSM().State()
			for u := range tokens {
				usr, ok := st.UserByName(fmt.Sprintf("lin%d", u))
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
	h := lincheck.NewHistory()
	var (
		issued       atomic.Int64 // operations started
		definites    atomic.Int64 // operations with a definite outcome
		afterRestart atomic.Int64
		restarted    atomic.Bool
		wg           sync.WaitGroup
		errMu        sync.Mutex
		errs         []error
	)
	for i := range scenarioClients {
		c := &userClient{idx: i, rec: h.NewClient(), rng: rand.New(rand.NewPCG(uint64(i), 42)), tokens: tokens, nodes: urls, next: i}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for issued.Add(1) <= scenarioOps {
				ok, err := c.step()
				if err != nil {
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
				}
				if ok {
					definites.Add(1)
					if restarted.Load() {
						afterRestart.Add(1)
					}
				}
			}
		}()
	}
	clientsDone := make(chan struct{})
	go func() { wg.Wait(); close(clientsDone) }()

	// The fault: stop the leader a third of the way in, restart it at
	// two thirds, with traffic throughout.
	waitFor(t, 20*time.Second, "traffic did not reach a third of its operations", func() bool { return issued.Load() >= scenarioOps/3 })
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
	waitFor(t, 20*time.Second, "traffic stalled after the leader stopped", func() bool { return issued.Load() >= 2*scenarioOps/3 })
	back := old.Restart(t)
	restartAt := h.Now()
	restarted.Store(true)
	t.Logf("stopped leader %s; %s took over; restarted %s", old.ID(), newLeader.ID(), back.ID())

	select {
	case <-clientsDone:
	case <-time.After(30 * time.Second):
		t.Fatalf("clients did not finish %d operations within 30s (issued %d)", scenarioOps, issued.Load())
	}
	for _, err := range errs {
		t.Error(err)
	}

	answers.Lock()
	t.Logf("answers: %v", answers.n)
	answers.Unlock()
	ops := h.Operations()
	n, unknown, dropped := h.Stats()
	t.Logf("history: %d operations (%d definite, %d after the restart, %d unknown writes), %d failed reads dropped",
		n, definites.Load(), afterRestart.Load(), unknown, dropped)
	// Guard against a vacuous pass: most operations must have had a
	// definite outcome, including after the restart.
	if d := definites.Load(); d < scenarioOps/2 {
		t.Errorf("only %d of %d operations had a definite outcome", d, scenarioOps)
	}
	if a := afterRestart.Load(); a < 20 {
		t.Errorf("only %d definite operations after the restart", a)
	}
	reads := 0
	for _, o := range ops {
		if o.Input.(lincheck.Input).Kind == lincheck.Get && o.Output.(lincheck.Output).Found {
			reads++
		}
	}
	if reads < 20 {
		t.Errorf("only %d reads found a value; the check would say little", reads)
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

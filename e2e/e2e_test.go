// Package e2e runs real prefsd processes, built from ./cmd/prefsd with the
// hashicorpmetrics tag, and checks them from the outside: clustering,
// crashes and restarts, configuration, and metrics. The tests are skipped
// with -short.
package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prefsd/prefsd/internal/testbin"
)

// API helpers. Each returns the node's answer; the callers decide what an
// acceptable answer is.

func createUser(n *Node, username string) (testbin.Response, error) {
	return testbin.Do(http.MethodPost, n.URL("/api/admin/users"), "Token "+adminToken, "application/json",
		map[string]string{"username": username})
}

func createToken(n *Node, username, name string) (string, testbin.Response, error) {
	res, err := testbin.Do(http.MethodPost, n.URL("/api/admin/users/"+url.PathEscape(username)+"/tokens"), "Token "+adminToken,
		"application/json", map[string]string{"name": name})
	if err != nil || res.Status != http.StatusCreated {
		return "", res, err
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(res.Body, &body); err != nil || body.Token == "" {
		return "", res, fmt.Errorf("token answer %s: no token (%v)", res.Body, err)
	}
	return body.Token, res, nil
}

// edxPatch is the edX dialect's merge-patch of preferences.
func edxPatch(n *Node, token, username string, prefs map[string]string) (testbin.Response, error) {
	return testbin.Do(http.MethodPatch, n.URL("/api/user/v1/preferences/"+url.PathEscape(username)), "Bearer "+token,
		"application/merge-patch+json", prefs)
}

// edxGetAll reads a user's preferences linearizably in the edX dialect.
func edxGetAll(n *Node, token, username string) (testbin.Response, error) {
	return testbin.Do(http.MethodGet, n.URL("/api/user/v1/preferences/"+url.PathEscape(username)+"?consistency=linearizable"),
		"Bearer "+token, "", nil)
}

// layoutPost is the layout dialect's write of one preference.
func layoutPost(n *Node, token, key, value string) (testbin.Response, error) {
	return testbin.Do(http.MethodPost, n.URL("/api/users/preferences/"+url.PathEscape(key)+"/"), "JWT "+token,
		"application/json", map[string]string{"preferences": value})
}

// layoutGet reads one preference linearizably in the layout dialect.
func layoutGet(n *Node, token, key string) (testbin.Response, error) {
	return testbin.Do(http.MethodGet, n.URL("/api/users/preferences/"+url.PathEscape(key)+"/?consistency=linearizable"),
		"JWT "+token, "", nil)
}

// mustStatus fails the test unless send answers want on its first try.
func mustStatus(t *testing.T, what string, want int, send func() (testbin.Response, error)) testbin.Response {
	t.Helper()
	res, err := send()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if res.Status != want {
		t.Fatalf("%s: got %v, want status %d", what, res, want)
	}
	return res
}

// retryWrite sends an idempotent write (it sets the same values every time,
// so a retry after an unknown outcome is safe) until it is answered want,
// retrying transport errors and 503 and 504 answers for at most bound. Any
// other answer ends it at once. It returns a line per failed attempt.
func retryWrite(bound time.Duration, want int, send func() (testbin.Response, error)) ([]string, error) {
	start := time.Now()
	var failures []string
	for {
		res, err := send()
		switch {
		case err == nil && res.Status == want:
			return failures, nil
		case err == nil && res.Status != http.StatusServiceUnavailable && res.Status != http.StatusGatewayTimeout:
			return failures, fmt.Errorf("got %v, want status %d", res, want)
		case err != nil:
			failures = append(failures, fmt.Sprintf("after %v: %v", time.Since(start).Round(time.Millisecond), err))
		default:
			failures = append(failures, fmt.Sprintf("after %v: %v", time.Since(start).Round(time.Millisecond), res))
		}
		if time.Since(start) > bound {
			return failures, fmt.Errorf("not acknowledged within %v; %d attempts failed, the last: %s", bound, len(failures), failures[len(failures)-1])
		}
		time.Sleep(100 * time.Millisecond) // back off between attempts; not synchronisation
	}
}

// store tracks the preferences the cluster acknowledged, per key.
type store struct {
	token, user string
	want        map[string]string
}

// edx writes prefs through n in the edX dialect, and records them once
// acknowledged.
func (s *store) edx(t *testing.T, n *Node, prefs map[string]string) {
	t.Helper()
	mustStatus(t, fmt.Sprintf("edX PATCH %v through %s", prefs, n.ID), http.StatusNoContent, func() (testbin.Response, error) {
		return edxPatch(n, s.token, s.user, prefs)
	})
	maps.Copy(s.want, prefs)
}

// layout writes one preference through n in the layout dialect, and
// records it once acknowledged.
func (s *store) layout(t *testing.T, n *Node, key, value string) {
	t.Helper()
	mustStatus(t, fmt.Sprintf("layout POST %s=%q through %s", key, value, n.ID), http.StatusCreated, func() (testbin.Response, error) {
		return layoutPost(n, s.token, key, value)
	})
	s.want[key] = value
}

// retryEdx is edx for writes during or after a failover: it retries within
// failoverWriteBound (see retryWrite) and logs every failed attempt.
func (s *store) retryEdx(t *testing.T, n *Node, prefs map[string]string) {
	t.Helper()
	s.retry(t, fmt.Sprintf("edX PATCH %v through %s", prefs, n.ID), http.StatusNoContent, func() (testbin.Response, error) {
		return edxPatch(n, s.token, s.user, prefs)
	})
	maps.Copy(s.want, prefs)
}

// retryLayout is layout with retries, as retryEdx.
func (s *store) retryLayout(t *testing.T, n *Node, key, value string) {
	t.Helper()
	s.retry(t, fmt.Sprintf("layout POST %s=%q through %s", key, value, n.ID), http.StatusCreated, func() (testbin.Response, error) {
		return layoutPost(n, s.token, key, value)
	})
	s.want[key] = value
}

func (s *store) retry(t *testing.T, what string, want int, send func() (testbin.Response, error)) {
	t.Helper()
	failures, err := retryWrite(failoverWriteBound, want, send)
	for _, f := range failures {
		t.Logf("%s: attempt failed %s", what, f)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// verify reads every acknowledged preference back from every node with
// linearizable reads, in both dialects, and checks the exact values. A
// node may answer 503 or 504 while it settles; a 200 with the wrong data
// fails at once.
func (s *store) verify(t *testing.T, nodes []*Node) {
	t.Helper()
	start := time.Now()
	for _, n := range nodes {
		testbin.Eventually(t, 15*time.Second, fmt.Sprintf("a linearizable edX read of %s's preferences from %s", s.user, n.ID), func() error {
			res, err := edxGetAll(n, s.token, s.user)
			if err != nil {
				return err
			}
			if res.Status != http.StatusOK {
				return retryable(res)
			}
			if got := res.Header.Get("X-Prefsd-Consistency"); got != "linearizable" {
				return testbin.Permanent(fmt.Errorf("node %s served the read at consistency %q", n.ID, got))
			}
			var got map[string]string
			if err := json.Unmarshal(res.Body, &got); err != nil {
				return testbin.Permanent(fmt.Errorf("node %s: %v in %s", n.ID, err, res.Body))
			}
			if !maps.Equal(got, s.want) {
				return testbin.Permanent(fmt.Errorf("node %s (read index %s) returned %s's preferences\n  got  %v\n  want %v",
					n.ID, res.Header.Get("X-Prefsd-Index"), s.user, got, s.want))
			}
			return nil
		})
		for _, key := range slices.Sorted(maps.Keys(s.want)) {
			testbin.Eventually(t, 15*time.Second, fmt.Sprintf("a linearizable layout read of %s from %s", key, n.ID), func() error {
				res, err := layoutGet(n, s.token, key)
				if err != nil {
					return err
				}
				if res.Status != http.StatusOK {
					return retryable(res)
				}
				var got struct {
					Preferences *string `json:"preferences"`
				}
				if err := json.Unmarshal(res.Body, &got); err != nil || got.Preferences == nil {
					return testbin.Permanent(fmt.Errorf("node %s: layout GET %s: bad body %s (%v)", n.ID, key, res.Body, err))
				}
				if *got.Preferences != s.want[key] {
					return testbin.Permanent(fmt.Errorf("node %s: layout GET %s = %q, want %q", n.ID, key, *got.Preferences, s.want[key]))
				}
				return nil
			})
		}
	}
	t.Logf("read %d preferences back from %s in %v", len(s.want), nodeIDs(nodes), time.Since(start).Round(time.Millisecond))
}

// retryable turns an answer into an error to poll past if it is a 503 or
// 504, and into a permanent one otherwise.
func retryable(res testbin.Response) error {
	err := fmt.Errorf("answer %v", res)
	if res.Status == http.StatusServiceUnavailable || res.Status == http.StatusGatewayTimeout {
		return err
	}
	return testbin.Permanent(err)
}

func without(nodes []*Node, drop *Node) []*Node {
	var out []*Node
	for _, n := range nodes {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

// failoverWriteBound is how long a write through a surviving node may take
// to be acknowledged, counted from the leader's death.
const failoverWriteBound = 15 * time.Second

func TestThreeNodeCrashAndRestart(t *testing.T) {
	testbin.Prefsd(t) // build first, so that the timings below are the cluster's
	testStart := time.Now()
	n1, n2, n3 := NewNode(t, "n1"), NewNode(t, "n2"), NewNode(t, "n3")
	nodes := []*Node{n1, n2, n3}
	for _, n := range nodes {
		n.Env = clusterEnv()
	}
	n1.Start(n1.Flags("--bootstrap")...)
	n2.Start(n2.Flags("--join", n1.HTTPAddr)...)
	n3.Start(n3.Flags("--join", n1.HTTPAddr+","+n2.HTTPAddr)...)
	leader := waitCluster(t, nodes, nodes, 30*time.Second)
	followers := without(nodes, leader)
	t.Logf("cluster formed in %v; leader %s", time.Since(testStart).Round(time.Millisecond), leader.ID)

	// A user and a token, created through a follower.
	mustStatus(t, "create user alice through "+followers[0].ID, http.StatusCreated, func() (testbin.Response, error) {
		return createUser(followers[0], "alice")
	})
	token, res, err := createToken(followers[0], "alice", "t")
	if err != nil || token == "" {
		t.Fatalf("create a token for alice through %s: %v %v", followers[0].ID, res, err)
	}
	s := &store{token: token, user: "alice", want: map[string]string{}}

	// Writes at the followers, in both dialects.
	s.edx(t, followers[1], map[string]string{"pref-lang": "en", "dark_mode": "true"})
	s.layout(t, followers[0], "dashboard-layout", `{"columns":[["news"],["grades","calendar"]]}`)
	s.edx(t, followers[0], map[string]string{"greeting": "héllo wörld ✓"})
	s.layout(t, followers[1], "sidebar", "collapsed")

	// Kill the leader. One write goes out through a survivor at once, while
	// the election is under way; the test waits for a new leader meanwhile.
	killed := leader
	survivors := followers
	killedAt := time.Now()
	killed.Kill()
	type outcome struct {
		failures []string
		err      error
		took     time.Duration
	}
	during := map[string]string{"written-during-election": "yes"}
	duringDone := make(chan outcome, 1)
	go func() {
		failures, err := retryWrite(failoverWriteBound, http.StatusNoContent, func() (testbin.Response, error) {
			return edxPatch(survivors[0], token, "alice", during)
		})
		duringDone <- outcome{failures, err, time.Since(killedAt)}
	}()
	newLeader := waitCluster(t, survivors, nodes, 30*time.Second)
	t.Logf("killed leader %s; %s leads after %v", killed.ID, newLeader.ID, time.Since(killedAt).Round(time.Millisecond))
	o := <-duringDone
	for _, f := range o.failures {
		t.Logf("write through %s during the election: attempt failed %s", survivors[0].ID, f)
	}
	if o.err != nil {
		t.Fatalf("write through %s after the leader died: %v", survivors[0].ID, o.err)
	}
	t.Logf("write through %s acknowledged %v after the kill", survivors[0].ID, o.took.Round(time.Millisecond))
	maps.Copy(s.want, during)

	// Writes through the survivors under the new leader, in both dialects.
	s.retryEdx(t, survivors[1], map[string]string{"pref-lang": "fr", "after-failover": "1"})
	s.retryLayout(t, survivors[0], "sidebar", "expanded")
	if took := time.Since(killedAt); took > failoverWriteBound {
		t.Errorf("writes after the leader's death took %v in all, more than %v", took, failoverWriteBound)
	}

	// The killed node comes back with exactly the flags it had, rejoins
	// from its own state, and serves writes and reads.
	restartAt := time.Now()
	killed.Restart()
	waitCluster(t, nodes, nodes, 30*time.Second)
	t.Logf("%s rejoined in %v", killed.ID, time.Since(restartAt).Round(time.Millisecond))
	s.edx(t, killed, map[string]string{"after-rejoin": killed.ID})
	s.verify(t, nodes)

	// Stop everything cleanly and bring it back. n1 and n2 keep their
	// flags (--bootstrap, --join); n3 is started without --join, which a
	// node with state of its own does not need.
	for _, n := range nodes {
		n.Stop()
	}
	restartAt = time.Now()
	n1.Restart()
	n2.Restart()
	n3.Start(n3.Flags()...)
	leader = waitCluster(t, nodes, nodes, 30*time.Second)
	t.Logf("full restart: cluster back in %v, leader %s", time.Since(restartAt).Round(time.Millisecond), leader.ID)
	s.verify(t, nodes)
	s.layout(t, without(nodes, leader)[0], "after-full-restart", "ok")
	s.verify(t, nodes)
	t.Logf("scenario took %v", time.Since(testStart).Round(time.Millisecond))
}

func TestJoinRetriesUntilLeaderExists(t *testing.T) {
	n1, n2 := NewNode(t, "n1"), NewNode(t, "n2")
	n1.Env, n2.Env = clusterEnv(), clusterEnv()

	// n2 starts first and must keep trying to join through n1's address.
	n2.Start(n2.Flags("--join", n1.HTTPAddr)...)
	testbin.Eventually(t, 20*time.Second, "n2 to report a failed join attempt on stderr", func() error {
		if err := n2.checkAlive(); err != nil {
			return err
		}
		if !strings.Contains(n2.Stderr(), "join failed; retrying") {
			return fmt.Errorf("no \"join failed; retrying\" in n2's stderr yet")
		}
		return nil
	})
	if err := n2.ready(); err == nil {
		t.Fatalf("n2 reports ready before any leader exists")
	}

	n1.Start(n1.Flags("--bootstrap")...)
	nodes := []*Node{n1, n2}
	leader := waitCluster(t, nodes, nodes, 30*time.Second)
	if leader != n1 {
		t.Errorf("leader is %s, want the bootstrapping n1", leader.ID)
	}
	// n2 is a working member: a write through it is forwarded to n1.
	mustStatus(t, "create a user through n2", http.StatusCreated, func() (testbin.Response, error) {
		return createUser(n2, "carol")
	})
	mustStatus(t, "read the user back from n1", http.StatusOK, func() (testbin.Response, error) {
		return testbin.Do(http.MethodGet, n1.URL("/api/admin/users/carol"), "Token "+adminToken, "", nil)
	})
}

func TestFlagsFromEnvironment(t *testing.T) {
	n := NewNode(t, "env-node-7")
	n.Env = []string{
		"PREFSD_NODE_ID=" + n.ID,
		"PREFSD_HTTP_ADDR=" + n.HTTPAddr,
		"PREFSD_RAFT_ADDR=" + n.RaftAddr,
		"PREFSD_DATA_DIR=" + n.DataDir,
		"PREFSD_ADMIN_TOKEN=" + adminToken,
		"PREFSD_RAFT_HEARTBEAT_TIMEOUT=300ms",
		"PREFSD_RAFT_ELECTION_TIMEOUT=300ms",
	}
	n.Start() // no flags at all
	// waitCluster checks that status reports this node id, and the raft
	// and HTTP addresses from the environment.
	waitCluster(t, []*Node{n}, []*Node{n}, 20*time.Second)
	if _, err := os.Stat(filepath.Join(n.DataDir, "raft.db")); err != nil {
		t.Errorf("no raft log in PREFSD_DATA_DIR: %v", err)
	}
	if entries, _ := os.ReadDir(n.WorkDir); len(entries) > 0 {
		t.Errorf("the node wrote into its working directory, not PREFSD_DATA_DIR: %v", entries)
	}
}

var printedToken = regexp.MustCompile(`export PREFSD_TOKEN=([0-9a-f]{40})\b`)

func TestDefaultRunPrintsToken(t *testing.T) {
	n := NewNode(t, "solo")
	n.Start("--data-dir", n.DataDir, "--http-addr", n.HTTPAddr, "--raft-addr", n.RaftAddr)

	var token string
	testbin.Eventually(t, 20*time.Second, "a generated admin token on stdout", func() error {
		if m := printedToken.FindStringSubmatch(n.Stdout()); m != nil {
			token = m[1]
			return nil
		}
		if err := n.checkAlive(); err != nil {
			return err
		}
		return fmt.Errorf("stdout so far: %q", n.Stdout())
	})
	if !strings.Contains(n.Stdout(), "http://"+n.HTTPAddr+"/api/admin/users") {
		t.Errorf("the printed instructions do not name the node's address %s:\n%s", n.HTTPAddr, n.Stdout())
	}
	waitReady(t, n, 20*time.Second)

	// The token is given to the superuser by the leader just after it is
	// ready, so the first requests may be refused for a moment.
	refused := 0
	testbin.Eventually(t, 10*time.Second, "the printed token to be accepted by GET /api/admin/users", func() error {
		res, err := testbin.Do(http.MethodGet, n.URL("/api/admin/users"), "Token "+token, "", nil)
		if err != nil {
			return err
		}
		switch res.Status {
		case http.StatusOK:
			return nil
		case http.StatusUnauthorized:
			refused++
			return fmt.Errorf("answer %v", res)
		}
		return testbin.Permanent(fmt.Errorf("answer %v", res))
	})
	if refused > 0 {
		t.Logf("note: /readyz said ready while the printed token was still refused (%d times 401)", refused)
	}
	mustStatus(t, "create a user with the printed token", http.StatusCreated, func() (testbin.Response, error) {
		return testbin.Do(http.MethodPost, n.URL("/api/admin/users"), "Token "+token, "application/json", map[string]string{"username": "dave"})
	})

	n.Stop()
	n.Restart()
	waitReady(t, n, 20*time.Second)
	if out := n.Stdout(); strings.Contains(out, "PREFSD_TOKEN") || strings.Contains(out, "generated") {
		t.Errorf("the second start printed a token again:\n%s", out)
	}
	res := mustStatus(t, "GET /api/admin/users with the first token after a restart", http.StatusOK, func() (testbin.Response, error) {
		return testbin.Do(http.MethodGet, n.URL("/api/admin/users"), "Token "+token, "", nil)
	})
	var users []struct {
		Username    string `json:"username"`
		IsSuperuser bool   `json:"is_superuser"`
	}
	if err := json.Unmarshal(res.Body, &users); err != nil {
		t.Fatalf("users: %v in %s", err, res.Body)
	}
	names := map[string]bool{}
	for _, u := range users {
		names[u.Username] = u.IsSuperuser
	}
	if super, ok := names["admin"]; !ok || !super {
		t.Errorf("no superuser admin in %s", res.Body)
	}
	if _, ok := names["dave"]; !ok {
		t.Errorf("dave, created before the restart, is missing from %s", res.Body)
	}
}

func TestMetricsExposeRaft(t *testing.T) {
	n := NewNode(t, "m1")
	n.Env = clusterEnv()
	n.Start(n.Flags()...) // no --join: bootstraps
	waitCluster(t, []*Node{n}, []*Node{n}, 20*time.Second)
	mustStatus(t, "create a user", http.StatusCreated, func() (testbin.Response, error) { return createUser(n, "erin") })

	testbin.Eventually(t, 10*time.Second, "raft and HTTP series on GET /metrics", func() error {
		res, err := testbin.Do(http.MethodGet, n.URL("/metrics"), "", "", nil)
		if err != nil {
			return err
		}
		if res.Status != http.StatusOK {
			return fmt.Errorf("GET /metrics: %v", res)
		}
		values := map[string]string{} // series name → value of its last sample
		var raftOwn []string
		for _, line := range strings.Split(string(res.Body), "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name := line
			if i := strings.IndexAny(line, "{ "); i >= 0 {
				name = line[:i]
			}
			values[name] = line[strings.LastIndexByte(line, ' ')+1:]
			// prefsd_raft_apply_duration_seconds is prefsd's own histogram;
			// raft's own series are prefsd_raft_apply and prefsd_raft_commitTime.
			if (strings.HasPrefix(name, "prefsd_raft_apply") || strings.HasPrefix(name, "prefsd_raft_commitTime")) &&
				!strings.HasPrefix(name, "prefsd_raft_apply_duration_seconds") {
				raftOwn = append(raftOwn, name)
			}
		}
		var missing []string
		if v, ok := values["prefsd_raft_is_leader"]; !ok {
			missing = append(missing, "prefsd_raft_is_leader")
		} else if v != "1" {
			return fmt.Errorf("prefsd_raft_is_leader is %s on a single-node cluster's leader", v)
		}
		if _, ok := values["prefsd_http_requests_total"]; !ok {
			missing = append(missing, "prefsd_http_requests_total")
		}
		if len(raftOwn) == 0 {
			missing = append(missing, "a series of raft's own named prefsd_raft_apply* or prefsd_raft_commitTime*")
		}
		if len(missing) > 0 {
			return fmt.Errorf("missing %s", strings.Join(missing, ", "))
		}
		t.Logf("raft's own series: %s", strings.Join(slices.Compact(slices.Sorted(slices.Values(raftOwn))), " "))
		return nil
	})
}

func TestBadFlags(t *testing.T) {
	testbin.Prefsd(t)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	for _, tc := range []struct {
		name  string
		args  func(dir, raftAddr, httpAddr string) []string
		names []string // what the error must mention
	}{
		{"unknown flag", func(dir, raftAddr, httpAddr string) []string {
			return []string{"--data-dir", dir, "--raft-addr", raftAddr, "--no-such-flag", "1"}
		}, []string{"no-such-flag"}},
		{"join without cluster key", func(dir, raftAddr, httpAddr string) []string {
			return []string{"--data-dir", dir, "--raft-addr", raftAddr, "--http-addr", httpAddr, "--join", "127.0.0.1:9"}
		}, []string{"--cluster-key", "--join"}},
		{"malformed http addr", func(dir, raftAddr, httpAddr string) []string {
			return []string{"--data-dir", dir, "--raft-addr", raftAddr, "--http-addr", "not-an-address"}
		}, []string{"--http-addr"}},
		{"http addr in use", func(dir, raftAddr, httpAddr string) []string {
			return []string{"--data-dir", dir, "--raft-addr", raftAddr, "--http-addr", held.Addr().String()}
		}, []string{"--http-addr"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			addrs := testbin.FreeAddrs(t, 2)
			args := tc.args(filepath.Join(dir, "data"), addrs[0], addrs[1])
			res := runToExit(t, dir, nil, 20*time.Second, args...)
			if res.Code == 0 {
				t.Errorf("prefsd %s exited with status 0", strings.Join(args, " "))
			}
			// main prints the error last, as "prefsd: <error>".
			i := strings.LastIndex(res.Stderr, "prefsd: ")
			if i < 0 {
				t.Fatalf("prefsd %s: no \"prefsd: \" error on stderr:\n%s", strings.Join(args, " "), res.Stderr)
			}
			msg := res.Stderr[i:]
			for _, want := range tc.names {
				if !strings.Contains(msg, want) {
					t.Errorf("prefsd %s: the error does not name %s:\n%s", strings.Join(args, " "), want, msg)
				}
			}
			t.Logf("exit status %d: %s", res.Code, strings.TrimSpace(msg))
		})
	}
}

// A first start that fails after printing the generated admin token (here:
// the raft port is taken) must not lose it: the next start uses the token
// kept in the data directory.
func TestFailedFirstStartKeepsToken(t *testing.T) {
	n := NewNode(t, "solo")
	held, err := net.Listen("tcp", n.RaftAddr)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--data-dir", n.DataDir, "--http-addr", n.HTTPAddr, "--raft-addr", n.RaftAddr}
	res := runToExit(t, n.WorkDir, nil, 20*time.Second, args...)
	held.Close()
	if res.Code == 0 {
		t.Fatalf("prefsd started although its raft address was taken")
	}
	var tokens []string
	if m := printedToken.FindStringSubmatch(res.Stdout); m != nil {
		tokens = append(tokens, m[1])
	}
	n.Start(args...)
	waitReady(t, n, 20*time.Second)
	if m := printedToken.FindStringSubmatch(n.Stdout()); m != nil {
		tokens = append(tokens, m[1])
	}
	t.Logf("tokens printed by the failed and the second start: %q", tokens)
	testbin.Eventually(t, 10*time.Second, "some printed token to be accepted by GET /api/admin/users", func() error {
		var answers []string
		for _, tok := range tokens {
			res, err := testbin.Do(http.MethodGet, n.URL("/api/admin/users"), "Token "+tok, "", nil)
			if err != nil {
				return err
			}
			if res.Status == http.StatusOK {
				return nil
			}
			answers = append(answers, res.String())
		}
		return fmt.Errorf("no printed token works (%d printed): %v", len(tokens), answers)
	})
}

// A node restarted while the cluster has no quorum cannot check a token it
// has not applied yet; it must answer 503, not tell a client with good
// credentials that they are bad.
func TestNoQuorumAnswersUnavailable(t *testing.T) {
	n1, n2, n3 := NewNode(t, "n1"), NewNode(t, "n2"), NewNode(t, "n3")
	nodes := []*Node{n1, n2, n3}
	for _, n := range nodes {
		n.Env = clusterEnv()
	}
	n1.Start(n1.Flags("--bootstrap", "--leader-wait=1s")...)
	n2.Start(n2.Flags("--join", n1.HTTPAddr, "--leader-wait=1s")...)
	n3.Start(n3.Flags("--join", n1.HTTPAddr, "--leader-wait=1s")...)
	waitCluster(t, nodes, nodes, 30*time.Second)
	mustStatus(t, "create alice", http.StatusCreated, func() (testbin.Response, error) { return createUser(n2, "alice") })
	token, res, err := createToken(n2, "alice", "t")
	if err != nil || token == "" {
		t.Fatalf("token: %v %v", res, err)
	}
	for _, n := range nodes {
		n.Stop()
	}
	n1.Restart() // alone: no quorum
	testbin.Eventually(t, 10*time.Second, "n1 to answer GET /healthz", func() error {
		if err := n1.checkAlive(); err != nil {
			return err
		}
		_, err := testbin.Do(http.MethodGet, n1.URL("/healthz"), "", "", nil)
		return err
	})
	res, err = testbin.Do(http.MethodGet, n1.URL("/api/user/v1/preferences/alice"), "Bearer "+token, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusServiceUnavailable {
		t.Errorf("GET preferences with alice's valid token on a node without quorum: %v, want 503", res)
	}
	res, err = testbin.Do(http.MethodGet, n1.URL("/api/cluster/status"), "Token "+adminToken, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status == http.StatusUnauthorized || res.Status == http.StatusForbidden {
		t.Errorf("GET /api/cluster/status with the admin token on a node without quorum: %v, want 200 or 503", res)
	}
}

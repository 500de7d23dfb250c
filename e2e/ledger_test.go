package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prefsd/prefsd/internal/testbin"
)

// A ledger proves durability: its writers put keys that are never written
// again, each with a unique value, and remember every write a node
// acknowledged. After the faults, every node must hold every acknowledged
// key with its value. Writes whose outcome is unknown may or may not be
// there.
type ledger struct {
	users  []ledgerUser
	client *http.Client

	mu       sync.Mutex
	acked    map[string]map[string]string // user → key → value
	attempts int
	unknown  int
	answers  map[string]int // status (or "error") → count
}

type ledgerUser struct {
	Name  string
	Token string
}

// newLedger creates n ledger users, each with room for a million keys,
// through the cluster's live nodes.
func newLedger(t *testing.T, fc *faultCluster, n int) *ledger {
	t.Helper()
	l := &ledger{
		acked:   map[string]map[string]string{},
		answers: map[string]int{},
		client:  &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}},
	}
	t.Cleanup(l.client.CloseIdleConnections)
	for i := range n {
		name := fmt.Sprintf("ledger%d", i)
		var token string
		testbin.Eventually(t, 30*time.Second, "creating ledger user "+name, func() error {
			via := fc.live()[0].Node
			if res, err := createUser(via, name); err != nil || (res.Status != http.StatusCreated && res.Status != http.StatusBadRequest) {
				return fmt.Errorf("create %s: %v %v", name, res, err)
			}
			res, err := testbin.Do(http.MethodPut, via.URL("/api/admin/users/"+name+"/quota"), "Token "+adminToken, "application/json",
				map[string]int64{"max_preferences": 1_000_000})
			if err != nil || res.Status != http.StatusOK {
				return fmt.Errorf("quota of %s: %v %v", name, res, err)
			}
			tok, res, err := createToken(via, name, "ledger")
			if err != nil || tok == "" {
				return fmt.Errorf("token of %s: %v %v", name, res, err)
			}
			token = tok
			return nil
		})
		l.users = append(l.users, ledgerUser{Name: name, Token: token})
		l.acked[name] = map[string]string{}
	}
	return l
}

// run writes as writer idx until ctx ends, spreading writes over urls,
// and counts each acknowledged write in done.
func (l *ledger) run(ctx context.Context, idx int, urls []string, done *atomic.Int64) {
	u := l.users[idx%len(l.users)]
	for seq := 0; ctx.Err() == nil; seq++ {
		key := fmt.Sprintf("w%d-%d", idx, seq)
		value := fmt.Sprintf("v%d-%d", idx, seq)
		base := urls[seq%len(urls)]
		body, _ := json.Marshal(map[string]string{key: value})
		req, err := http.NewRequestWithContext(ctx, http.MethodPatch, base+"/api/user/v1/preferences/"+url.PathEscape(u.Name), bytes.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Authorization", "Token "+u.Token)
		req.Header.Set("Content-Type", "application/merge-patch+json")
		res, err := l.client.Do(req)
		status, answer := 0, "error"
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			status = res.StatusCode
			answer = fmt.Sprint(status)
		}
		l.mu.Lock()
		l.attempts++
		l.answers[answer]++
		ok := status == http.StatusNoContent
		if ok {
			l.acked[u.Name][key] = value
			done.Add(1)
		} else {
			l.unknown++
		}
		l.mu.Unlock()
		if !ok {
			// Back off a little, so a node that fails fast is not flooded.
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// Acked returns how many writes were acknowledged and how many were tried.
func (l *ledger) Acked() (acked, attempts int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.acked {
		acked += len(m)
	}
	return acked, l.attempts
}

// Answers returns the writers' answers by status ("error" for a transport
// error).
func (l *ledger) Answers() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.answers)
}

// lost reads every ledger user's preferences from each node, and returns
// how many acknowledged writes the worst node misses, with examples. Every
// member must answer.
func (l *ledger) lost(t *testing.T, fc *faultCluster) (int, []string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	worst := 0
	var examples []string
	for _, n := range fc.members() {
		missing := 0
		for _, u := range l.users {
			var got map[string]string
			testbin.Eventually(t, 30*time.Second, "reading "+u.Name+"'s preferences from "+n.ID, func() error {
				res, err := testbin.Do(http.MethodGet, n.URL("/api/user/v1/preferences/"+u.Name+"?consistency=linearizable"), "Token "+u.Token, "", nil)
				if err != nil {
					return err
				}
				if res.Status != http.StatusOK {
					return fmt.Errorf("node %s: %v", n.ID, res)
				}
				got = nil
				return json.Unmarshal(res.Body, &got)
			})
			keys := slices.Sorted(maps.Keys(l.acked[u.Name]))
			for _, k := range keys {
				if v, ok := got[k]; !ok || v != l.acked[u.Name][k] {
					missing++
					if len(examples) < 5 {
						examples = append(examples, fmt.Sprintf("node %s: %s/%s=%q acknowledged, found %q (present %v)", n.ID, u.Name, k, l.acked[u.Name][k], v, ok))
					}
				}
			}
		}
		worst = max(worst, missing)
	}
	return worst, examples
}

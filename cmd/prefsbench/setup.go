package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// admin talks to the admin and edX APIs to prepare a run.
type admin struct {
	client *http.Client
	addrs  []string
	token  string
}

// call sends a JSON request and returns the answer's status and body.
func (a *admin) call(ctx context.Context, base, method, path, auth, ctype string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, out, err
}

// ensureUser creates user, or reuses it when it already exists, and
// returns a new API token for it.
func (a *admin) ensureUser(ctx context.Context, user string) (string, error) {
	base := a.addrs[0]
	auth := "Token " + a.token
	body, _ := json.Marshal(map[string]string{"username": user})
	status, out, err := a.call(ctx, base, http.MethodPost, "/api/admin/users", auth, "application/json", body)
	switch {
	case err != nil:
		return "", fmt.Errorf("create user %s: %w", user, err)
	case status == http.StatusCreated:
	case status == http.StatusBadRequest && strings.Contains(string(out), "already exists"):
		// Reuse the user from an earlier run.
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "", fmt.Errorf("create user %s: %d %s: is -token (or PREFSD_TOKEN) the admin token? (a new cluster accepts it once it has a leader)", user, status, bytes.TrimSpace(out))
	default:
		return "", fmt.Errorf("create user %s: %d %s", user, status, bytes.TrimSpace(out))
	}
	body, _ = json.Marshal(map[string]string{"name": "prefsbench"})
	status, out, err = a.call(ctx, base, http.MethodPost, "/api/admin/users/"+url.PathEscape(user)+"/tokens", auth, "application/json", body)
	if err != nil {
		return "", fmt.Errorf("create token for %s: %w", user, err)
	}
	if status != http.StatusCreated {
		return "", fmt.Errorf("create token for %s: %d %s", user, status, bytes.TrimSpace(out))
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(out, &tok); err != nil || tok.Token == "" {
		return "", fmt.Errorf("create token for %s: unexpected answer %s", user, bytes.TrimSpace(out))
	}
	return tok.Token, nil
}

// seedBatch is the most keys one seeding request sets.
const seedBatch = 256

// seed gives every benchmark key of user a value, so that reads find it.
func (a *admin) seed(ctx context.Context, user, token string, keys, valueSize int) error {
	value := strings.Repeat("s", valueSize)
	perReq := max(1, min(seedBatch, (512<<10)/(valueSize+32)))
	for from := 0; from < keys; from += perReq {
		patch := make(map[string]string, perReq)
		for i := from; i < min(from+perReq, keys); i++ {
			patch[keyName(i)] = value
		}
		body, _ := json.Marshal(patch)
		status, out, err := a.call(ctx, a.addrs[0], http.MethodPatch, edxPrefsPath(user), "Token "+token, mediaMergePatch, body)
		if err != nil {
			return fmt.Errorf("seed %s: %w", user, err)
		}
		if status != http.StatusNoContent {
			return fmt.Errorf("seed %s: %d %s", user, status, bytes.TrimSpace(out))
		}
	}
	return nil
}

// visible waits until the node at base authenticates user's token and
// serves all of the user's keys from its own state, as a follower does
// some time after the leader committed them.
func (a *admin) visible(ctx context.Context, base, user, token string, keys int) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, out, err := a.call(ctx, base, http.MethodGet, edxPrefsPath(user)+"?consistency=stale", "Token "+token, "", nil)
		var prefs map[string]json.RawMessage
		if err == nil && status == http.StatusOK && json.Unmarshal(out, &prefs) == nil && len(prefs) >= keys {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("%s: user %s not ready: %w", base, user, err)
			}
			return fmt.Errorf("%s: user %s not ready: %d %s", base, user, status, bytes.TrimSpace(out))
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// prepare creates (or reuses) the benchmark users, gives each a new token
// and a value for every key, and waits until every node serves them. It
// returns the tokens in the order of users.
func (a *admin) prepare(ctx context.Context, users []string, keys, valueSize, parallel int) ([]string, error) {
	tokens := make([]string, len(users))
	err := parallelDo(ctx, len(users), parallel, func(ctx context.Context, i int) error {
		tok, err := a.ensureUser(ctx, users[i])
		if err != nil {
			return err
		}
		tokens[i] = tok
		return a.seed(ctx, users[i], tok, keys, valueSize)
	})
	if err != nil {
		return nil, err
	}
	err = parallelDo(ctx, len(users)*len(a.addrs), parallel, func(ctx context.Context, i int) error {
		u := i % len(users)
		return a.visible(ctx, a.addrs[i/len(users)], users[u], tokens[u], keys)
	})
	return tokens, err
}

// parallelDo calls f for 0..n-1 from at most parallel goroutines and
// returns the first error, after which it starts no more calls.
func parallelDo(ctx context.Context, n, parallel int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		first   error
		indexes = make(chan int)
	)
	for range max(1, min(parallel, n)) {
		wg.Go(func() {
			for i := range indexes {
				if err := f(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case indexes <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(indexes)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// userNames returns the benchmark's user names.
func userNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

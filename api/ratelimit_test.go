package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prefsd/prefsd/api"
)

// Clients over their rate get DRF's 429 with Retry-After, per user and per
// client address, in every dialect; other users and addresses go on.
func TestRateLimits(t *testing.T) {
	f := newFixture(t)
	alice := f.createUser(t, "rl_alice", false)
	bob := f.createUser(t, "rl_bob", false)
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }

	serve := func(h http.Handler, addr, auth, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path+"?consistency=stale", nil)
		req.RemoteAddr = addr
		req.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}

	t.Run("per user", func(t *testing.T) {
		h := recordAnswers(api.New(api.Options{Cluster: f.node.Node, MaxBodyBytes: 1 << 20, RateLimitUser: 1, Clock: clock}))
		paths := []string{"/api/user/v1/preferences/rl_alice", "/api/users/preferences/k/", "/api/settings/user/", "/api/preferences/user/"}
		// A burst of two, then 429, whatever the dialect and address.
		for i, want := range []int{200, 404, 429, 429} {
			w := serve(h, "10.0.0.1:1", "Token "+alice, paths[i])
			if w.Code != want {
				t.Fatalf("request %d (%s): %d %s, want %d", i, paths[i], w.Code, w.Body.Bytes(), want)
			}
			if want == 429 {
				if got := w.Header().Get("Retry-After"); got != "1" {
					t.Errorf("Retry-After %q, want 1", got)
				}
				if !bytes.Equal(w.Body.Bytes(), []byte(`{"detail":"Request was throttled. Expected available in 1 seconds."}`)) {
					t.Errorf("body %s", w.Body.Bytes())
				}
			}
		}
		if w := serve(h, "10.0.0.1:1", "Token "+bob, paths[0]+"/x"); w.Code == 429 {
			t.Fatal("bob was throttled for alice's requests")
		}
		now = now.Add(time.Second)
		if w := serve(h, "10.0.0.1:1", "Token "+alice, paths[0]); w.Code != 200 {
			t.Fatalf("after a second: %d", w.Code)
		}
	})

	t.Run("per address", func(t *testing.T) {
		h := recordAnswers(api.New(api.Options{Cluster: f.node.Node, MaxBodyBytes: 1 << 20, RateLimitAddress: 1, Clock: clock}))
		for i, want := range []int{401, 401, 429} { // bad credentials count too
			if w := serve(h, "10.0.0.2:1", "Token nope", "/api/users/preferences/k/"); w.Code != want {
				t.Fatalf("request %d: %d, want %d", i, w.Code, want)
			}
		}
		if w := serve(h, "10.0.0.3:1", "Token "+bob, "/api/users/preferences/k/"); w.Code != 404 {
			t.Fatalf("another address: %d, want 404", w.Code)
		}
		// Health checks and node-to-node calls are throttled only as
		// ordinary requests are; internal paths never.
		for range 5 {
			req := httptest.NewRequest(http.MethodGet, "/internal/v1/readindex", nil)
			req.RemoteAddr = "10.0.0.2:1"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code == 429 {
				t.Fatal("an internal call was throttled")
			}
		}
	})
}

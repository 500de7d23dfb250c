package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEdx implements just enough of prefsd's admin and edX preferences
// APIs for the benchmark to run against, and counts what it served.
type fakeEdx struct {
	mu     sync.Mutex
	users  map[string]map[string]string
	tokens map[string]string
	// counts are by operation kind, as the requests show it; a PATCH of
	// more than four keys is the benchmark's seeding.
	counts  map[string]int
	bad     []string // requests the benchmark should not have sent
	reject  func(kind string) int
	created int
}

func newFakeEdx() *fakeEdx {
	return &fakeEdx{users: map[string]map[string]string{}, tokens: map[string]string{}, counts: map[string]int{}}
}

func (f *fakeEdx) handler() http.Handler {
	mux := http.NewServeMux()
	admin := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Token admin-secret" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("POST /api/admin/users", admin(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Username string }
		if json.NewDecoder(r.Body).Decode(&body) != nil || body.Username == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.users[body.Username]; ok {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"username":["A user with that username already exists."]}`)
			return
		}
		f.users[body.Username] = map[string]string{}
		f.created++
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"username":%q}`, body.Username)
	}))
	mux.HandleFunc("POST /api/admin/users/{u}/tokens", admin(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		u := r.PathValue("u")
		if _, ok := f.users[u]; !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		tok := fmt.Sprintf("tok-%s-%d", u, len(f.tokens))
		f.tokens[tok] = u
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"token":%q}`, tok)
	}))
	// user authenticates the request as the user named in the URL.
	user := func(h func(w http.ResponseWriter, r *http.Request, prefs map[string]string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Token ")
			if f.tokens[tok] != r.PathValue("u") {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h(w, r, f.users[r.PathValue("u")])
		}
	}
	mux.HandleFunc("PATCH /api/user/v1/preferences/{u}", user(func(w http.ResponseWriter, r *http.Request, prefs map[string]string) {
		var patch map[string]string
		if r.Header.Get("Content-Type") != mediaMergePatch || json.NewDecoder(r.Body).Decode(&patch) != nil || len(patch) == 0 {
			f.bad = append(f.bad, "bad PATCH body or content type")
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		kind := "seed"
		switch {
		case len(patch) == 1:
			kind = "write"
		case len(patch) <= 4:
			kind = "patch"
		}
		if f.answer(w, kind) {
			return
		}
		for k, v := range patch {
			prefs[k] = v
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /api/user/v1/preferences/{u}", user(func(w http.ResponseWriter, r *http.Request, prefs map[string]string) {
		f.counts["list"]++
		json.NewEncoder(w).Encode(prefs)
	}))
	mux.HandleFunc("GET /api/user/v1/preferences/{u}/{key}", user(func(w http.ResponseWriter, r *http.Request, prefs map[string]string) {
		kind := "read"
		switch c := r.URL.Query().Get("consistency"); c {
		case "":
		case "stale":
			kind = "stale"
		default:
			f.bad = append(f.bad, "consistency="+c)
		}
		if f.answer(w, kind) {
			return
		}
		v, ok := prefs[r.PathValue("key")]
		if !ok {
			f.bad = append(f.bad, "read of a missing key "+r.PathValue("key"))
			w.WriteHeader(http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(v)
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.bad = append(f.bad, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
	})
	return mux
}

// answer counts a request of kind and, when the test rejects it, answers
// with the rejection's status and returns true. f.mu is held.
func (f *fakeEdx) answer(w http.ResponseWriter, kind string) bool {
	f.counts[kind]++
	if f.reject != nil && kind != "seed" {
		if st := f.reject(kind); st != 0 {
			w.WriteHeader(st)
			return true
		}
	}
	return false
}

func (f *fakeEdx) snapshot() (map[string]int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.counts {
		out[k] = v
	}
	return out, append([]string(nil), f.bad...)
}

// benchRun runs the command against srv and returns its stdout, stderr
// and the -json results.
func benchRun(t *testing.T, args ...string) (string, string, *results) {
	t.Helper()
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	env := func(k string) string {
		if k == "PREFSD_TOKEN" {
			return "admin-secret"
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := run(ctx, append(args, "-json", jsonPath), env, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	return stdout.String(), stderr.String(), readResults(t, jsonPath)
}

// readResults reads a -json file.
func readResults(t *testing.T, path string) *results {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var res results
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("-json file: %v", err)
	}
	return &res
}

func TestRunOpsStopsExactlyAndFollowsMix(t *testing.T) {
	f := newFakeEdx()
	srv1 := httptest.NewServer(f.handler())
	defer srv1.Close()
	srv2 := httptest.NewServer(f.handler())
	defer srv2.Close()

	const ops = 4000
	stdout, _, res := benchRun(t, "-addr", srv1.URL+","+srv2.URL, "-users", "5", "-keys", "20",
		"-concurrency", "8", "-ops", fmt.Sprint(ops), "-value-size", "10")
	counts, bad := f.snapshot()
	if len(bad) > 0 {
		t.Fatalf("unexpected requests: %q", bad[:min(len(bad), 5)])
	}
	served := counts["write"] + counts["read"] + counts["stale"] + counts["patch"]
	if served != ops {
		t.Fatalf("server saw %d operations (%v), want exactly %d", served, counts, ops)
	}
	if res.Total.Count != ops || res.Total.Errors != 0 {
		t.Fatalf("results count %d, errors %d, want %d and 0", res.Total.Count, res.Total.Errors, ops)
	}
	want := map[string]float64{"write": 0.5, "read": 0.3, "stale": 0.1, "patch": 0.1}
	for _, k := range res.Kinds {
		if int(k.Count) != counts[k.Kind] {
			t.Errorf("%s: results say %d, server saw %d", k.Kind, k.Count, counts[k.Kind])
		}
		if got := float64(counts[k.Kind]) / ops; math.Abs(got-want[k.Kind]) > 0.03 {
			t.Errorf("%s: share %.3f, want %.2f within 0.03", k.Kind, got, want[k.Kind])
		}
		if k.Count > 0 && (k.P50Ms <= 0 || k.P99Ms < k.P50Ms || k.MaxMs < k.P999Ms) {
			t.Errorf("%s: implausible latencies %+v", k.Kind, k)
		}
	}
	f.mu.Lock()
	if f.created != 5 {
		t.Errorf("created %d users, want 5", f.created)
	}
	f.mu.Unlock()
	for _, kind := range []string{"write", "read", "stale", "patch", "total"} {
		if !strings.Contains(stdout, kind) {
			t.Errorf("table lacks %q:\n%s", kind, stdout)
		}
	}

	// A second run reuses the users and gets new tokens.
	staleBefore := counts["stale"]
	benchRun(t, "-addr", srv1.URL, "-users", "5", "-keys", "20", "-concurrency", "2", "-ops", "10", "-mix", "stale=1")
	counts, bad = f.snapshot()
	f.mu.Lock()
	created := f.created
	f.mu.Unlock()
	if len(bad) > 0 || counts["stale"] != staleBefore+10 || created != 5 {
		t.Fatalf("second run: bad %q, counts %v, created %d", bad, counts, created)
	}
}

func TestRunStaleReadsOnly(t *testing.T) {
	f := newFakeEdx()
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	_, _, res := benchRun(t, "-addr", srv.URL, "-users", "2", "-keys", "6", "-concurrency", "3", "-ops", "300", "-mix", "stale=1")
	counts, bad := f.snapshot()
	if len(bad) > 0 {
		t.Fatalf("unexpected requests: %q", bad)
	}
	if counts["stale"] != 300 || counts["read"] != 0 || counts["write"] != 0 || counts["patch"] != 0 {
		t.Fatalf("server counts %v, want 300 stale reads only", counts)
	}
	if len(res.Kinds) != 1 || res.Kinds[0].Kind != "stale" || res.Kinds[0].Count != 300 {
		t.Fatalf("results kinds %+v", res.Kinds)
	}
}

func TestRunCountsErrorsByStatus(t *testing.T) {
	f := newFakeEdx()
	n := 0
	f.reject = func(kind string) int {
		n++
		switch {
		case kind == "write" && n%4 == 0:
			return http.StatusTooManyRequests
		case kind == "read" && n%5 == 0:
			return http.StatusServiceUnavailable
		}
		return 0
	}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	stdout, stderr, res := benchRun(t, "-addr", srv.URL, "-users", "3", "-keys", "5", "-concurrency", "4", "-ops", "1000")
	counts, _ := f.snapshot()
	served := counts["write"] + counts["read"] + counts["stale"] + counts["patch"]
	if served != 1000 {
		t.Fatalf("server saw %d operations, want 1000", served)
	}
	if res.Total.Count+res.Total.Errors != 1000 {
		t.Fatalf("count %d + errors %d, want 1000", res.Total.Count, res.Total.Errors)
	}
	if res.ErrorsByStatus["429"] == 0 || res.ErrorsByStatus["503"] == 0 || res.ErrorsByStatus["429"]+res.ErrorsByStatus["503"] != res.Total.Errors {
		t.Fatalf("errors by status %v, total errors %d", res.ErrorsByStatus, res.Total.Errors)
	}
	for _, k := range res.Kinds {
		if k.Kind == "write" && k.ErrorsByStatus["429"] == 0 {
			t.Errorf("write errors by status %v, want 429s", k.ErrorsByStatus)
		}
	}
	if !strings.Contains(stderr, "--rate-limit-user") || strings.Count(stderr, "hint:") != 1 {
		t.Errorf("stderr should carry the rate-limit hint once:\n%s", stderr)
	}
	if !strings.Contains(stdout, "429=") {
		t.Errorf("table lacks errors by status:\n%s", stdout)
	}
}

func TestRunRateAndWarmup(t *testing.T) {
	f := newFakeEdx()
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	_, stderr, res := benchRun(t, "-addr", srv.URL, "-users", "2", "-keys", "8", "-concurrency", "4",
		"-rate", "400", "-warmup", "500ms", "-duration", "1500ms")
	counts, bad := f.snapshot()
	if len(bad) > 0 {
		t.Fatalf("unexpected requests: %q", bad)
	}
	served := counts["write"] + counts["read"] + counts["stale"] + counts["patch"]
	// The schedule allows 400/s for 2s: 800 in all, 200 of them warm-up.
	if served < 700 || served > 800 {
		t.Errorf("server saw %d operations, want about 800", served)
	}
	if res.Total.Count < 500 || res.Total.Count > 600 {
		t.Errorf("measured %d operations, want about 600 (warm-up excluded)", res.Total.Count)
	}
	if len(res.Timeline) == 0 {
		t.Error("no timeline")
	}
	var sum int64
	for _, s := range res.Timeline {
		sum += s.Ops
	}
	if sum != res.Total.Count {
		t.Errorf("timeline sums to %d operations, results say %d", sum, res.Total.Count)
	}
	if !strings.Contains(stderr, "ops/s") {
		t.Errorf("no progress line on stderr:\n%s", stderr)
	}
}

func TestParseOptions(t *testing.T) {
	env := func(string) string { return "" }
	tests := []struct {
		name string
		args []string
		env  func(string) string
		err  string
	}{
		{"no token", []string{}, env, "PREFSD_TOKEN"},
		{"token from env", []string{}, func(string) string { return "t" }, ""},
		{"bad mix", []string{"-token", "t", "-mix", "write=1,delete=2"}, env, "unknown kind"},
		{"zero mix", []string{"-token", "t", "-mix", "write=0"}, env, "positive"},
		{"no end", []string{"-token", "t", "-duration", "0"}, env, "never end"},
		{"bad prefix", []string{"-token", "t", "-prefix", "a/b"}, env, "-prefix"},
		{"zero users", []string{"-token", "t", "-users", "0"}, env, "-users"},
		{"unknown flag", []string{"-token", "t", "-nope"}, env, "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseOptions(tc.args, tc.env, &stderr)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if o.duration != 10*time.Second || o.addrs[0] != "http://127.0.0.1:8080" || o.mix.String() != defaultMix {
					t.Fatalf("defaults: %+v", o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.err) {
				t.Fatalf("err = %v (stderr %q), want %q", err, stderr.String(), tc.err)
			}
		})
	}
	o, err := parseOptions([]string{"-token", "t", "-ops", "5", "-addr", "127.0.0.1:1/, http://h:2"}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.duration != 0 || o.ops != 5 || strings.Join(o.addrs, " ") != "http://127.0.0.1:1 http://h:2" {
		t.Fatalf("-ops alone: duration %v, ops %d, addrs %q", o.duration, o.ops, o.addrs)
	}
}

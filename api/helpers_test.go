package api_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prefsd/prefsd/internal/testnode"
)

// update rewrites the golden files under testdata/ from the live answers.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// adminAuth is the Authorization header of the built-in superuser.
const adminAuth = "Token " + testnode.AdminToken

// fixture is one real node shared by the subtests of one test function.
type fixture struct {
	t      testing.TB
	node   *testnode.Node
	client *http.Client

	mu     sync.Mutex
	tokens map[string]string // username → API token
}

// newFixture starts a single-node cluster and waits until it leads and the
// built-in superuser's token works (the leader creates it just after it
// becomes ready).
func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureWith(t, testnode.Options{})
}

// newFixtureWith is newFixture for a node started with opts.
func newFixtureWith(t testing.TB, opts testnode.Options) *fixture {
	t.Helper()
	n := testnode.Start(t, opts)
	testnode.WaitLeader(t, []*testnode.Node{n})
	f := &fixture{
		t:    t,
		node: n,
		client: &http.Client{
			Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		tokens: map[string]string{},
	}
	testnode.Eventually(t, 10*time.Second, func() error {
		r := f.do(t, http.MethodGet, "/api/admin/users", adminAuth, "", nil)
		if r.status != http.StatusOK {
			return fmt.Errorf("admin token not usable yet: %d %s", r.status, r.body)
		}
		return nil
	})
	return f
}

// response is an answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request to the node and reads the whole answer. auth is the
// Authorization header ("" for none), ctype the Content-Type ("" for none).
func (f *fixture) do(t testing.TB, method, path, auth, ctype string, body []byte) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, f.node.URL+path, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := f.client.Do(withTestName(req, t))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// admin sends a request as the superuser with a JSON body and checks the
// status.
func (f *fixture) admin(t testing.TB, method, path string, body any, want int) response {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	r := f.do(t, method, path, adminAuth, "application/json", b)
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	return r
}

// createUser creates a user through the admin API and gives it a token,
// which it returns.
func (f *fixture) createUser(t testing.TB, username string, staff bool) string {
	t.Helper()
	f.admin(t, http.MethodPost, "/api/admin/users", map[string]any{"username": username, "is_staff": staff}, http.StatusCreated)
	tok := f.newToken(t, username)
	f.mu.Lock()
	f.tokens[username] = tok
	f.mu.Unlock()
	return tok
}

// newToken creates another token for username.
func (f *fixture) newToken(t testing.TB, username string) string {
	t.Helper()
	r := f.admin(t, http.MethodPost, "/api/admin/users/"+username+"/tokens", map[string]any{"name": "t"}, http.StatusCreated)
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.Token == "" {
		t.Fatalf("token answer %s: %v", r.body, err)
	}
	return out.Token
}

// token returns username's token, creating the user (non-staff) if needed.
func (f *fixture) token(t testing.TB, username string) string {
	t.Helper()
	f.mu.Lock()
	tok, ok := f.tokens[username]
	f.mu.Unlock()
	if ok {
		return tok
	}
	return f.createUser(t, username, false)
}

// ---------------------------------------------------------------------------
// Golden cases

// role names a caller in a golden case. Each case gets its own users.
type role string

const (
	anonymous role = "anonymous"
	owner     role = "owner"
	other     role = "other"
	staff     role = "staff"
	superuser role = "admin"
)

// step is one request of a golden case.
type step struct {
	// setup steps must succeed (2xx) and are recorded by request line and
	// status only.
	setup bool
	as    role
	// scheme is the Authorization scheme used for as (default: the case's).
	scheme string
	// auth, if set, is the raw Authorization header and as is ignored.
	auth   string
	method string
	// path may hold {owner}, {other}, {staff}: the case's usernames.
	path  string
	ctype string
	body  string
	// status is what the original product (as its published document
	// amends it) answers.
	status int
	// note explains the step in the golden file.
	note string
}

// goldenCase is a sequence of requests whose answers one golden file records.
type goldenCase struct {
	name string
	// ref names the original product's test the case comes from.
	ref    string
	scheme string // default Authorization scheme
	steps  []step
}

// recordedHeaders are the answer headers a golden file records.
var recordedHeaders = []string{"Content-Type", "Allow", "WWW-Authenticate", "Vary"}

// runGolden runs each case as a subtest against f and compares what it
// records with testdata/<dir>/<name>.golden.
func runGolden(t *testing.T, f *fixture, dir string, cases []goldenCase) {
	t.Helper()
	seen := map[string]bool{}
	for _, gc := range cases {
		if seen[gc.name] {
			t.Fatalf("duplicate case %q", gc.name)
		}
		seen[gc.name] = true
		t.Run(gc.name, func(t *testing.T) {
			got := runCase(t, f, gc)
			checkGolden(t, filepath.Join("testdata", dir, gc.name+".golden"), got)
		})
	}
	// A golden file without a case is stale.
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.golden"))
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".golden")
		if !seen[name] {
			if *update {
				_ = os.Remove(file)
				continue
			}
			t.Errorf("%s has no case; run with -update to remove it", file)
		}
	}
}

// userFor returns the username a role has in a case.
func userFor(gc goldenCase, r role) string {
	return gc.name + "_" + string(r)
}

func runCase(t *testing.T, f *fixture, gc goldenCase) []byte {
	t.Helper()
	users := map[role]string{}
	ensure := func(r role) string {
		if name, ok := users[r]; ok {
			return name
		}
		name := userFor(gc, r)
		f.createUser(t, name, r == staff)
		users[r] = name
		return name
	}
	expand := func(p string) string {
		for _, r := range []role{owner, other, staff} {
			ph := "{" + string(r) + "}"
			if strings.Contains(p, ph) {
				p = strings.ReplaceAll(p, ph, ensure(r))
			}
		}
		return p
	}

	var out bytes.Buffer
	fmt.Fprintf(&out, "# case: %s\n# reference: %s\n", gc.name, gc.ref)
	for i, s := range gc.steps {
		path := expand(s.path)
		scheme := s.scheme
		if scheme == "" {
			scheme = gc.scheme
		}
		auth, shown := s.auth, s.auth
		switch {
		case s.auth != "":
		case s.as == anonymous || s.as == "":
			shown = "(none)"
		case s.as == superuser:
			auth = scheme + " " + testnode.AdminToken
			shown = scheme + " <token of the superuser admin>"
		default:
			name := ensure(s.as)
			auth = scheme + " " + f.tokens[name]
			shown = fmt.Sprintf("%s <token of %s: %s>", scheme, s.as, name)
		}
		var body []byte
		if s.body != "" || s.ctype != "" {
			body = []byte(s.body)
		}
		r := f.do(t, s.method, path, auth, s.ctype, body)
		ex := exchange{n: i + 1, method: s.method, path: path, as: s.as, note: s.note,
			shownAuth: shown, ctype: s.ctype, body: s.body, hasBody: body != nil}
		if s.setup {
			recordSetup(t, &out, ex, r)
			continue
		}
		checkStepStatus(t, ex, r, s.status)
		recordExchange(&out, ex, r)
		fmt.Fprintf(&out, "<<< body (%d bytes): %s\n", len(r.body), showBody(r.body))
	}
	return out.Bytes()
}

// exchange is one recorded step: the request as a golden file shows it.
type exchange struct {
	n                   int
	method, path        string
	as                  role
	note, shownAuth     string
	ctype, accept, body string
	hasBody             bool
}

// recordSetup checks that a setup step succeeded and records it in one line.
func recordSetup(t *testing.T, out *bytes.Buffer, ex exchange, r response) {
	t.Helper()
	if r.status < 200 || r.status > 299 {
		t.Fatalf("setup step %d %s %s: status %d, body %s", ex.n, ex.method, ex.path, r.status, r.body)
	}
	fmt.Fprintf(out, "\n## step %d (setup): %s %s as %s -> %d\n", ex.n, ex.method, ex.path, ex.as, r.status)
	if ex.body != "" {
		fmt.Fprintf(out, "#   body: %s\n", clip(ex.body))
	}
}

// checkStepStatus fails the test when a step's status is not the expected one.
func checkStepStatus(t *testing.T, ex exchange, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Errorf("step %d %s %s as %s: status %d, want %d; body %s", ex.n, ex.method, ex.path, ex.as, r.status, want, r.body)
	}
}

// recordExchange writes a step's request and the answer's status and
// recorded headers; the caller writes the body line in its own form.
func recordExchange(out *bytes.Buffer, ex exchange, r response) {
	fmt.Fprintf(out, "\n## step %d", ex.n)
	if ex.note != "" {
		fmt.Fprintf(out, ": %s", ex.note)
	}
	fmt.Fprintf(out, "\n>>> %s %s\n", ex.method, ex.path)
	fmt.Fprintf(out, ">>> Authorization: %s\n", ex.shownAuth)
	if ex.ctype != "" {
		fmt.Fprintf(out, ">>> Content-Type: %s\n", ex.ctype)
	}
	if ex.accept != "" {
		fmt.Fprintf(out, ">>> Accept: %s\n", ex.accept)
	}
	if ex.hasBody {
		fmt.Fprintf(out, ">>> body: %s\n", clip(ex.body))
	}
	fmt.Fprintf(out, "<<< %d %s\n", r.status, http.StatusText(r.status))
	for _, h := range recordedHeaders {
		if v := r.header.Values(h); len(v) > 0 {
			fmt.Fprintf(out, "<<< %s: %s\n", h, strings.Join(v, ", "))
		}
	}
}

// clip shortens a long request body for the golden file.
func clip(s string) string {
	if len(s) <= 300 {
		return quoteIfNeeded(s)
	}
	cut := 120
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes in all)", quoteIfNeeded(s[:cut]), len(s))
}

// showBody renders an answer body: as it is if it is printable UTF-8 (so
// on one line, with nothing invisible), else Go-quoted, so that the golden
// file shows the exact bytes.
func showBody(b []byte) string {
	if len(b) == 0 {
		return "(empty)"
	}
	return quoteIfNeeded(string(b))
}

func quoteIfNeeded(s string) string {
	if !utf8.ValidString(s) {
		return "(quoted) " + strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "(quoted) " + strconv.Quote(s)
		}
	}
	return s
}

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff lists the lines that differ between two texts.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := max(len(w), len(g))
	for i := 0; i < n; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// Small helpers

// jsonBody decodes an answer body into a map of strings (an edX list).
func stringMap(t testing.TB, b []byte) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object of strings: %s: %v", b, err)
	}
	return m
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// mustStatus fails unless r has the wanted status.
func mustStatus(t testing.TB, what string, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, want, r.body)
	}
}

package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/internal/testnode"
	"github.com/prefsd/prefsd/jwtauth"
)

// jwtSecret is the HS256 secret the JWT test nodes share with the tests,
// which play the identity provider.
const jwtSecret = "prefsd-api-test-secret-0123456789abcdef"

// jwtConfigure returns a testnode configuration hook that turns on HS256
// JWT verification with a secret file in a temporary directory.
func jwtConfigure(t testing.TB) func(*config.Config) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwt-secret")
	if err := os.WriteFile(path, []byte(jwtSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *config.Config) { c.JWT.HS256SecretFile = path }
}

// mintJWT signs an HS256 token for username; extra are claim name/value
// pairs added or, with a nil value, removed.
func mintJWT(t testing.TB, username string, extra ...any) string {
	t.Helper()
	c := jwt.MapClaims{
		"username": username,
		"exp":      time.Now().Add(time.Hour).Unix(),
		"iat":      time.Now().Add(-time.Minute).Unix(),
	}
	for i := 0; i < len(extra); i += 2 {
		if extra[i+1] == nil {
			delete(c, extra[i].(string))
		} else {
			c[extra[i].(string)] = extra[i+1]
		}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send makes one request to base and returns the status, headers and body.
func send(t testing.TB, base, method, path, auth, body string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// startJWTNode starts one node that verifies JWTs and waits until the
// built-in superuser can act.
func startJWTNode(t testing.TB) *testnode.Node {
	t.Helper()
	n := testnode.Start(t, testnode.Options{Configure: jwtConfigure(t)})
	testnode.WaitLeader(t, []*testnode.Node{n})
	testnode.Eventually(t, 10*time.Second, func() error {
		if st, _, b := send(t, n.URL, http.MethodGet, "/api/admin/users", adminAuth, ""); st != http.StatusOK {
			return fmt.Errorf("admin token not usable yet: %d %s", st, b)
		}
		return nil
	})
	return n
}

// TestJWTFirstUseReplicated checks that a valid JWT for a user the store has
// not seen creates that user through the log, so that every node of a
// three-node cluster knows the user under the same id, and that the user
// can then write through one node and read through another.
func TestJWTFirstUseReplicated(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, jwtConfigure(t))
	tok := mintJWT(t, "zoe")
	// Through a follower: the creation is forwarded to the leader.
	var follower *testnode.Node
	for _, n := range nodes {
		if !n.IsLeader() {
			follower = n
			break
		}
	}
	st, _, body := send(t, follower.URL, http.MethodGet, "/api/user/v1/preferences/zoe", "JWT "+tok, "")
	if st != http.StatusOK {
		t.Fatalf("first use: %d %s", st, body)
	}
	var id uint64
	testnode.Eventually(t, 10*time.Second, func() error {
		for _, n := range nodes {
			u, ok := n.FSM().State().UserByName("zoe")
			if !ok {
				return fmt.Errorf("node %s does not know zoe", n.ID())
			}
			if u.IsStaff || u.IsSuperuser || u.PasswordHash != "" {
				return fmt.Errorf("node %s: zoe is %+v, want a plain user without a password", n.ID(), u)
			}
			if id == 0 {
				id = u.ID
			} else if u.ID != id {
				return fmt.Errorf("node %s: zoe has id %d, another node %d", n.ID(), u.ID, id)
			}
		}
		return nil
	})
	// Second use on every node: the same user, not a new one.
	for _, n := range nodes {
		if st, _, body := send(t, n.URL, http.MethodGet, "/api/user/v1/preferences/zoe", "Bearer "+tok, ""); st != http.StatusOK {
			t.Fatalf("node %s: %d %s", n.ID(), st, body)
		}
	}
	if st, _, body := send(t, nodes[2].URL, http.MethodPatch, "/api/user/v1/preferences/zoe", "Bearer "+tok, `{"pref-lang":"fr"}`); st != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", st, body)
	}
	testnode.Eventually(t, 10*time.Second, func() error {
		for _, n := range nodes {
			_, _, body := send(t, n.URL, http.MethodGet, "/api/user/v1/preferences/zoe", "JWT "+tok, "")
			if !strings.Contains(string(body), `"pref-lang":"fr"`) {
				return fmt.Errorf("node %s answers %s", n.ID(), body)
			}
		}
		return nil
	})
	users := 0
	for _, u := range nodes[0].FSM().State().Users() {
		if strings.EqualFold(u.Username, "zoe") {
			users++
		}
	}
	if users != 1 {
		t.Fatalf("%d users named zoe, want 1", users)
	}
}

// TestJWTStaffAndBOLA checks that the staff claims decide what another
// user's edX preferences answer, and that a valid token for one user never
// reaches another's.
func TestJWTStaffAndBOLA(t *testing.T) {
	n := startJWTNode(t)
	alice, bob := mintJWT(t, "alice"), mintJWT(t, "bob")
	for _, tok := range []string{alice, bob} {
		if st, _, body := send(t, n.URL, http.MethodGet, "/api/user/v1/preferences/alice", "JWT "+tok, ""); st != http.StatusOK && st != http.StatusNotFound {
			t.Fatalf("first use: %d %s", st, body)
		}
	}
	steps := []struct {
		name   string
		auth   string
		method string
		path   string
		body   string
		want   int
	}{
		{"alice reads her own", "JWT " + alice, http.MethodGet, "/api/user/v1/preferences/alice", "", http.StatusOK},
		{"alice reads bob's (BOLA)", "JWT " + alice, http.MethodGet, "/api/user/v1/preferences/bob", "", http.StatusNotFound},
		{"alice reads bob's key (BOLA)", "Bearer " + alice, http.MethodGet, "/api/user/v1/preferences/bob/k", "", http.StatusNotFound},
		{"alice writes bob's (BOLA)", "Bearer " + alice, http.MethodPatch, "/api/user/v1/preferences/bob", `{"k":"v"}`, http.StatusNotFound},
		{"staff alice reads bob's", "JWT " + mintJWT(t, "alice", "is_staff", true), http.MethodGet, "/api/user/v1/preferences/bob", "", http.StatusOK},
		{"staff alice writes bob's", "JWT " + mintJWT(t, "alice", "is_staff", true), http.MethodPatch, "/api/user/v1/preferences/bob", `{"k":"v"}`, http.StatusForbidden},
		{"administrator alice reads bob's", "Bearer " + mintJWT(t, "alice", "administrator", true), http.MethodGet, "/api/user/v1/preferences/bob", "", http.StatusOK},
		{"alice without the claim is no longer staff", "JWT " + alice, http.MethodGet, "/api/user/v1/preferences/bob", "", http.StatusNotFound},
		{"staff for a new user", "JWT " + mintJWT(t, "carol", "is_staff", true), http.MethodGet, "/api/user/v1/preferences/bob", "", http.StatusOK},
		{"a JWT naming the superuser", "JWT " + mintJWT(t, "admin", "is_staff", true), http.MethodGet, "/api/user/v1/preferences/admin", "", http.StatusUnauthorized},
		{"a JWT for a username with a slash", "JWT " + mintJWT(t, "a/b"), http.MethodGet, "/api/user/v1/preferences/alice", "", http.StatusUnauthorized},
	}
	for _, s := range steps {
		st, _, body := send(t, n.URL, s.method, s.path, s.auth, s.body)
		if st != s.want {
			t.Fatalf("%s: %d %s, want %d", s.name, st, body, s.want)
		}
	}
	st := n.FSM().State()
	if u, ok := st.UserByName("carol"); !ok || !u.IsStaff {
		t.Fatalf("carol: %+v %v, want a staff user", u, ok)
	}
	if u, ok := st.UserByName("alice"); !ok || u.IsStaff {
		t.Fatalf("alice: %+v %v, want a user no longer staff", u, ok)
	}
	if u, ok := st.UserByName("admin"); !ok || !u.IsSuperuser || !u.IsStaff {
		t.Fatalf("admin: %+v %v, want the superuser unchanged", u, ok)
	}
}

// TestJWTFailures checks each dialect's 401 for expired and bad JWTs with
// both schemes, and that opaque API tokens keep working beside JWTs.
func TestJWTFailures(t *testing.T) {
	n := startJWTNode(t)
	// An opaque prefsd token for dan, through the admin API.
	if st, _, body := send(t, n.URL, http.MethodPost, "/api/admin/users", adminAuth, `{"username":"dan"}`); st != http.StatusCreated {
		t.Fatalf("create dan: %d %s", st, body)
	}
	st, _, body := send(t, n.URL, http.MethodPost, "/api/admin/users/dan/tokens", adminAuth, `{"name":"t"}`)
	var out struct{ Token string }
	if err := json.Unmarshal(body, &out); st != http.StatusCreated || err != nil {
		t.Fatalf("token for dan: %d %s %v", st, body, err)
	}

	expired := mintJWT(t, "erin", "exp", time.Now().Add(-time.Minute).Unix())
	wrongKey := func() string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"username": "erin", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(jwtSecret + "x"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	none := func() string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"username": "erin", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	noExp := mintJWT(t, "erin", "exp", nil)

	const (
		edx      = "/api/user/v1/preferences/erin"
		layout   = "/api/users/preferences/theme"
		inventre = "/api/settings/user/"
		dynprefs = "/api/preferences/user/"
	)
	detail := func(s string) map[string]any { return map[string]any{"detail": s} }
	expiredMsg, badMsg := detail("Signature has expired."), detail("Error decoding signature.")
	edxExpired := map[string]any{"error_code": "token_expired", "developer_message": "The provided access token has expired and is no longer valid."}
	edxBad := map[string]any{"error_code": "token_nonexistent", "developer_message": "The provided access token does not match any valid tokens."}

	cases := []struct {
		name      string
		path      string
		auth      string
		want      int
		body      map[string]any // nil: not checked
		challenge string         // "": not checked
	}{
		{"edx bearer expired", edx, "Bearer " + expired, 401, edxExpired, ""},
		{"edx bearer wrong key", edx, "Bearer " + wrongKey, 401, edxBad, ""},
		{"edx bearer alg none", edx, "Bearer " + none, 401, edxBad, ""},
		{"edx bearer no exp", edx, "Bearer " + noExp, 401, edxBad, ""},
		{"edx jwt expired", edx, "JWT " + expired, 401, expiredMsg, ""},
		{"edx jwt wrong key", edx, "JWT " + wrongKey, 401, badMsg, ""},
		{"layout jwt expired", layout, "JWT " + expired, 401, expiredMsg, `JWT realm="api"`},
		{"layout jwt wrong key", layout, "JWT " + wrongKey, 401, badMsg, `JWT realm="api"`},
		{"layout jwt alg none", layout, "JWT " + none, 401, badMsg, `JWT realm="api"`},
		{"layout bearer expired", layout, "Bearer " + expired, 401, expiredMsg, `JWT realm="api"`},
		{"inventree bearer expired", inventre, "Bearer " + expired, 401, expiredMsg, "Token"},
		{"inventree jwt wrong key", inventre, "JWT " + wrongKey, 401, badMsg, "Token"},
		{"dynprefs jwt expired", dynprefs, "JWT " + expired, 401, expiredMsg, "Token"},
		{"dynprefs bearer no exp", dynprefs, "Bearer " + noExp, 401, badMsg, "Token"},
		{"a long token of dots", inventre, "JWT " + strings.Repeat(".", 10000), 401, badMsg, "Token"},
		{"a long JWS", inventre, "JWT " + mintJWT(t, "erin", "pad", strings.Repeat("x", 9000)), 401, badMsg, "Token"},
		{"token scheme ignores JWTs", inventre, "Token " + mintJWT(t, "erin"), 401, detail("Invalid token."), "Token"},
		{"opaque token with Bearer", "/api/user/v1/preferences/dan", "Bearer " + out.Token, 200, nil, ""},
		{"opaque token with JWT", "/api/users/preferences/theme", "JWT " + out.Token, 404, nil, ""},
		{"unknown opaque token with Bearer", inventre, "Bearer deadbeef", 401, detail("Invalid token."), "Token"},
		{"valid JWT on layout", layout, "JWT " + mintJWT(t, "erin"), 404, nil, ""},
		{"valid JWT on inventree", inventre, "Bearer " + mintJWT(t, "erin"), 200, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, h, b := send(t, n.URL, http.MethodGet, tc.path, tc.auth, "")
			if st != tc.want {
				t.Fatalf("status %d, want %d; body %s", st, tc.want, b)
			}
			if tc.body != nil {
				var got map[string]any
				if err := json.Unmarshal(b, &got); err != nil || !reflect.DeepEqual(got, tc.body) {
					t.Fatalf("body %s, want %v", b, tc.body)
				}
			}
			if tc.challenge != "" && h.Get("WWW-Authenticate") != tc.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", h.Get("WWW-Authenticate"), tc.challenge)
			}
		})
	}
	if _, ok := n.FSM().State().UserByName("erin"); !ok {
		t.Fatal("erin was not created by her valid token")
	}
}

// TestJWTOffUnchanged checks that without a verifier a JWT is an unknown
// opaque token, as before JWT support.
func TestJWTOffUnchanged(t *testing.T) {
	f := newFixture(t)
	tok := mintJWT(t, "zed")
	r := f.do(t, http.MethodGet, "/api/settings/user/", "JWT "+tok, "", nil)
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "Error decoding signature.") {
		t.Fatalf("JWT scheme: %d %s", r.status, r.body)
	}
	r = f.do(t, http.MethodGet, "/api/user/v1/preferences/zed", "Bearer "+tok, "", nil)
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "token_nonexistent") {
		t.Fatalf("Bearer scheme: %d %s", r.status, r.body)
	}
	if _, ok := f.node.FSM().State().UserByName("zed"); ok {
		t.Fatal("a JWT created a user without a verifier")
	}
}

// FuzzJWTHeader sends arbitrary Bearer and JWT credentials to a node that
// verifies JWTs: none may authenticate or crash the node.
func FuzzJWTHeader(f *testing.F) {
	n := startJWTNode(f)
	for _, s := range []string{"..", "a.b.c", strings.Repeat(".", 100), "eyJhbGciOiJub25lIn0.eyJ1c2VybmFtZSI6ImEiLCJleHAiOjk5OTk5OTk5OTl9."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !validHeaderValue(s) || len(s) > 16<<10 {
			return
		}
		for _, scheme := range []string{"Bearer ", "JWT "} {
			st, _, body := send(t, n.URL, http.MethodGet, "/api/settings/user/", scheme+s, "")
			if st == http.StatusOK || st >= 500 {
				t.Fatalf("%s%q: %d %s", scheme, s, st, body)
			}
		}
	})
}

// TestJWTReload checks that a node passed its own verifier takes rotated
// keys after Reload (what SIGHUP runs) and keeps the old ones when the new
// file is bad.
func TestJWTReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwt-secret")
	if err := os.WriteFile(path, []byte(jwtSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := jwtauth.New(jwtauth.Config{HS256SecretFile: path, Leeway: jwtauth.DefaultLeeway})
	if err != nil {
		t.Fatal(err)
	}
	n := testnode.Start(t, testnode.Options{JWT: v})
	testnode.WaitLeader(t, []*testnode.Node{n})
	const rotated = "a-rotated-secret-0123456789abcdefghijklmnop"
	oldTok := mintJWT(t, "uma")
	newTok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"username": "uma", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(rotated))
	if err != nil {
		t.Fatal(err)
	}
	expect := func(tok string, want int) {
		t.Helper()
		if st, _, body := send(t, n.URL, http.MethodGet, "/api/user/v1/preferences/uma", "JWT "+tok, ""); st != want {
			t.Fatalf("status %d %s, want %d", st, body, want)
		}
	}
	expect(oldTok, http.StatusOK)
	expect(newTok, http.StatusUnauthorized)
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := v.Reload(); err == nil {
		t.Fatal("Reload of a short secret succeeded")
	}
	expect(oldTok, http.StatusOK)
	if err := os.WriteFile(path, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := v.Reload(); err != nil {
		t.Fatal(err)
	}
	expect(oldTok, http.StatusUnauthorized)
	expect(newTok, http.StatusOK)
}

// validHeaderValue reports whether Go's HTTP client would send s as a
// header value: no control characters but tab, and no DEL.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

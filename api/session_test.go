package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prefsd/prefsd/api"
	"github.com/prefsd/prefsd/internal/testnode"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// createPasswordUser creates a user with a password through the admin API.
func createPasswordUser(t testing.TB, f *fixture, username, password string, superuser bool) {
	t.Helper()
	f.admin(t, http.MethodPost, "/api/admin/users", map[string]any{
		"username": username, "password": password, "is_superuser": superuser, "is_staff": superuser,
	}, http.StatusCreated)
}

// req is one request with optional cookies and headers.
type req struct {
	method, path string
	header       map[string]string
	cookies      []*http.Cookie
	ctype        string
	body         string
	// from is the loopback address to send from; "" for the default.
	from string
}

func sendReq(t testing.TB, base string, r req) response {
	t.Helper()
	var rd io.Reader
	if r.body != "" {
		rd = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, base+r.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	for _, c := range r.cookies {
		hr.AddCookie(c)
	}
	client := http.DefaultClient
	if r.from != "" {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(r.from)}}
		tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
		client = &http.Client{Transport: &recordingTransport{next: tr, log: answers}}
	}
	resp, err := client.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// login logs in and returns the session and CSRF cookies.
func login(t testing.TB, base, username, password string) (session, csrf *http.Cookie) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	r := sendReq(t, base, req{method: http.MethodPost, path: "/api/auth/login/", ctype: "application/json", body: string(body)})
	mustStatus(t, "login", r, http.StatusOK)
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		switch c.Name {
		case "sessionid":
			session = c
		case "csrftoken":
			csrf = c
		}
	}
	if session == nil || csrf == nil {
		t.Fatalf("login set no session or csrf cookie: %v", r.header.Values("Set-Cookie"))
	}
	return session, csrf
}

func TestBasicAuthEachDialect(t *testing.T) {
	f := newFixture(t)
	createPasswordUser(t, f, "basicuser", "s3cret pass", false)
	createPasswordUser(t, f, "basicroot", "root pass", true)
	tests := []struct {
		dialect, path, user, pass string
		wantOK                    int
		wantChallenge             string
	}{
		{"edx", "/api/user/v1/preferences/basicuser/", "basicuser", "s3cret pass", http.StatusOK, ""},
		{"layout", "/api/users/preferences/nokey/", "basicuser", "s3cret pass", http.StatusNotFound, `JWT realm="api"`},
		{"inventree", "/api/settings/user/", "basicuser", "s3cret pass", http.StatusOK, "Token"},
		{"dynprefs", "/api/preferences/user/", "basicuser", "s3cret pass", http.StatusOK, "Token"},
		{"admin", "/api/admin/users", "basicroot", "root pass", http.StatusOK, "Token"},
	}
	for _, tt := range tests {
		t.Run(tt.dialect, func(t *testing.T) {
			// A handler of its own per dialect over the same node, so that
			// the per-address back-off does not add up the failures of
			// every dialect.
			base := clockServer(t, f.node, newFakeClock(), 0)
			get := func(auth string) response {
				return sendReq(t, base, req{method: http.MethodGet, path: tt.path, header: map[string]string{"Authorization": auth}})
			}
			ok := get(basicHeader(tt.user, tt.pass))
			mustStatus(t, "right password", ok, tt.wantOK)

			wrong := get(basicHeader(tt.user, "nope"))
			unknown := get(basicHeader("nobody-"+tt.dialect, "nope"))
			for name, r := range map[string]response{"wrong password": wrong, "unknown user": unknown} {
				mustStatus(t, name, r, http.StatusUnauthorized)
				if got := string(r.body); got != `{"detail":"Invalid username/password."}` {
					t.Errorf("%s: body %s", name, got)
				}
				if tt.wantChallenge != "" && r.header.Get("WWW-Authenticate") != tt.wantChallenge {
					t.Errorf("%s: WWW-Authenticate %q, want %q", name, r.header.Get("WWW-Authenticate"), tt.wantChallenge)
				}
			}
			if !bytes.Equal(wrong.body, unknown.body) || wrong.header.Get("WWW-Authenticate") != unknown.header.Get("WWW-Authenticate") {
				t.Errorf("unknown user and wrong password differ: %s %q vs %s %q", wrong.body, wrong.header.Get("WWW-Authenticate"),
					unknown.body, unknown.header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestBasicHeaderShapes(t *testing.T) {
	f := newFixture(t)
	createPasswordUser(t, f, "shapes", "pw", false)
	path := "/api/settings/user/"
	tests := []struct {
		name, auth, want string
		status           int
	}{
		{"scheme alone", "Basic", "Invalid basic header. No credentials provided.", 401},
		{"spaces", "Basic a b", "Invalid basic header. Credentials string should not contain spaces.", 401},
		{"bad padding", "Basic abc", "Invalid basic header. Credentials not correctly base64 encoded.", 401},
		{"no colon is a username alone", "Basic " + base64.StdEncoding.EncodeToString([]byte("shapes")), "Invalid username/password.", 401},
		{"junk dropped like Python", "Basic %%%", "Invalid username/password.", 401},
		{"lower-case scheme", "basic " + base64.StdEncoding.EncodeToString([]byte("shapes:pw")), "", 200},
		{"case-insensitive username", basicHeader("SHAPES", "pw"), "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, http.MethodGet, path, tt.auth, "", nil)
			mustStatus(t, tt.name, r, tt.status)
			if tt.want != "" {
				if got := stringMap(t, r.body)["detail"]; got != tt.want {
					t.Errorf("detail %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestSessionLoginCSRF(t *testing.T) {
	f := newFixture(t)
	createPasswordUser(t, f, "browser", "pw-browser", false)
	base := f.node.URL

	// Login answers.
	for _, tt := range []struct {
		name, ctype, body string
		status            int
	}{
		{"wrong password", "application/json", `{"username":"browser","password":"x"}`, 400},
		{"missing password", "application/json", `{"username":"browser"}`, 400},
		{"malformed JSON", "application/json", `{"username":`, 400},
		{"form", "application/x-www-form-urlencoded", "username=browser&password=pw-browser", 200},
	} {
		r := sendReq(t, base, req{method: http.MethodPost, path: "/api/auth/login/", ctype: tt.ctype, body: tt.body})
		mustStatus(t, tt.name, r, tt.status)
		if strings.Contains(string(r.body), "pw-browser") {
			t.Errorf("%s: answer echoes the password: %s", tt.name, r.body)
		}
	}
	mustStatus(t, "GET login", sendReq(t, base, req{method: http.MethodGet, path: "/api/auth/login/"}), http.StatusMethodNotAllowed)

	sess, csrf := login(t, base, "browser", "pw-browser")
	if !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || sess.Secure {
		t.Errorf("session cookie attributes: %+v", sess)
	}
	if csrf.HttpOnly {
		t.Error("csrftoken is HttpOnly; scripts must read it")
	}
	if raw, err := base64.RawURLEncoding.DecodeString(sess.Value); err != nil || len(raw) != 32 {
		t.Errorf("session id %q is not base64url of 32 bytes", sess.Value)
	}
	// Only the digest is replicated.
	if st := f.node.FSM().State(); st != nil {
		var buf bytes.Buffer
		if err := st.Encode(&buf); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(buf.Bytes(), []byte(sess.Value)) {
			t.Error("the session secret is in the replicated state")
		}
	}

	token := f.token(t, "browser-tok")
	both := []*http.Cookie{sess, csrf}
	other := &http.Cookie{Name: "csrftoken", Value: strings.Repeat("A", 43)}
	path := "/api/users/preferences/k1/"
	tests := []struct {
		name    string
		method  string
		cookies []*http.Cookie
		header  map[string]string
		status  int
		detail  string
	}{
		{"cookie GET needs no token", http.MethodGet, both, nil, http.StatusNotFound, ""},
		{"cookie POST without token", http.MethodPost, both, nil, http.StatusForbidden, "CSRF Failed: CSRF token missing."},
		{"cookie POST wrong token", http.MethodPost, both, map[string]string{"X-CSRFToken": "nope"}, http.StatusForbidden, "CSRF Failed: CSRF token incorrect."},
		{"cookie POST without csrf cookie", http.MethodPost, []*http.Cookie{sess}, map[string]string{"X-CSRFToken": csrf.Value}, http.StatusForbidden, "CSRF Failed: CSRF cookie not set."},
		{"cookie POST planted csrf cookie", http.MethodPost, []*http.Cookie{sess, other}, map[string]string{"X-CSRFToken": other.Value}, http.StatusForbidden, "CSRF Failed: CSRF token incorrect."},
		{"cookie DELETE without token", http.MethodDelete, both, nil, http.StatusForbidden, "CSRF Failed: CSRF token missing."},
		// The next four reach the handler, which refuses the body (400)
		// or finds no key (404): authentication and CSRF passed.
		{"cookie POST with token", http.MethodPost, both, map[string]string{"X-CSRFToken": csrf.Value}, http.StatusBadRequest, ""},
		{"cookie DELETE with token", http.MethodDelete, both, map[string]string{"X-CSRFToken": csrf.Value}, http.StatusNotFound, ""},
		{"token POST needs no CSRF", http.MethodPost, both, map[string]string{"Authorization": "Token " + token}, http.StatusBadRequest, ""},
		{"basic POST needs no CSRF", http.MethodPost, nil, map[string]string{"Authorization": basicHeader("browser", "pw-browser")}, http.StatusBadRequest, ""},
		{"no cookie is anonymous", http.MethodGet, nil, nil, http.StatusUnauthorized, "Authentication credentials were not provided."},
		{"forged session is anonymous", http.MethodGet, []*http.Cookie{{Name: "sessionid", Value: strings.Repeat("A", 43)}}, nil, http.StatusUnauthorized, "Authentication credentials were not provided."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, ctype := "", ""
			if tt.method == http.MethodPost {
				body, ctype = `{"value":"v"}`, "application/json"
			}
			r := sendReq(t, base, req{method: tt.method, path: path, cookies: tt.cookies, header: tt.header, ctype: ctype, body: body})
			mustStatus(t, tt.name, r, tt.status)
			if tt.detail != "" {
				if got := stringMap(t, r.body)["detail"]; got != tt.detail {
					t.Errorf("detail %q, want %q", got, tt.detail)
				}
			}
		})
	}

	// Logout needs the CSRF token, then revokes the session.
	mustStatus(t, "logout without token", sendReq(t, base, req{method: http.MethodPost, path: "/api/auth/logout/", cookies: both}), http.StatusForbidden)
	r := sendReq(t, base, req{method: http.MethodPost, path: "/api/auth/logout/", cookies: both, header: map[string]string{"X-CSRFToken": csrf.Value}})
	mustStatus(t, "logout", r, http.StatusOK)
	cleared := 0
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if (c.Name == "sessionid" || c.Name == "csrftoken") && c.MaxAge < 0 {
			cleared++
		}
	}
	if cleared != 2 {
		t.Errorf("logout cleared %d cookies: %v", cleared, r.header.Values("Set-Cookie"))
	}
	mustStatus(t, "after logout", sendReq(t, base, req{method: http.MethodGet, path: path, cookies: both}), http.StatusUnauthorized)
	mustStatus(t, "logout again", sendReq(t, base, req{method: http.MethodPost, path: "/api/auth/logout/", cookies: both}), http.StatusOK)

	// Deleting the user drops the sessions.
	sess2, csrf2 := login(t, base, "browser", "pw-browser")
	f.admin(t, http.MethodDelete, "/api/admin/users/browser", nil, http.StatusNoContent)
	mustStatus(t, "deleted user's session", sendReq(t, base, req{method: http.MethodGet, path: path, cookies: []*http.Cookie{sess2, csrf2}}), http.StatusUnauthorized)
}

// clockServer serves a real node's cluster through a handler with an
// injected clock.
func clockServer(t testing.TB, n *testnode.Node, clk *fakeClock, ttl time.Duration) string {
	srv := httptest.NewServer(api.New(api.Options{Cluster: n.Node, Clock: clk.Now, SessionTTL: ttl, MaxBodyBytes: 1 << 20}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestSessionExpiry(t *testing.T) {
	f := newFixture(t)
	createPasswordUser(t, f, "expiring", "pw", false)
	clk := newFakeClock()
	base := clockServer(t, f.node, clk, time.Hour)
	sess, csrf := login(t, base, "expiring", "pw")
	if sess.MaxAge != 3600 {
		t.Errorf("Max-Age %d, want 3600", sess.MaxAge)
	}
	path := "/api/settings/user/"
	cookies := []*http.Cookie{sess, csrf}
	// The leader stamped the creation time with the real clock; the
	// handler's clock decides expiry. Move it to just before and after.
	st := f.node.FSM().State()
	u, _ := st.UserByName("expiring")
	ss := st.Sessions(u.ID)
	if len(ss) != 1 {
		t.Fatalf("%d sessions stored", len(ss))
	}
	if got := time.Duration(ss[0].Expires - ss[0].Created); got != time.Hour {
		t.Fatalf("stored lifetime %v, want 1h", got)
	}
	clk.mu.Lock()
	clk.now = time.Unix(0, ss[0].Expires).Add(-time.Second)
	clk.mu.Unlock()
	mustStatus(t, "just before expiry", sendReq(t, base, req{method: http.MethodGet, path: path, cookies: cookies}), http.StatusOK)
	clk.Advance(time.Second)
	mustStatus(t, "at expiry", sendReq(t, base, req{method: http.MethodGet, path: path, cookies: cookies}), http.StatusUnauthorized)
}

func TestLoginBackoff(t *testing.T) {
	f := newFixture(t)
	createPasswordUser(t, f, "victim", "right", false)
	clk := newFakeClock()
	base := clockServer(t, f.node, clk, 0)
	loginAs := func(from, user, pass string) response {
		return sendReq(t, base, req{method: http.MethodPost, path: "/api/auth/login/", ctype: "application/json", from: from,
			body: `{"username":"` + user + `","password":"` + pass + `"}`})
	}
	basic := func(from, user, pass string) response {
		return sendReq(t, base, req{method: http.MethodGet, path: "/api/settings/user/", from: from,
			header: map[string]string{"Authorization": basicHeader(user, pass)}})
	}
	for i := range 4 {
		mustStatus(t, "failure "+strconv.Itoa(i), loginAs("127.0.0.11", "victim", "wrong"), http.StatusBadRequest)
		clk.Advance(time.Minute)
	}
	// A success resets the username's count.
	mustStatus(t, "success", loginAs("127.0.0.12", "victim", "right"), http.StatusOK)
	for i := range 4 {
		mustStatus(t, "failure after reset "+strconv.Itoa(i), loginAs("127.0.0.13", "victim", "wrong"), http.StatusBadRequest)
	}
	mustStatus(t, "fifth failure (Basic counts too)", basic("127.0.0.13", "victim", "wrong"), http.StatusUnauthorized)
	clk.Advance(time.Minute)
	// The username is blocked from every address, by login and by Basic.
	for _, r := range []response{loginAs("127.0.0.14", "victim", "right"), basic("127.0.0.15", "victim", "right")} {
		mustStatus(t, "blocked", r, http.StatusTooManyRequests)
		if ra := r.header.Get("Retry-After"); ra != "840" {
			t.Errorf("Retry-After %q, want 840", ra)
		}
	}
	clk.Advance(14 * time.Minute)
	mustStatus(t, "after the window", loginAs("127.0.0.14", "victim", "right"), http.StatusOK)

	// Per address: failures over many usernames from one address block that
	// address, whatever the username, and no other address.
	for i := range 5 {
		mustStatus(t, "spray "+strconv.Itoa(i), loginAs("127.0.0.16", "user"+strconv.Itoa(i), "x"), http.StatusBadRequest)
	}
	r := loginAs("127.0.0.16", "victim", "right")
	mustStatus(t, "address blocked", r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") != "900" {
		t.Errorf("Retry-After %q, want 900", r.header.Get("Retry-After"))
	}
	mustStatus(t, "other address", loginAs("127.0.0.17", "victim", "right"), http.StatusOK)
}

func TestLogoutClusterWide(t *testing.T) {
	nodes := testnode.StartCluster(t, 3, nil)
	leader := testnode.WaitLeader(t, nodes)
	f := &fixture{t: t, node: leader, client: http.DefaultClient, tokens: map[string]string{}}
	testnode.Eventually(t, 10*time.Second, func() error {
		if r := f.do(t, http.MethodGet, "/api/admin/users", adminAuth, "", nil); r.status != http.StatusOK {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
	createPasswordUser(t, f, "roamer", "pw", false)
	followers := testnode.Followers(nodes)
	// Log in through a follower: the user was created through the leader.
	sess, csrf := login(t, followers[0].URL, "roamer", "pw")
	cookies := []*http.Cookie{sess, csrf}
	for _, n := range nodes {
		mustStatus(t, "session on "+n.Opts.ID, sendReq(t, n.URL, req{method: http.MethodGet, path: "/api/settings/user/", cookies: cookies}), http.StatusOK)
	}
	mustStatus(t, "logout", sendReq(t, followers[1].URL, req{method: http.MethodPost, path: "/api/auth/logout/", cookies: cookies,
		header: map[string]string{"X-CSRFToken": csrf.Value}}), http.StatusOK)
	for _, n := range nodes {
		mustStatus(t, "after logout on "+n.Opts.ID, sendReq(t, n.URL, req{method: http.MethodGet, path: "/api/settings/user/", cookies: cookies}), http.StatusUnauthorized)
	}
}

// TestPasswordsNeverLogged sends passwords by login and by Basic, right and
// wrong, and checks that neither they nor the session secret reach the log.
func TestPasswordsNeverLogged(t *testing.T) {
	f := newFixture(t)
	createPasswordUser(t, f, "logged", "pw-that-must-not-leak", false)
	var buf safeBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(api.New(api.Options{Cluster: f.node.Node, Logger: log, MaxBodyBytes: 1 << 20}))
	t.Cleanup(srv.Close)
	sess, _ := login(t, srv.URL, "logged", "pw-that-must-not-leak")
	sendReq(t, srv.URL, req{method: http.MethodPost, path: "/api/auth/login/", ctype: "application/json",
		body: `{"username":"logged","password":"wrong-pw-must-not-leak"}`})
	sendReq(t, srv.URL, req{method: http.MethodGet, path: "/api/settings/user/",
		header: map[string]string{"Authorization": basicHeader("logged", "basic-pw-must-not-leak")}})
	out := buf.String()
	if !strings.Contains(out, "request") {
		t.Fatalf("no access log written: %q", out)
	}
	for _, secret := range []string{"pw-that-must-not-leak", "wrong-pw-must-not-leak", "basic-pw-must-not-leak",
		base64.StdEncoding.EncodeToString([]byte("logged:basic-pw-must-not-leak")), sess.Value} {
		if strings.Contains(out, secret) {
			t.Errorf("the log contains a secret %q", secret)
		}
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

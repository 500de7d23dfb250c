package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
)

// Session cookies, as Django names them.
const (
	sessionCookie = "sessionid"
	csrfCookie    = "csrftoken"
	csrfHeader    = "X-CSRFToken"
	loginPath     = "/api/auth/login/"
	logoutPath    = "/api/auth/logout/"
	// sessionSecretLen is the session secret's length in bytes before
	// base64url encoding.
	sessionSecretLen = 32
)

// Django's CSRF failure messages (django.middleware.csrf), as DRF's
// SessionAuthentication reports them.
const (
	msgCSRFCookieNotSet = "CSRF Failed: CSRF cookie not set."
	msgCSRFMissing      = "CSRF Failed: CSRF token missing."
	msgCSRFIncorrect    = "CSRF Failed: CSRF token incorrect."
)

// sessionDigest is how a session is stored: the SHA-256 digest of the
// cookie value. The value itself never enters the log.
func sessionDigest(value string) []byte {
	d := sha256.Sum256([]byte(value))
	return d[:]
}

// csrfFor derives the CSRF token of a session from its secret, so that a
// csrftoken cookie planted by another site (cookie tossing) does not match
// the session it is sent with.
func csrfFor(sessionValue string) string {
	d := sha256.Sum256([]byte("prefsd csrf\x00" + sessionValue))
	return base64.RawURLEncoding.EncodeToString(d[:])
}

// validSessionValue reports whether a cookie value has the shape of a
// session secret: base64url of 32 bytes.
func validSessionValue(v string) bool {
	if len(v) != base64.RawURLEncoding.EncodedLen(sessionSecretLen) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	return err == nil && len(b) == sessionSecretLen
}

// lookupSession finds the session named by the request's cookie. It returns the
// cookie value with the session; expired sessions are returned too, the
// caller decides.
func (s *server) lookupSession(c *gin.Context) (string, *fsm.Session, *fsm.User, error) {
	value, err := c.Cookie(sessionCookie)
	if err != nil || !validSessionValue(value) {
		return "", nil, nil, nil
	}
	digest := sessionDigest(value)
	// Sessions are read in a state as fresh as the leader's, never a
	// stale one, so that a logout through one node takes effect at once
	// on every node. On a follower that costs a round trip to the leader.
	st, err := s.cluster.Read(c.Request.Context(), cluster.Leader)
	if err != nil {
		return "", nil, nil, err
	}
	if ss, u, ok := st.SessionByDigest(digest); ok {
		return value, ss, u, nil
	}
	return "", nil, nil, nil
}

// live reports whether a session has not expired by this node's clock.
func (s *server) live(ss *fsm.Session) bool {
	return s.auth.now().UnixNano() < ss.Expires
}

// sessionAuth authenticates a request without Authorization credentials by
// its session cookie, as DRF's SessionAuthentication does: no cookie, an
// unknown or expired session make the request anonymous; an unsafe method
// needs the CSRF token in X-CSRFToken, else 403.
func (s *server) sessionAuth(c *gin.Context) credentials {
	value, ss, u, err := s.lookupSession(c)
	if err != nil {
		return credentials{err: err}
	}
	if ss == nil || !s.live(ss) {
		return credentials{}
	}
	if msg := checkCSRF(c, value); msg != "" {
		return credentials{refusal: &refusal{status: http.StatusForbidden, detail: msg}}
	}
	return credentials{user: u, scheme: "session"}
}

// checkCSRF returns Django's failure message for an unsafe request without
// the right CSRF token, or "" if the request may go on.
func checkCSRF(c *gin.Context, sessionValue string) string {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return ""
	}
	cookie, err := c.Cookie(csrfCookie)
	if err != nil || cookie == "" {
		return msgCSRFCookieNotSet
	}
	header := c.GetHeader(csrfHeader)
	if header == "" {
		return msgCSRFMissing
	}
	want := csrfFor(sessionValue)
	ok := subtle.ConstantTimeCompare([]byte(header), []byte(cookie)) &
		subtle.ConstantTimeCompare([]byte(cookie), []byte(want))
	if ok != 1 {
		return msgCSRFIncorrect
	}
	return ""
}

func (s *server) routeSession(r *gin.Engine) {
	pre := []gin.HandlerFunc{func(c *gin.Context) { c.Set(dialectKey, "auth") }}
	route(r, loginPath, pre, methodNotAllowed(http.MethodPost), map[string]gin.HandlerFunc{http.MethodPost: s.login})
	route(r, logoutPath, pre, methodNotAllowed(http.MethodPost), map[string]gin.HandlerFunc{http.MethodPost: s.logout})
}

// loginForm reads username and password from a JSON or form body. It
// answers errors itself.
func loginForm(c *gin.Context) (username, password string, ok bool) {
	body, err := readBody(c)
	if bodyError(c, err) {
		return "", "", false
	}
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	fields := map[string]string{}
	switch mt {
	case "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(body))
		if err != nil {
			detail(c, http.StatusBadRequest, "Malformed request.")
			return "", "", false
		}
		for _, k := range []string{"username", "password"} {
			if v, ok := q[k]; ok && len(v) > 0 {
				fields[k] = v[len(v)-1]
			}
		}
	case "application/json", "":
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			detail(c, http.StatusBadRequest, "JSON parse error - "+jsonErrorText(err))
			return "", "", false
		}
		for _, k := range []string{"username", "password"} {
			if v, ok := m[k].(string); ok {
				fields[k] = v
			}
		}
	default:
		detail(c, http.StatusUnsupportedMediaType, "Unsupported media type \""+mt+"\" in request.")
		return "", "", false
	}
	errs := fieldErrors{}
	for _, k := range []string{"username", "password"} {
		if fields[k] == "" {
			errs.add(k, "This field is required.")
		}
	}
	if len(errs) > 0 {
		respond(c, http.StatusBadRequest, errs)
		return "", "", false
	}
	return fields["username"], fields["password"], true
}

// jsonErrorText is the part of a JSON error safe to echo: never the input.
func jsonErrorText(err error) string {
	if _, ok := err.(*json.SyntaxError); ok {
		return "invalid JSON"
	}
	return "expected an object"
}

// login checks a username and password and opens a session: a random
// secret goes to the client in the sessionid cookie, its digest through the
// log to every node.
func (s *server) login(c *gin.Context) {
	username, password, ok := loginForm(c)
	if !ok {
		return
	}
	addr := c.ClientIP()
	if wait := s.auth.backoff.wait(username, addr); wait > 0 {
		throttled(c, wait)
		return
	}
	u, err := s.checkPassword(c, username, password)
	if err != nil {
		clusterError(c, err)
		return
	}
	if u == nil {
		s.auth.backoff.fail(username, addr)
		respond(c, http.StatusBadRequest, gin.H{"non_field_errors": []string{"Unable to log in with provided credentials."}})
		return
	}
	s.auth.backoff.succeed(username)
	secret := make([]byte, sessionSecretLen)
	if _, err := rand.Read(secret); err != nil {
		detail(c, http.StatusInternalServerError, "A server error occurred.")
		return
	}
	value := base64.RawURLEncoding.EncodeToString(secret)
	cmd, err := fsm.Encode(fsm.CmdCreateSession, fsm.CreateSession{
		UserID: u.ID, Digest: sessionDigest(value), TTL: int64(s.auth.sessionTTL),
	})
	if err != nil {
		detail(c, http.StatusInternalServerError, "A server error occurred.")
		return
	}
	res, _, err := s.cluster.Apply(c.Request.Context(), cmd)
	if err != nil {
		clusterError(c, err)
		return
	}
	if res.Err != nil {
		// The user was deleted between the check and the apply.
		respond(c, http.StatusBadRequest, gin.H{"non_field_errors": []string{"Unable to log in with provided credentials."}})
		return
	}
	maxAge := int(s.auth.sessionTTL.Seconds())
	s.setCookie(c, sessionCookie, value, maxAge, true)
	s.setCookie(c, csrfCookie, csrfFor(value), maxAge, false)
	c.Header("Cache-Control", "no-store")
	respond(c, http.StatusOK, gin.H{"username": u.Username})
}

// logout revokes the request's session cluster-wide and clears the
// cookies. A request without a session is answered the same way, so that
// logging out twice is harmless. A live session needs the CSRF token, as
// any cookie-authenticated POST does.
func (s *server) logout(c *gin.Context) {
	value, ss, _, err := s.lookupSession(c)
	if err != nil {
		clusterError(c, err)
		return
	}
	if ss != nil {
		if s.live(ss) {
			if msg := checkCSRF(c, value); msg != "" {
				detail(c, http.StatusForbidden, msg)
				return
			}
		}
		cmd, err := fsm.Encode(fsm.CmdDeleteSession, fsm.DeleteSession{Digest: ss.Digest})
		if err != nil {
			detail(c, http.StatusInternalServerError, "A server error occurred.")
			return
		}
		if _, _, err := s.cluster.Apply(c.Request.Context(), cmd); err != nil {
			clusterError(c, err)
			return
		}
	}
	s.setCookie(c, sessionCookie, "", -1, true)
	s.setCookie(c, csrfCookie, "", -1, false)
	c.Header("Cache-Control", "no-store")
	detail(c, http.StatusOK, "Successfully logged out.")
}

// setCookie sets a cookie with Path=/ and SameSite=Lax, Secure when the
// request came over TLS. maxAge < 0 deletes the cookie.
func (s *server) setCookie(c *gin.Context, name, value string, maxAge int, httpOnly bool) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   c.Request.TLS != nil,
		HttpOnly: httpOnly,
		SameSite: http.SameSiteLaxMode,
	})
}

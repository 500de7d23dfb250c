package api

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
)

// authBadEncoding: a Basic credential that is not base64 of "user:password".
const authBadEncoding authFailure = 100

// defaultSessionTTL is Django's SESSION_COOKIE_AGE: two weeks.
const defaultSessionTTL = 14 * 24 * time.Hour

// authState is what password and session authentication need beyond the
// cluster: the clock, the session lifetime and the failed-login back-off.
type authState struct {
	now        func() time.Time
	sessionTTL time.Duration
	backoff    *loginBackoff
}

func newAuthState(opts Options) *authState {
	now := opts.Clock
	if now == nil {
		now = time.Now
	}
	ttl := opts.SessionTTL
	if ttl <= 0 {
		ttl = defaultSessionTTL
	}
	return &authState{now: now, sessionTTL: ttl, backoff: newLoginBackoff(now, backoffCapacity)}
}

// refusal is an answer authentication gives that is neither a 401 nor a
// cluster error: the CSRF 403 and the back-off 429.
type refusal struct {
	status int
	detail string
	wait   time.Duration
}

// refused answers the refusal in cr, if any, and reports whether it did.
func refused(c *gin.Context, cr credentials) bool {
	r := cr.refusal
	if r == nil {
		return false
	}
	if r.status == http.StatusTooManyRequests {
		throttled(c, r.wait)
		return true
	}
	detail(c, r.status, r.detail)
	return true
}

// dummyHash is compared against when the user does not exist or has no
// password, so that the answer takes as long as for a wrong password
// (Django ticket #20760). Its cost matches the users' hashes.
var dummyHash = sync.OnceValue(func() []byte {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	h, err := bcrypt.GenerateFromPassword([]byte(base64.RawURLEncoding.EncodeToString(secret)), bcrypt.DefaultCost)
	if err != nil {
		panic(err) // only for a cost out of range
	}
	return h
})

// checkPassword looks the user up and compares the password with its bcrypt
// hash; bcrypt compares in constant time. An unknown user, or one without a
// password, costs one comparison against dummyHash and fails. The user is
// looked up in this node's state, then in one as fresh as the leader's, so
// that a user created through another node a moment ago can log in. err is
// set when no consistent read could be served.
func (s *server) checkPassword(c *gin.Context, username, password string) (*fsm.User, error) {
	var u *fsm.User
	st, err := s.cluster.Read(c.Request.Context(), cluster.Stale)
	if err == nil {
		u, _ = st.UserByName(username)
	}
	if u == nil {
		st, err = s.cluster.Read(c.Request.Context(), cluster.Leader)
		if err != nil {
			return nil, err
		}
		u, _ = st.UserByName(username)
	}
	hash := dummyHash()
	if u != nil && u.PasswordHash != "" {
		hash = []byte(u.PasswordHash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || u == nil || u.PasswordHash == "" {
		return nil, nil
	}
	return u, nil
}

// basicAuth reads `Authorization: Basic base64(user:password)` as Django
// REST framework's BasicAuthentication does. parts is the header split on
// white space; its scheme is "basic".
func (s *server) basicAuth(c *gin.Context, parts []string) credentials {
	cr := credentials{scheme: "basic"}
	switch {
	case len(parts) == 1:
		cr.failure = authNotProvided
		return cr
	case len(parts) > 2:
		cr.failure = authMalformed
		return cr
	}
	username, password, ok := decodeBasic(parts[1])
	if !ok {
		cr.failure = authBadEncoding
		return cr
	}
	addr := c.ClientIP()
	if wait := s.auth.backoff.wait(username, addr); wait > 0 {
		cr.refusal = &refusal{status: http.StatusTooManyRequests, wait: wait}
		return cr
	}
	u, err := s.checkPassword(c, username, password)
	switch {
	case err != nil:
		cr.err = err
	case u == nil:
		s.auth.backoff.fail(username, addr)
		cr.failure = authInvalid
	default:
		s.auth.backoff.succeed(username)
		cr.user = u
	}
	return cr
}

// decodeBasic decodes a Basic credential as Python's base64.b64decode does
// by default: characters outside the alphabet are dropped and the padding
// must be complete; decoding stops at the padding. The result is read as
// UTF-8, or as Latin-1 if it is not valid UTF-8, and split at the first
// colon.
func decodeBasic(s string) (username, password string, ok bool) {
	data := make([]byte, 0, len(s))
	pads := 0
	for i := 0; i < len(s) && pads == 0; i++ {
		switch ch := s[i]; {
		case ch >= 'A' && ch <= 'Z', ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '+', ch == '/':
			data = append(data, ch)
		case ch == '=':
			for ; i < len(s) && s[i] == '='; i++ {
				pads++
			}
		}
	}
	switch len(data) % 4 {
	case 1:
		return "", "", false
	case 2:
		if pads < 2 {
			return "", "", false
		}
	case 3:
		if pads < 1 {
			return "", "", false
		}
	}
	// The non-strict decoder ignores the unused bits of a partial
	// quantum, as Python does.
	raw, err := base64.RawStdEncoding.DecodeString(string(data))
	if err != nil {
		return "", "", false
	}
	text := string(raw)
	if !utf8.ValidString(text) {
		runes := make([]rune, len(raw))
		for i, b := range raw {
			runes[i] = rune(b)
		}
		text = string(runes)
	}
	// DRF partitions at the first colon: without one, the whole is the
	// username and the password is empty.
	username, password, _ = strings.Cut(text, ":")
	return username, password, true
}

// basicFailureMessage is DRF's BasicAuthentication message for a failure.
func basicFailureMessage(f authFailure) string {
	switch f {
	case authNotProvided:
		return "Invalid basic header. No credentials provided."
	case authMalformed:
		return "Invalid basic header. Credentials string should not contain spaces."
	case authBadEncoding:
		return "Invalid basic header. Credentials not correctly base64 encoded."
	}
	return "Invalid username/password."
}

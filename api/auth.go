package api

import (
	"crypto/sha256"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/jwtauth"
)

// authFailure says why presented credentials were refused.
type authFailure int

const (
	authOK authFailure = iota
	// authNotProvided: the scheme came without a token.
	authNotProvided
	// authMalformed: more than a scheme and a token.
	authMalformed
	// authInvalid: no such token.
	authInvalid
	// authJWTExpired: a well-signed JWT whose exp has passed.
	authJWTExpired
	// authJWTInvalid: a JWT that failed verification for any other reason.
	authJWTInvalid
)

// credentials is the outcome of reading the Authorization header.
type credentials struct {
	// user is nil for an anonymous request or a refused one.
	user *fsm.User
	// scheme is the Authorization scheme as the client spelled it, folded
	// to lower case: "token", "bearer", "jwt", or "" when absent.
	scheme  string
	failure authFailure
	// err is set when the token could not be looked up because the
	// cluster could not serve a consistent read; the caller answers 503,
	// not 401, since the credentials may well be good.
	err error
	// refusal, if set, is a 403 (CSRF) or 429 (failed-login back-off) the
	// caller answers with refused (api/basic.go).
	refusal *refusal
}

// tokenScheme reports whether s is an Authorization scheme that carries a
// prefsd API token. With a JWT verifier configured, a Bearer or JWT
// credential shaped as a three-part JWS is verified as a JWT instead
// (api/jwt.go); any other value stays an opaque token.
func tokenScheme(s string) bool {
	switch s {
	case "token", "bearer", "jwt":
		return true
	}
	return false
}

// TokenDigest is how an API token is stored: its SHA-256 digest.
func TokenDigest(token string) []byte {
	d := sha256.Sum256([]byte(token))
	return d[:]
}

// authenticate reads the Authorization header as Django REST framework
// does: the scheme is matched case-insensitively, a scheme alone or with
// more than one token is refused, and an unknown scheme is ignored (the
// request is then anonymous). Tokens are looked up by digest in this node's
// state; a token not found there is looked up again in a state as fresh as
// the leader's, so that a token created through another node a moment ago
// works.
func (s *server) authenticate(c *gin.Context) credentials {
	parts := strings.Fields(requestHeader(c, hdrAuthorization))
	if len(parts) == 0 {
		return s.sessionAuth(c) // api/session.go
	}
	scheme := strings.ToLower(parts[0])
	if scheme == "basic" {
		return s.basicAuth(c, parts) // api/basic.go
	}
	if !tokenScheme(scheme) {
		return s.sessionAuth(c)
	}
	cr := credentials{scheme: scheme}
	switch {
	case len(parts) == 1:
		cr.failure = authNotProvided
		return cr
	case len(parts) > 2:
		cr.failure = authMalformed
		return cr
	}
	if s.jwt != nil && (scheme == "bearer" || scheme == "jwt") && jwtauth.LooksLikeJWS(parts[1]) {
		return s.authenticateJWT(c, cr, parts[1])
	}
	digest := TokenDigest(parts[1])
	st, err := s.cluster.Read(c.Request.Context(), cluster.Stale)
	if err == nil {
		if _, u, ok := st.TokenByDigest(digest); ok {
			cr.user = u
			return cr
		}
	}
	// The leader's state has every token created so far. The leader level
	// skips the quorum round, so a flood of unknown tokens costs the
	// cluster no log writes.
	st, err = s.cluster.Read(c.Request.Context(), cluster.Leader)
	if err != nil {
		cr.err = err
		return cr
	}
	if _, u, ok := st.TokenByDigest(digest); ok {
		cr.user = u
		return cr
	}
	cr.failure = authInvalid
	return cr
}

// setUser records the authenticated user for the handlers and applies the
// per-user rate limit. It reports whether the request may go on; otherwise
// it has answered 429.
func (s *server) setUser(c *gin.Context, u *fsm.User) bool {
	if !s.limitUser(c, u.ID) {
		return false
	}
	c.Set(userKey, u)
	return true
}

// currentUser returns the authenticated user set by a dialect's auth step.
func currentUser(c *gin.Context) *fsm.User {
	u, _ := c.Get(userKey)
	user, _ := u.(*fsm.User)
	return user
}

// drfTokenAuth authenticates as a DRF view whose first authentication
// class is TokenAuthentication (InvenTree's and django-dynamic-preferences'
// views): refused credentials get 401 with DRF's message and the "Token"
// challenge whatever the view; an anonymous caller gets the same 401 with
// msgNotAuthenticated only where required is true. It answers errors
// itself and returns the caller, nil for an anonymous one.
//
// The edX and layout dialects keep their own prelude on purpose: Open
// edX answers Bearer failures with an error_code body and names the
// challenge of the view's first class, and djangorestframework-jwt names a
// `JWT realm="api"` challenge.
func (s *server) drfTokenAuth(c *gin.Context, required bool) (*fsm.User, bool) {
	cr := s.authenticate(c)
	switch {
	case cr.err != nil:
		clusterError(c, cr.err)
		return nil, false
	case refused(c, cr):
		return nil, false
	case cr.failure != authOK:
		c.Header("WWW-Authenticate", "Token")
		detail(c, http.StatusUnauthorized, drfAuthFailureMessage(cr))
		return nil, false
	case cr.user == nil && required:
		c.Header("WWW-Authenticate", "Token")
		detail(c, http.StatusUnauthorized, msgNotAuthenticated)
		return nil, false
	}
	return cr.user, true
}

// drfAuthFailureMessage is DRF's message for refused Token or JWT credentials,
// which every dialect but Open edX's Bearer authentication answers with.
func drfAuthFailureMessage(cr credentials) string {
	if cr.scheme == "basic" {
		return basicFailureMessage(cr.failure) // api/basic.go
	}
	switch cr.failure {
	case authJWTExpired:
		return "Signature has expired."
	case authJWTInvalid:
		return "Error decoding signature."
	}
	if cr.scheme == "jwt" {
		switch cr.failure {
		case authNotProvided:
			return "Invalid Authorization header. No credentials provided."
		case authMalformed:
			return "Invalid Authorization header. Credentials string should not contain spaces."
		}
		return "Error decoding signature."
	}
	switch cr.failure {
	case authNotProvided:
		return "Invalid token header. No credentials provided."
	case authMalformed:
		return "Invalid token header. Token string should not contain spaces."
	}
	return "Invalid token."
}

package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/cluster"
)

// Every request reads a few headers and every answer sets a few more.
// Through http.Header's methods (and gin's c.Header and c.GetHeader, which
// call them) each access canonicalizes the header's name again; the names
// here are canonicalized once, and constant values are built once.

// Canonical forms of the header names on the request path.
var (
	hdrAllow         = http.CanonicalHeaderKey("Allow")
	hdrVary          = http.CanonicalHeaderKey("Vary")
	hdrAccept        = http.CanonicalHeaderKey("Accept")
	hdrAuthorization = http.CanonicalHeaderKey("Authorization")
	hdrContentType   = http.CanonicalHeaderKey("Content-Type")
	hdrXConsistency  = http.CanonicalHeaderKey("X-Consistency")
	hdrRequestID     = http.CanonicalHeaderKey(RequestIDHeader)
	hdrIndex         = http.CanonicalHeaderKey(headerIndex)
	hdrConsistency   = http.CanonicalHeaderKey(headerConsistency)
	hdrKnownLeader   = http.CanonicalHeaderKey(headerKnownLeader)
	hdrLastContact   = http.CanonicalHeaderKey(headerLastContact)
)

// Header values that never change, shared by every answer that sends them.
var (
	varyAccept        = []string{"Accept"}
	knownLeaderValues = [2][]string{{"false"}, {"true"}}
	// consistencyValues holds each level's name, keyed by level.
	consistencyValues = func() map[cluster.Consistency][]string {
		m := map[cluster.Consistency][]string{}
		for _, l := range []cluster.Consistency{cluster.Linearizable, cluster.Leader, cluster.Stale} {
			m[l] = []string{l.String()}
		}
		return m
	}()
)

// allowValue is the shared Allow header value of a route's methods.
func allowValue(methods []string) []string {
	return []string{allowed(methods)}
}

// setHeader sets a response header, named in canonical form, to value, as
// c.Header does for a value that is not empty.
func setHeader(c *gin.Context, canonical, value string) {
	c.Writer.Header()[canonical] = []string{value}
}

// setSharedHeader sets a response header, named in canonical form, to a
// value slice built once and shared by every answer that sends it. That is
// safe because nothing changes a header's values in place, and a slice
// literal is full (its length is its capacity), so an Add appends to a
// copy.
func setSharedHeader(c *gin.Context, canonical string, values []string) {
	c.Writer.Header()[canonical] = values
}

// requestHeader is c.GetHeader for a header named in canonical form: its
// first value, or "".
func requestHeader(c *gin.Context, canonical string) string {
	if v := c.Request.Header[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}

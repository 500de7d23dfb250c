package api

import (
	"github.com/gin-gonic/gin"
)

// Every request reads a few headers and every answer sets a few more.
// Through http.Header's methods (and gin's c.Header and c.GetHeader, which
// call them) each access canonicalizes the header's name again; the names
// here are canonicalized once, and constant values are built once.

// Header names on the request path, written in canonical form
// (TestHeaderNamesCanonical checks it).
const (
	hdrAllow         = "Allow"
	hdrVary          = "Vary"
	hdrAccept        = "Accept"
	hdrAuthorization = "Authorization"
	hdrContentType   = "Content-Type"
	hdrXConsistency  = "X-Consistency"
	hdrRequestID     = "X-Request-Id"
	hdrIndex         = headerIndex
	hdrConsistency   = headerConsistency
	hdrKnownLeader   = headerKnownLeader
	hdrLastContact   = headerLastContact
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

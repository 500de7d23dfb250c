package api

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
)

// The products prefsd replaces are Django REST framework services, and share
// its framework answers: {"detail": "..."} bodies for authentication,
// method, media type and parse errors. These helpers render them.

// DRF's framework messages.
const (
	msgNotAuthenticated = "Authentication credentials were not provided."
	msgPermissionDenied = "You do not have permission to perform this action."
	msgNotFound         = "Not found."
	msgServerError      = "A server error occurred."
)

// Header names prefsd adds to answers.
const (
	headerIndex       = "X-Prefsd-Index"
	headerConsistency = "X-Prefsd-Consistency"
	// headerKnownLeader and headerLastContact (milliseconds since this node
	// last heard from the leader) tell a stale read's client how stale.
	headerKnownLeader = "X-Prefsd-Known-Leader"
	headerLastContact = "X-Prefsd-Last-Contact"
)

// detail answers {"detail": msg}.
func detail(c *gin.Context, status int, msg string) {
	respondWith(c, status, func(b []byte) []byte { return appendJSONObject1(b, "detail", msg) })
}

// methodNotAllowed returns a handler answering DRF's 405 with an Allow
// header listing methods.
func methodNotAllowed(methods ...string) gin.HandlerFunc {
	allow := allowValue(methods)
	return func(c *gin.Context) {
		setSharedHeader(c, hdrAllow, allow)
		detail(c, http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", c.Request.Method))
	}
}

// options returns a handler answering DRF's OPTIONS metadata.
func options(name string, parses []string, methods ...string) gin.HandlerFunc {
	allow := allowValue(methods)
	return func(c *gin.Context) {
		setSharedHeader(c, hdrAllow, allow)
		respond(c, http.StatusOK, gin.H{
			"name":        name,
			"description": "",
			"renders":     []string{"application/json"},
			"parses":      parses,
		})
	}
}

// mediaType returns the request's media type without parameters, or "" if
// it has none or it cannot be parsed.
func mediaType(c *gin.Context) string {
	ct := requestHeader(c, hdrContentType)
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}

// unsupportedMediaType answers DRF's 415.
func unsupportedMediaType(c *gin.Context) {
	detail(c, http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported media type %q in request.", c.GetHeader("Content-Type")))
}

// bodyError answers a failure to read the request body: 413 over the size
// limit, 400 otherwise. It reports whether there was an error.
func bodyError(c *gin.Context, err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errBodyTooLarge) {
		// err reads "request body too large: the limit is N bytes".
		detail(c, http.StatusRequestEntityTooLarge, "Request body too large"+strings.TrimPrefix(err.Error(), errBodyTooLarge.Error())+".")
		return true
	}
	detail(c, http.StatusBadRequest, fmt.Sprintf("Could not read the request body: %v.", err))
	return true
}

// parseError answers DRF's 400 for a body that is not JSON.
func parseError(c *gin.Context, err error) {
	detail(c, http.StatusBadRequest, "JSON parse error - "+err.Error())
}

// consistency reads the consistency level from ?consistency= or the
// X-Consistency header. On a bad value it answers 400 and returns false.
func consistency(c *gin.Context) (cluster.Consistency, bool) {
	var v string
	if c.Request.URL.RawQuery != "" { // no query, no parameter: skip parsing it
		v = c.Query("consistency")
	}
	if v == "" {
		v = requestHeader(c, hdrXConsistency)
	}
	level, err := cluster.ParseConsistency(v)
	if err != nil {
		detail(c, http.StatusBadRequest, fmt.Sprintf("Invalid consistency %q: use linearizable, leader or stale.", v))
		return 0, false
	}
	return level, true
}

// read returns a state at the request's consistency level, answering the
// error itself when it fails.
func (s *server) read(c *gin.Context) (*fsm.State, bool) {
	level, ok := consistency(c)
	if !ok {
		return nil, false
	}
	st, err := s.cluster.Read(c.Request.Context(), level)
	if err != nil {
		clusterError(c, err)
		return nil, false
	}
	setHeader(c, hdrIndex, strconv.FormatUint(st.Index(), 10))
	setHeader(c, hdrConsistency, level.String())
	if level == cluster.Stale {
		known, contact := s.cluster.Freshness()
		setHeader(c, hdrKnownLeader, strconv.FormatBool(known))
		setHeader(c, hdrLastContact, strconv.FormatInt(contact.Milliseconds(), 10))
	}
	return st, true
}

// apply commits a command, answering cluster errors itself. It returns the
// state machine's result and whether the command was committed.
func (s *server) apply(c *gin.Context, t fsm.CmdType, body any) (fsm.Result, bool) {
	cmd, err := fsm.Encode(t, body)
	if err != nil {
		detail(c, http.StatusInternalServerError, msgServerError)
		return fsm.Result{}, false
	}
	res, idx, err := s.cluster.Apply(c.Request.Context(), cmd)
	if err != nil {
		clusterError(c, err)
		return fsm.Result{}, false
	}
	setHeader(c, hdrIndex, strconv.FormatUint(idx, 10))
	return res, true
}

// clusterError answers an error of the cluster layer in DRF's shape.
func clusterError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, cluster.ErrUnknownOutcome):
		detail(c, http.StatusGatewayTimeout, "The write was sent to the cluster but its outcome is unknown; read before retrying.")
	case errors.Is(err, cluster.ErrTimeout):
		detail(c, http.StatusGatewayTimeout, "The cluster did not answer in time; try again.")
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrShutdown):
		c.Header("Retry-After", "1")
		detail(c, http.StatusServiceUnavailable, "No cluster leader is available; try again.")
	default:
		detail(c, http.StatusServiceUnavailable, "The cluster could not serve the request; try again.")
	}
}

// respond writes v as JSON the way Django REST framework's JSONRenderer
// does: compact, with non-ASCII characters and <, >, & as they are, and
// Content-Type application/json. It ends the handler chain.
func respond(c *gin.Context, status int, v any) {
	c.Render(status, drfJSON{v})
	c.Abort()
}

// respondWith is respond for the answers hot enough to be written without
// reflection (api/jsonenc.go): write appends the body, encoded as respond
// would encode it, to an empty buffer from a pool, which goes back to the
// pool once the body is written.
func respondWith(c *gin.Context, status int, write func([]byte) []byte) {
	bp := rawBuffers.Get().(*[]byte)
	body := write((*bp)[:0])
	c.Render(status, drfRaw(body))
	c.Abort()
	if cap(body) <= maxPooledJSON {
		*bp = body[:0]
		rawBuffers.Put(bp)
	}
}

// rawBuffers are respondWith's buffers. A ResponseWriter, as any
// io.Writer, keeps nothing it was given once Write returns.
var rawBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 4<<10)
	return &b
}}

// jsonContentType is the Content-Type value of every answer. One slice
// serves them all, as gin's own renderers share theirs: nothing changes a
// header value in place.
var jsonContentType = []string{"application/json"}

// drfJSON renders Django REST framework's JSON.
type drfJSON struct{ data any }

func (r drfJSON) Render(w http.ResponseWriter) error {
	r.WriteContentType(w)
	return encodeJSON(r.data, func(b []byte) error {
		_, err := w.Write(b)
		return err
	})
}

func (drfJSON) WriteContentType(w http.ResponseWriter) {
	w.Header()["Content-Type"] = jsonContentType
}

// drfRaw renders a body already encoded as drfJSON would encode it.
type drfRaw []byte

func (r drfRaw) Render(w http.ResponseWriter) error {
	r.WriteContentType(w)
	_, err := w.Write(r)
	return err
}

func (drfRaw) WriteContentType(w http.ResponseWriter) {
	w.Header()["Content-Type"] = jsonContentType
}

// orderedErrors is a JSON object that keeps its keys in insertion order, as
// a Python dict does: Open edX lists field errors in the patch's order.
type orderedErrors[V any] struct {
	keys   []string
	values map[string]V
}

func (o *orderedErrors[V]) set(k string, v V) {
	if o.values == nil {
		o.values = map[string]V{}
	}
	if _, ok := o.values[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.values[k] = v
}

func (o *orderedErrors[V]) len() int { return len(o.keys) }

// MarshalJSON writes the object with its keys in insertion order.
func (o *orderedErrors[V]) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, k := range o.keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		vb, err := marshalNoEscape(o.values[k])
		if err != nil {
			return nil, err
		}
		buf = appendJSONString(buf, k)
		buf = append(buf, ':')
		buf = append(buf, vb...)
	}
	return append(buf, '}'), nil
}

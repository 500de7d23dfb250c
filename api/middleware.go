package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/prefsd/prefsd/cluster"
)

// Keys of values stored on the gin context.
const (
	dialectKey   = "prefsd.dialect"
	requestIDKey = "prefsd.request_id"
	userKey      = "prefsd.user"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-ID"

// requestID takes a well-formed X-Request-ID or makes one, and echoes it.
func (s *server) requestID(c *gin.Context) {
	id := requestHeader(c, hdrRequestID)
	if !validRequestID(id) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set(requestIDKey, id)
	setHeader(c, hdrRequestID, id)
	c.Next()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// recover turns a panic into a 500 with a JSON body, and logs it.
func (s *server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			s.log.Error("handler panicked", "request_id", c.GetString(requestIDKey),
				"method", c.Request.Method, "route", c.FullPath(), "panic", fmt.Sprint(v))
			if !c.Writer.Written() {
				respond(c, http.StatusInternalServerError, gin.H{"detail": "A server error occurred."})
			}
		}
	}()
	c.Next()
}

// accessLog logs one line per request. It builds the line only when the
// logger takes it, and from typed attributes, so that no value is boxed.
func (s *server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	level := slog.LevelInfo
	if c.Writer.Status() >= 500 {
		level = slog.LevelWarn
	}
	ctx := c.Request.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	s.log.LogAttrs(ctx, level, "request",
		slog.String("request_id", c.GetString(requestIDKey)),
		slog.String("method", c.Request.Method),
		slog.String("route", routeLabel(c)),
		slog.Int("status", c.Writer.Status()),
		slog.String("dialect", c.GetString(dialectKey)),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("remote", c.ClientIP()),
	)
}

// limitBody caps the request body at the configured size. A request
// without a body (http.NoBody, as the server gives every request that
// declares none) has nothing to cap.
func (s *server) limitBody(c *gin.Context) {
	// A backup upload may be far larger than any request; its handler
	// reads only the size the backup's header announces, and only from
	// a caller it has authenticated.
	if c.Request.Body != nil && c.Request.Body != http.NoBody && c.Request.URL.Path != cluster.PathRestore {
		limit := s.maxBody
		if internalPath(c.Request.URL.Path) {
			// A forwarded command escapes the client's JSON once more,
			// and a forwarded batch carries up to cluster.MaxBatchBytes.
			limit = limit*8 + cluster.MaxBatchBytes
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	}
	c.Next()
}

// errBodyTooLarge is returned by readBody for a body over the limit.
var errBodyTooLarge = errors.New("request body too large")

// readBody reads the whole request body within the size limit.
func readBody(c *gin.Context) ([]byte, error) {
	if c.Request.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(c.Request.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, fmt.Errorf("%w: the limit is %d bytes", errBodyTooLarge, tooLarge.Limit)
	}
	return b, err
}

// routeLabel is the route template, bounded in cardinality.
func routeLabel(c *gin.Context) string {
	if p := c.FullPath(); p != "" {
		return p
	}
	return "unmatched"
}

// methodLabel bounds the method label to the methods HTTP defines.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// httpMetrics are the per-request metrics.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// children caches each label set's counter and histogram, so that a
	// request costs one map lookup, not two label hashes and lookups in
	// the vectors. The label sets are bounded (route templates, not
	// paths), and nothing deletes a child from the vectors.
	mu       sync.RWMutex
	children map[httpLabels]httpChildren
}

// httpLabels are the labels of the per-request metrics.
type httpLabels struct {
	dialect, route, method string
	code                   int
}

// httpChildren are one label set's metrics.
type httpChildren struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// child returns the metrics of a label set, creating them on first use.
func (m *httpMetrics) child(l httpLabels) httpChildren {
	m.mu.RLock()
	ch, ok := m.children[l]
	m.mu.RUnlock()
	if ok {
		return ch
	}
	labels := []string{l.dialect, l.route, l.method, strconv.Itoa(l.code)}
	ch = httpChildren{m.requests.WithLabelValues(labels...), m.duration.WithLabelValues(labels...)}
	m.mu.Lock()
	m.children[l] = ch
	m.mu.Unlock()
	return ch
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	return &httpMetrics{
		children: map[httpLabels]httpChildren{},
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "prefsd", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by dialect, route template, method and status code.",
		}, []string{"dialect", "route", "method", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "prefsd", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "HTTP request latency, by dialect, route template, method and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"dialect", "route", "method", "code"}),
	}
}

func (m *httpMetrics) middleware(c *gin.Context) {
	if m == nil {
		c.Next()
		return
	}
	start := time.Now()
	c.Next()
	dialect := c.GetString(dialectKey)
	if dialect == "" {
		dialect = "none"
	}
	ch := m.child(httpLabels{dialect, routeLabel(c), methodLabel(c.Request.Method), c.Writer.Status()})
	ch.requests.Inc()
	ch.duration.Observe(time.Since(start).Seconds())
}

// allowed lists methods for an Allow header.
func allowed(methods []string) string {
	return strings.Join(methods, ", ")
}

// route registers handlers for a path: each method in handlers, and
// notAllowed for every other method, so that a 405 is answered in the
// dialect's own shape with an Allow header. All run behind pre.
func route(r gin.IRoutes, path string, pre []gin.HandlerFunc, notAllowed gin.HandlerFunc, handlers map[string]gin.HandlerFunc) {
	for _, m := range []string{
		http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions,
	} {
		h, ok := handlers[m]
		if !ok {
			h = notAllowed
		}
		r.Handle(m, path, append(append([]gin.HandlerFunc{}, pre...), h)...)
	}
}

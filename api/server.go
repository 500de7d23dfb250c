// Package api serves prefsd's HTTP interface: the preference dialects of the
// products prefsd replaces, each with its own URLs, authentication answers
// and error shapes, plus the admin API, the cluster and internal endpoints,
// health checks and metrics. It depends on the cluster only through the
// interfaces declared here.
package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/fsm"
	"github.com/prefsd/prefsd/jwtauth"
)

// Store is the replicated store as the dialect handlers use it.
type Store interface {
	// Apply commits a command and returns the state machine's result.
	Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, uint64, error)
	// Read returns a state at least as fresh as the consistency level asks.
	Read(ctx context.Context, c cluster.Consistency) (*fsm.State, error)
}

// Cluster is the node as the cluster, internal and health endpoints use it.
type Cluster interface {
	Store
	// ApplyLocal applies a command forwarded by a follower; it fails with
	// cluster.ErrNotLeader unless this node leads.
	ApplyLocal(ctx context.Context, cmd fsm.Command) (cluster.ApplyResponse, error)
	// ApplyBatchLocal applies commands a follower forwarded together,
	// answering each command's outcome.
	ApplyBatchLocal(ctx context.Context, cmds []fsm.Command) cluster.ApplyBatchResponse
	// Backup takes a consistent copy of the state.
	Backup(ctx context.Context, level cluster.Consistency) (*cluster.Backup, error)
	// RestoreBackup replaces the cluster's state with an uploaded backup
	// of size bytes (-1 if unknown); forwarded says a follower passed the
	// upload on already.
	RestoreBackup(ctx context.Context, r io.Reader, size int64, forwarded bool) (cluster.RestoreResult, error)
	// TransferLeadership hands leadership to the named voter, or to any
	// other voter when to is empty.
	TransferLeadership(ctx context.Context, to string) (cluster.TransferResult, error)
	// ReadIndex is the leader's half of a consistent read.
	ReadIndex(ctx context.Context, verify bool) (uint64, error)
	// Term is this node's raft term, asked by a leader confirming a read.
	Term() cluster.TermResponse
	Join(ctx context.Context, req cluster.JoinRequest) error
	Remove(ctx context.Context, nodeID string) error
	Status() (cluster.Status, error)
	StateDigest() (cluster.Digest, error)
	Ready() error
	// CheckKey reports whether a presented cluster key is right.
	CheckKey(key string) bool
	// Freshness says whether this node knows a leader and how long ago it
	// last heard from it (zero on the leader), for stale reads.
	Freshness() (leaderKnown bool, lastContact time.Duration)
}

// Options configure the HTTP server.
type Options struct {
	Cluster Cluster
	Logger  *slog.Logger
	// Registry receives the HTTP metrics; Gatherer is what /metrics serves.
	Registry prometheus.Registerer
	Gatherer prometheus.Gatherer
	// MaxBodyBytes caps request bodies; larger ones get 413.
	MaxBodyBytes int64
	// JWT, if set, verifies JWTs presented with the Bearer and JWT
	// schemes; nil treats every credential as an opaque API token.
	JWT *jwtauth.Verifier
	// RateLimitAddress and RateLimitUser are requests a second allowed per
	// client address and per authenticated user, in bursts of twice that;
	// 0 means no limit.
	RateLimitAddress float64
	RateLimitUser    float64
	// Clock is the time source for rate limits, session expiry and the
	// failed-login back-off; nil means time.Now.
	Clock func() time.Time
	// SessionTTL is how long a login session lasts; 0 means 14 days.
	SessionTTL time.Duration
}

// server holds what every handler needs.
type server struct {
	cluster  Cluster
	log      *slog.Logger
	maxBody  int64
	metrics  *httpMetrics
	timezone map[string]struct{}
	// jwt verifies JWTs; nil when none are accepted.
	jwt *jwtauth.Verifier
	// ipLimit and userLimit throttle clients; nil allows everything.
	ipLimit   *rateLimiter
	userLimit *rateLimiter
	// auth holds session and password authentication state (api/basic.go).
	auth *authState
}

// New returns the HTTP handler for a node.
func New(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{
		cluster:   opts.Cluster,
		log:       opts.Logger,
		maxBody:   opts.MaxBodyBytes,
		metrics:   newHTTPMetrics(opts.Registry),
		timezone:  commonTimezones(),
		jwt:       opts.JWT,
		ipLimit:   newRateLimiter(opts.RateLimitAddress, opts.Clock),
		userLimit: newRateLimiter(opts.RateLimitUser, opts.Clock),
	}
	s.auth = newAuthState(opts)

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.RedirectTrailingSlash = false // a redirect turns PATCH into GET in some clients
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = false // every route declares its own 405 in its dialect's shape
	r.UseRawPath = true              // keep %2F inside a path segment
	r.UnescapePathValues = true
	r.ContextWithFallback = true
	_ = r.SetTrustedProxies(nil) // ClientIP is the peer; no header is trusted

	r.Use(s.requestID, s.recover, s.metrics.middleware, s.accessLog, s.limitAddress, s.limitBody)
	r.NoRoute(func(c *gin.Context) {
		c.Set(dialectKey, "none")
		respond(c, http.StatusNotFound, gin.H{"detail": "Not found."})
	})

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{Registry: opts.Registry})))

	s.routeEdx(r)
	s.routeLayout(r)
	s.routeDynPrefs(r)
	s.routeInvenTree(r)
	s.routeAdmin(r)
	s.routeCluster(r)
	s.routeSession(r)
	s.routeSchema(r)
	s.routeDebug(r)
	return r
}

package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// rateLimiter keeps a token bucket per key (a client address or a user),
// in memory on this node. The number of buckets is bounded: a full table
// first forgets buckets that have refilled (they are as good as new), then
// arbitrary ones.
type rateLimiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	max     int
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// newRateLimiter allows perSecond requests a second per key, in bursts of
// twice that. It returns nil, which allows everything, for perSecond <= 0.
func newRateLimiter(perSecond float64, now func() time.Time) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &rateLimiter{
		limit:   rate.Limit(perSecond),
		burst:   max(1, int(math.Ceil(2*perSecond))),
		max:     100_000,
		now:     now,
		buckets: map[string]*bucket{},
	}
}

// allow takes a token from key's bucket. When there is none it returns how
// long until there will be.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// evict makes room in a full table.
func (l *rateLimiter) evict(now time.Time) {
	refill := time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) > refill {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.max {
			break
		}
		delete(l.buckets, k)
	}
}

// throttled answers Django REST framework's 429.
func throttled(c *gin.Context, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	c.Header("Retry-After", strconv.Itoa(secs))
	detail(c, http.StatusTooManyRequests, fmt.Sprintf("Request was throttled. Expected available in %d seconds.", secs))
}

// limitAddress applies the per-address limit. It runs before
// authentication, so that a flood of bad credentials is limited too.
// Node-to-node calls are not limited.
func (s *server) limitAddress(c *gin.Context) {
	if s.ipLimit == nil || internalPath(c.Request.URL.Path) {
		c.Next()
		return
	}
	if ok, wait := s.ipLimit.allow(c.ClientIP()); !ok {
		throttled(c, wait)
		return
	}
	c.Next()
}

// limitUser applies the per-user limit once a request is authenticated. It
// reports whether the request may go on; otherwise it has answered 429.
func (s *server) limitUser(c *gin.Context, userID uint64) bool {
	if s.userLimit == nil {
		return true
	}
	if ok, wait := s.userLimit.allow(strconv.FormatUint(userID, 10)); !ok {
		throttled(c, wait)
		return false
	}
	return true
}

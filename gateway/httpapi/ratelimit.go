package httpapi

import (
	"container/list"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// DefaultRateLimitIdentities bounds the identities whose buckets a
// RateLimiter keeps when RateLimit leaves it zero.
const DefaultRateLimitIdentities = 100_000

// RateLimit is the per-identity request rate of the API: a token bucket of
// Burst requests refilled at PerSecond. PerSecond 0 turns it off.
type RateLimit struct {
	PerSecond float64
	Burst     int
	// MaxIdentities bounds the buckets kept (DefaultRateLimitIdentities
	// when zero); beyond it the least recently seen identity's bucket is
	// dropped, and that identity starts again with a full bucket.
	MaxIdentities int
}

// rateLimiter holds one token bucket per identity, the most recently seen
// MaxIdentities of them. It is safe for concurrent use.
type rateLimiter struct {
	limit rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu      sync.Mutex
	lru     *list.List // of *bucket, most recently used first
	buckets map[string]*list.Element
}

type bucket struct {
	id      string
	limiter *rate.Limiter
}

func newRateLimiter(cfg RateLimit, now func() time.Time) *rateLimiter {
	if cfg.MaxIdentities <= 0 {
		cfg.MaxIdentities = DefaultRateLimitIdentities
	}
	return &rateLimiter{
		limit:   rate.Limit(cfg.PerSecond),
		burst:   max(cfg.Burst, 1),
		max:     cfg.MaxIdentities,
		now:     now,
		lru:     list.New(),
		buckets: map[string]*list.Element{},
	}
}

// allow takes a token from id's bucket. When there is none, it returns
// false and how long until there is one.
func (l *rateLimiter) allow(id string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if e, ok := l.buckets[id]; ok {
		l.lru.MoveToFront(e)
		b = e.Value.(*bucket)
	} else {
		if l.lru.Len() >= l.max {
			oldest := l.lru.Back()
			l.lru.Remove(oldest)
			delete(l.buckets, oldest.Value.(*bucket).id)
		}
		b = &bucket{id: id, limiter: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[id] = l.lru.PushFront(b)
	}
	r := b.limiter.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// size is the number of buckets kept.
func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// rateLimit answers 429 RESOURCE_EXHAUSTED, with Retry-After in whole
// seconds, to a caller whose bucket is empty. It runs after authenticate:
// the bucket is the caller's identity's.
func rateLimit(l *rateLimiter) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := IdentityFrom(c.Request.Context())
		if !ok {
			c.Next()
			return
		}
		if allowed, wait := l.allow(id.UserID()); !allowed {
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			abortWith(c, &apiError{status: http.StatusTooManyRequests, code: CodeResourceExhausted,
				message: "too many requests for this user, retry after the time in Retry-After"})
			return
		}
		c.Next()
	}
}

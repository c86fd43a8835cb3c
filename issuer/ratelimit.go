package issuer

import (
	"math"
	"sync"
	"time"
)

// RateLimit is a token bucket per client address: Burst requests at once,
// refilled at Burst per Per. A zero Burst means the default; a negative
// one turns the limit off.
type RateLimit struct {
	Burst int
	Per   time.Duration
}

// limiter holds one token bucket per key, in memory. It is per replica:
// it guards the replica's own resources (bcrypt time, database reads);
// the database-backed sign-in throttle is the one that spans replicas.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	perSec  float64 // refill rate
	off     bool
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the memory a flood of addresses can take; beyond it,
// full buckets are dropped first.
const maxBuckets = 100_000

func newLimiter(l RateLimit, def RateLimit) *limiter {
	if l.Burst == 0 {
		l = def
	}
	if l.Burst < 0 || l.Per <= 0 {
		return &limiter{off: true}
	}
	return &limiter{burst: float64(l.Burst), perSec: float64(l.Burst) / l.Per.Seconds(), buckets: map[string]*bucket{}}
}

// wait returns how long key must wait for a token (0: one is available).
// It does not take the token.
func (l *limiter) wait(key string, now time.Time) time.Duration {
	if l.off {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key, now)
	if b == nil || b.tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - b.tokens) / l.perSec * float64(time.Second)))
}

// take spends one of key's tokens (the bucket may go empty, not below).
func (l *limiter) take(key string, now time.Time) {
	if l.off {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key, now)
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = max(b.tokens-1, 0)
}

// refill brings key's bucket up to date; nil when it has none.
func (l *limiter) refill(key string, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		return nil
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed*l.perSec)
		b.last = now
	}
	return b
}

// sweep drops the buckets that have refilled completely.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.perSec >= l.burst {
			delete(l.buckets, k)
		}
	}
}

package issuer

import (
	"container/list"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit is a token bucket per client address: Burst requests at once,
// refilled at Burst per Per. A zero Burst means the default; a negative
// one turns the limit off.
type RateLimit struct {
	Burst int
	Per   time.Duration
}

// limiter holds a token bucket (golang.org/x/time/rate) per key, in
// memory, in a least-recently-used set of at most maxLimiters keys. It is
// per replica: it guards the replica's own resources (bcrypt time,
// database reads); the database-backed sign-in throttle is the one that
// spans replicas.
//
// Eviction drops the key used longest ago, one per insertion, under a lock
// held for a few map and list operations: no sweep, nothing an attacker
// with many addresses can make slow. An address that keeps sending keeps
// its bucket; to push it out, others must bring maxLimiters new keys in
// between its requests.
type limiter struct {
	off   bool
	limit rate.Limit
	burst int
	max   int

	mu    sync.Mutex
	order *list.List // of *bucket, most recently used first
	byKey map[string]*list.Element
}

// bucket is one key's limiter and the tokens held by requests whose cost
// is not known yet (see reserve).
type bucket struct {
	key string

	mu       sync.Mutex
	lim      *rate.Limiter
	reserved int
	settled  chan struct{} // closed at the next settle; nil when nobody waits
}

// maxLimiters bounds the keys one limiter keeps (about 200 bytes each).
const maxLimiters = 100_000

func newLimiter(l RateLimit, def RateLimit) *limiter {
	if l.Burst == 0 {
		l = def
	}
	if l.Burst < 0 || l.Per <= 0 {
		return &limiter{off: true}
	}
	return &limiter{
		limit: rate.Limit(float64(l.Burst) / l.Per.Seconds()), burst: l.Burst, max: maxLimiters,
		order: list.New(), byKey: map[string]*list.Element{},
	}
}

// bucket returns key's bucket, made full when new; the set then drops
// the least recently used key if it is over its bound.
func (l *limiter) bucket(key string) *bucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.byKey[key]; ok {
		l.order.MoveToFront(el)
		return el.Value.(*bucket)
	}
	b := &bucket{key: key, lim: rate.NewLimiter(l.limit, l.burst)}
	l.byKey[key] = l.order.PushFront(b)
	for l.order.Len() > l.max {
		old := l.order.Back()
		l.order.Remove(old)
		delete(l.byKey, old.Value.(*bucket).key)
	}
	return b
}

// take spends one of key's tokens, or says how long to wait for one.
func (l *limiter) take(key string, now time.Time) (wait time.Duration) {
	if l.off {
		return 0
	}
	b := l.bucket(key)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lim.AllowN(now, 1) {
		return 0
	}
	return l.waitFor(b.lim.TokensAt(now) - float64(b.reserved))
}

// reserve holds one of key's tokens for work whose cost is known only
// once it is done (a token look-up: only a bad token costs). The token is
// held before the work starts, so a burst of concurrent requests cannot
// all pass a check made before the first of them is counted. settle
// spends the token (charge) or gives it back.
//
// When the bucket has tokens but requests in flight hold them all, reserve
// returns a channel closed at the next settle instead: the caller may wait
// for it and try again, since good requests give their tokens back.
// Otherwise a refusal says how long to wait for a token.
func (l *limiter) reserve(key string, now time.Time) (r reservation, wait time.Duration, settled <-chan struct{}) {
	if l.off {
		return reservation{}, 0, nil
	}
	b := l.bucket(key)
	b.mu.Lock()
	defer b.mu.Unlock()
	tokens := b.lim.TokensAt(now)
	switch {
	case tokens-float64(b.reserved) >= 1:
		b.reserved++
		return reservation{b: b}, 0, nil
	case tokens >= 1:
		if b.settled == nil {
			b.settled = make(chan struct{})
		}
		return reservation{}, 0, b.settled
	}
	return reservation{}, l.waitFor(tokens - float64(b.reserved)), nil
}

// waitFor is how long a bucket with `free` tokens waits for a whole one.
func (l *limiter) waitFor(free float64) time.Duration {
	return time.Duration(math.Ceil((1 - free) / float64(l.limit) * float64(time.Second)))
}

// reservation is a token held by reserve; the zero value holds none.
type reservation struct{ b *bucket }

// settle ends the reservation: with charge the token is spent at now,
// otherwise it goes back to the bucket.
func (r reservation) settle(charge bool, now time.Time) {
	if r.b == nil {
		return
	}
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	r.b.reserved--
	if r.b.settled != nil {
		close(r.b.settled)
		r.b.settled = nil
	}
	if charge {
		// Never refused: the reservation kept this token out of every
		// other request's reach.
		r.b.lim.AllowN(now, 1)
	}
}

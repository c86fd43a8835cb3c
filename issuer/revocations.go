package issuer

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// RevocationKind is what a revocation event ends.
type RevocationKind string

// The kinds of revocation events.
const (
	// RevokedSession ends one session: every access token whose sid is
	// the session id.
	RevokedSession RevocationKind = "sid"
	// RevokedSubject ends a user's access: every access token whose sub is
	// the user id and that was issued at or before the revocation.
	RevokedSubject RevocationKind = "sub"
)

// RevocationEvent is one entry of the revocation feed. The store writes
// it in the transaction that revokes; it is live until ExpiresAt, the
// latest expiry of an access token the session or subject could have
// been issued.
type RevocationEvent struct {
	Seq       int64
	Kind      RevocationKind
	Subject   string // session id or user id; never served as is
	RevokedAt time.Time
	ExpiresAt time.Time
}

// RevocationFeedStore is what the revocation feed reads.
type RevocationFeedStore interface {
	// RevocationsAfter returns up to limit events with Seq > after that
	// are live at now, in Seq order.
	RevocationsAfter(ctx context.Context, after int64, now time.Time, limit int) ([]RevocationEvent, error)
	// RevocationSalt returns the deployment's feed salt, creating it on
	// first use.
	RevocationSalt(ctx context.Context) ([]byte, error)
	// RevocationsChanged returns a channel closed at the next revocation
	// this process commits or hears of from another replica.
	RevocationsChanged() <-chan struct{}
}

// RevocationHashSize is the length of a feed hash.
const RevocationHashSize = 16

// RevocationHash is the feed's hash of a session id or user id:
// SHA-256(salt || id) truncated to RevocationHashSize bytes. Verifiers
// compute the same hash from a token's sid and sub.
func RevocationHash(salt []byte, id string) [RevocationHashSize]byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(id))
	var sum [sha256.Size]byte
	var out [RevocationHashSize]byte
	copy(out[:], h.Sum(sum[:0]))
	return out
}

// Feed bounds.
const (
	// MaxFeedWait is the longest long-poll the feed grants: under the
	// HTTP server's 30-second write timeout.
	MaxFeedWait = 25 * time.Second
	// stoppedFeedWait is the longest wait once the feed is stopping: a
	// draining server still answers, but frees its requests quickly.
	stoppedFeedWait = time.Second
	// FeedPageSize is the most events one feed answer carries.
	FeedPageSize = 1000
)

// FeedEntry is a revocation event as the feed serves it: the keyed hash
// of the session id or user id, never the id.
type FeedEntry struct {
	Kind      RevocationKind
	Hash      [RevocationHashSize]byte
	RevokedAt time.Time
	ExpiresAt time.Time
}

// FeedPage is one answer of the feed.
type FeedPage struct {
	// Salt is the deployment's hash salt (see RevocationHash).
	Salt []byte
	// Cursor is where the next request resumes: the last event's
	// sequence number, or the request's own cursor when there is none.
	Cursor int64
	Events []FeedEntry
	// More is set when the page was full: ask again at once.
	More bool
}

// RevocationFeed serves the revocation events to verifiers.
type RevocationFeed struct {
	store RevocationFeedStore
	now   func() time.Time
	limit *limiter
	// addrKey is the per-address key of a client (Throttle.addrKey).
	addrKey func(ip string) string
	metrics *Metrics

	mu   sync.Mutex
	salt []byte

	stopOnce sync.Once
	stopped  chan struct{}
}

// Stop ends the waits in progress and shortens later ones to a second:
// called when the server starts draining, so that long-polls do not hold
// up the shutdown.
func (f *RevocationFeed) Stop() { f.stopOnce.Do(func() { close(f.stopped) }) }

func newRevocationFeed(cfg Config, store RevocationFeedStore, throttle *Throttle) *RevocationFeed {
	return &RevocationFeed{store: store, now: cfg.Now, metrics: cfg.Metrics, stopped: make(chan struct{}),
		limit:   newLimiter(cfg.RevocationFeedLimit, RateLimit{Burst: 600, Per: time.Minute}),
		addrKey: throttle.addrKey}
}

// Salt returns the deployment's hash salt.
func (f *RevocationFeed) Salt(ctx context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.salt == nil {
		s, err := f.store.RevocationSalt(ctx)
		if err != nil {
			return nil, err
		}
		f.salt = s
	}
	return f.salt, nil
}

// Read returns the live events after the cursor. When there is none and
// wait is positive, it waits up to wait (at most MaxFeedWait) for one,
// woken by the store's change signal.
func (f *RevocationFeed) Read(ctx context.Context, caller Caller, after int64, wait time.Duration) (FeedPage, error) {
	now := f.now()
	if w := f.limit.take(f.addrKey(caller.IP), now); w > 0 {
		return FeedPage{}, tooManyRequests("too many revocation feed requests from this address; try again later", w)
	}
	salt, err := f.Salt(ctx)
	if err != nil {
		return FeedPage{}, err
	}
	wait = min(max(wait, 0), MaxFeedWait)
	stopped := f.stopped
	select {
	case <-stopped:
		wait, stopped = min(wait, stoppedFeedWait), nil
	default:
	}
	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	// Bounded: each pass either returns or waits for a change, and the
	// deadline ends the waiting; the bound guards against a signal storm.
	for range 1000 {
		changed := f.store.RevocationsChanged() // before the read: no event slips between
		evs, err := f.store.RevocationsAfter(ctx, after, f.now(), FeedPageSize+1)
		if err != nil {
			return FeedPage{}, err
		}
		if len(evs) > 0 || deadline == nil {
			return f.page(salt, after, evs), nil
		}
		f.metrics.RevocationFeedWaiting.Inc()
		select {
		case <-changed:
			f.metrics.RevocationFeedWaiting.Dec()
		case <-deadline:
			f.metrics.RevocationFeedWaiting.Dec()
			return f.page(salt, after, nil), nil
		case <-ctx.Done():
			f.metrics.RevocationFeedWaiting.Dec()
			return f.page(salt, after, nil), nil
		case <-stopped:
			f.metrics.RevocationFeedWaiting.Dec()
			return f.page(salt, after, nil), nil
		}
	}
	return f.page(salt, after, nil), nil
}

func (f *RevocationFeed) page(salt []byte, after int64, evs []RevocationEvent) FeedPage {
	p := FeedPage{Salt: salt, Cursor: after, Events: []FeedEntry{}}
	if len(evs) > FeedPageSize {
		evs, p.More = evs[:FeedPageSize], true
	}
	for _, e := range evs {
		p.Events = append(p.Events, FeedEntry{Kind: e.Kind, Hash: RevocationHash(salt, e.Subject), RevokedAt: e.RevokedAt, ExpiresAt: e.ExpiresAt})
		p.Cursor = e.Seq
	}
	f.metrics.RevocationFeedEvents.Add(float64(len(evs)))
	return p
}

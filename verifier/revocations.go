package verifier

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// revHashSize is the length of a revocation feed hash.
const revHashSize = 16

type revHash [revHashSize]byte

// revocations is the revocation state learnt from the issuer's feed: the
// salted hashes of ended sessions and subjects, each kept until no token
// it covers can still be valid.
type revocations struct {
	now       func() time.Time
	leeway    time.Duration
	stale     time.Duration
	failClose bool
	errStale  error

	mu     sync.RWMutex
	salt   []byte
	sids   map[revHash]time.Time // expiry
	subs   map[revHash]subEntry
	cursor string
	lastOK time.Time // last successful answer; zero before the first

	fetchErrors atomic.Uint64
}

type subEntry struct{ revokedAt, expires time.Time }

// RevocationStats describes the revocation state, for metrics.
type RevocationStats struct {
	// Enabled is whether a feed is followed.
	Enabled bool
	// Entries is the revoked sessions and subjects held.
	Entries int
	// Lag is the time since the feed last answered (the whole life of the
	// verifier before the first answer).
	Lag time.Duration
	// FetchErrors counts failed feed requests.
	FetchErrors uint64
}

// RevocationStats returns the revocation state's figures.
func (v *Verifier) RevocationStats() RevocationStats {
	r := v.revoked
	if r == nil {
		return RevocationStats{}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return RevocationStats{Enabled: true, Entries: len(r.sids) + len(r.subs), Lag: r.now().Sub(r.lastOK), FetchErrors: r.fetchErrors.Load()}
}

// check refuses a token whose session or subject is revoked. With no
// entry it hashes nothing; otherwise one hash per map that has entries.
func (r *revocations) check(c *Claims) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.failClose && r.now().Sub(r.lastOK) > r.stale {
		return r.errStale
	}
	if len(r.sids) > 0 && c.SessionID != "" {
		if _, ok := r.sids[r.hash(c.SessionID)]; ok {
			return ErrRevoked
		}
	}
	if len(r.subs) > 0 {
		if e, ok := r.subs[r.hash(c.Subject)]; ok && !c.IssuedAt.After(e.revokedAt) {
			return ErrRevoked
		}
	}
	return nil
}

// hash is the feed's SHA-256(salt || id) truncated, computed on the stack.
func (r *revocations) hash(id string) revHash {
	var buf [256]byte
	var sum [sha256.Size]byte
	if n := len(r.salt); n+len(id) <= len(buf) {
		copy(buf[:], r.salt)
		copy(buf[n:], id)
		sum = sha256.Sum256(buf[:n+len(id)])
	} else {
		h := sha256.New()
		h.Write(r.salt)
		h.Write([]byte(id))
		h.Sum(sum[:0])
	}
	var out revHash
	copy(out[:], sum[:])
	return out
}

// feedAnswer is the feed's JSON.
type feedAnswer struct {
	Salt   string `json:"salt"`
	Cursor string `json:"cursor"`
	More   bool   `json:"more"`
	Events []struct {
		Kind      string `json:"kind"`
		Hash      string `json:"hash"`
		RevokedAt int64  `json:"revoked_at"`
		ExpiresAt int64  `json:"expires_at"`
	} `json:"events"`
}

// apply adds an answer's events and drops the entries no token can still
// use.
func (r *revocations) apply(a *feedAnswer) error {
	salt, err := base64.RawURLEncoding.DecodeString(a.Salt)
	if err != nil || len(salt) == 0 {
		return fmt.Errorf("revocation feed: bad salt")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if string(salt) != string(r.salt) { // another deployment's feed: start over
		r.salt, r.sids, r.subs = salt, map[revHash]time.Time{}, map[revHash]subEntry{}
	}
	for _, e := range a.Events {
		b, err := base64.RawURLEncoding.DecodeString(e.Hash)
		if err != nil || len(b) != revHashSize {
			return fmt.Errorf("revocation feed: bad hash")
		}
		h := revHash(b)
		exp := time.Unix(e.ExpiresAt, 0)
		switch e.Kind {
		case "sid":
			if exp.After(r.sids[h]) {
				r.sids[h] = exp
			}
		case "sub":
			if old, ok := r.subs[h]; !ok || exp.After(old.expires) {
				r.subs[h] = subEntry{revokedAt: time.Unix(e.RevokedAt, 0), expires: exp}
			}
		}
	}
	now := r.now()
	for h, exp := range r.sids {
		if now.After(exp.Add(r.leeway)) {
			delete(r.sids, h)
		}
	}
	for h, e := range r.subs {
		if now.After(e.expires.Add(r.leeway)) {
			delete(r.subs, h)
		}
	}
	r.cursor = a.Cursor
	r.lastOK = now
	return nil
}

// feedFollower long-polls the feed.
type feedFollower struct {
	r       *revocations
	client  *http.Client
	url     string // empty until discovered
	issuer  string
	maxBody int64
	wait    time.Duration
	log     *slog.Logger
	onStale func()
	insec   bool
}

// fetch makes one feed request and applies its answer.
func (f *feedFollower) fetch(ctx context.Context, wait time.Duration) (more bool, err error) {
	if f.url == "" {
		if f.url, err = f.discover(ctx); err != nil || f.url == "" {
			return false, err
		}
	}
	f.r.mu.RLock()
	cursor := f.r.cursor
	f.r.mu.RUnlock()
	q := url.Values{}
	if cursor != "" {
		q.Set("after", cursor)
	}
	if wait > 0 {
		q.Set("wait", strconv.Itoa(int(wait/time.Second)))
	}
	u := f.url
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("revocation feed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		drain(resp.Body)
		return false, fmt.Errorf("revocation feed: status %d", resp.StatusCode)
	}
	body, err := readCapped(resp.Body, f.maxBody)
	if err != nil {
		return false, fmt.Errorf("revocation feed: %w", err)
	}
	var a feedAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return false, fmt.Errorf("revocation feed: %w", err)
	}
	return a.More, f.r.apply(&a)
}

// discover reads revocation_feed_endpoint from the discovery document;
// "" when the issuer has no feed.
func (f *feedFollower) discover(ctx context.Context) (string, error) {
	doc, err := fetchDiscovery(ctx, f.client, f.issuer, f.maxBody)
	if err != nil || doc.RevocationFeed == "" {
		return "", err
	}
	if err := checkFetchURL(doc.RevocationFeed, f.insec); err != nil {
		return "", fmt.Errorf("discovery: revocation_feed_endpoint: %w", err)
	}
	return doc.RevocationFeed, nil
}

// run follows the feed until ctx is done: a long-poll after each answer,
// backing off (1 s doubling to 30 s) after failures.
func (f *feedFollower) run(ctx context.Context) {
	backoff := time.Duration(0)
	wasStale := false
	for ctx.Err() == nil {
		more, err := f.fetch(ctx, f.wait)
		if f.url == "" && err == nil {
			f.log.Info("verifier: the issuer advertises no revocation feed")
			f.r.mu.Lock()
			f.r.failClose = false
			f.r.mu.Unlock()
			return
		}
		if err != nil && ctx.Err() == nil {
			f.r.fetchErrors.Add(1)
			f.log.Warn("verifier: revocation feed fetch failed", "error", err)
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
		} else {
			backoff = 0
		}
		pause := backoff
		if pause == 0 && !more && f.wait == 0 {
			pause = 5 * time.Second // no long-poll: poll gently
		}
		f.r.mu.RLock()
		stale := f.r.now().Sub(f.r.lastOK) > f.r.stale
		f.r.mu.RUnlock()
		if stale && !wasStale {
			f.log.Warn("verifier: revocation state is stale", "max_staleness", f.r.stale.String(), "fail_closed", f.r.failClose)
			if f.onStale != nil {
				f.onStale()
			}
		}
		wasStale = stale
		if more || pause == 0 {
			continue
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// startRevocations follows the revocation feed when there is one to
// follow: RevocationFeedURL, or the discovery document when the JWKS is
// discovered. Unless lazy, it makes the first request before returning
// (a failure only leaves the state stale).
func (v *Verifier) startRevocations(ctx context.Context, s *settings) {
	if s.DisableRevocationFeed || (s.RevocationFeedURL == "" && (s.JWKSURL != "" || s.StaticKeys != nil || s.StaticJWKS != nil)) {
		return
	}
	r := &revocations{now: s.Now, leeway: max(s.Leeway, 0), stale: s.MaxRevocationStaleness, failClose: s.RevocationFailClosed,
		errStale: &KeySetUnavailableError{RetryAfter: time.Second, reason: "the revocation feed is unreachable"},
		sids:     map[revHash]time.Time{}, subs: map[revHash]subEntry{}, lastOK: s.Now()}
	wait := MaxFeedWait
	if t := s.HTTPClient.Timeout; t > 0 {
		wait = min(wait, (t - 2*time.Second).Truncate(time.Second))
	}
	f := &feedFollower{r: r, client: s.HTTPClient, url: s.RevocationFeedURL, issuer: s.Issuer, maxBody: s.MaxJWKSSize,
		wait: max(wait, 0), log: s.Logger, onStale: s.OnRevocationStale, insec: s.AllowInsecureHTTP}
	if !s.Lazy {
		if _, err := f.fetch(ctx, 0); err != nil {
			r.fetchErrors.Add(1)
			s.Logger.Warn("verifier: first revocation feed fetch failed", "error", err)
		}
	}
	v.revoked = r
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	v.stopRevocations = func() { cancel(); <-done }
	go func() {
		defer close(done)
		f.run(ctx)
	}()
}

// MaxFeedWait is the longest long-poll the verifier asks the feed for.
const MaxFeedWait = 25 * time.Second

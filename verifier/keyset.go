package verifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// keySnapshot is an immutable key set. Verify reads the current one with one
// atomic load; a refresh swaps in a new one.
type keySnapshot struct {
	keys    map[string]*publicKey
	fetched time.Time // Config.Now at the last successful fetch (200 or 304)
	failing bool      // a fetch failed since then, or refreshing has stopped
}

// keyCache holds the current key set and coordinates refreshes. All fetches
// run on one goroutine (run), so there is never more than one in flight;
// Verify asks for a refresh through requestRefresh and never fetches itself.
type keyCache struct {
	current atomic.Pointer[keySnapshot]
	static  bool

	now          func() time.Time
	maxStaleness time.Duration
	cooldown     time.Duration
	wait         time.Duration

	// Made once in New so that an outage costs no allocation per request.
	errNoKeySet, errStaleKeySet *KeySetUnavailableError

	trigger chan struct{} // wakes run; buffered, holds at most one request

	mu    sync.Mutex
	round chan struct{} // closed when the requested or running fetch ends; nil when idle
	// lastTriggered is when (by Config.Now) a token last started a fetch.
	// Only those fetches count against the cooldown: New's fetch and the
	// scheduled ones must not delay the first token of a new key.
	lastTriggered time.Time
	stopped       bool
}

// lookup returns the current snapshot if it may be used: a set older than
// MaxStaleness is refused once a fetch has failed since it was fetched (the
// issuer is unreachable). An old set with no failure since (the clock
// jumped, or a refresh is still due) stays usable, and a refresh is asked
// for to find out.
func (c *keyCache) lookup() (*keySnapshot, error) {
	snap := c.current.Load()
	if snap == nil {
		return nil, c.errNoKeySet
	}
	if !c.static && c.now().Sub(snap.fetched) > c.maxStaleness {
		if snap.failing {
			return nil, c.errStaleKeySet
		}
		c.requestRefresh()
	}
	return snap, nil
}

// markFailing records that the current set could not be refreshed.
func (c *keyCache) markFailing() {
	if prev := c.current.Load(); prev != nil && !prev.failing {
		c.current.Store(&keySnapshot{keys: prev.keys, fetched: prev.fetched, failing: true})
	}
}

// requestRefresh asks run for a fetch unless one is already requested or
// running (then it is shared) or the cooldown since the last fetch a token
// started is active (then nil is returned and nothing happens). The
// returned channel is closed when the fetch ends.
func (c *keyCache) requestRefresh() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.static || c.stopped {
		return nil
	}
	if c.round != nil {
		return c.round
	}
	now := c.now()
	// A clock that went back since counts as past the cooldown, so a
	// stepped-back clock cannot block refreshes for the size of the step.
	if since := now.Sub(c.lastTriggered); !c.lastTriggered.IsZero() && since >= 0 && since < c.cooldown {
		return nil
	}
	c.round = make(chan struct{})
	c.lastTriggered = now
	select {
	case c.trigger <- struct{}{}:
	default: // a wake-up is already pending
	}
	return c.round
}

// refreshAndWait requests a refresh and waits for it at most
// Config.UnknownKIDWait (zero by default: no wait).
func (c *keyCache) refreshAndWait(ctx context.Context) {
	round := c.requestRefresh()
	if round == nil || c.wait <= 0 {
		return
	}
	t := time.NewTimer(c.wait)
	defer t.Stop()
	select {
	case <-round:
	case <-t.C:
	case <-ctx.Done():
	}
}

// run is the refresh loop: a fetch when the schedule says so or when
// requestRefresh asks, until ctx is done.
func (c *keyCache) run(ctx context.Context, f *fetcher, next time.Duration) {
	timer := time.NewTimer(next)
	defer timer.Stop()
	defer c.stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-c.trigger:
			c.mu.Lock()
			pending := c.round != nil
			c.mu.Unlock()
			if !pending { // already served by a scheduled fetch
				continue
			}
		}
		next = c.refresh(ctx, f)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// refresh runs one fetch, publishes its result and wakes the waiters. It
// returns when the next scheduled fetch is due.
func (c *keyCache) refresh(ctx context.Context, f *fetcher) time.Duration {
	c.mu.Lock()
	if c.round == nil {
		c.round = make(chan struct{})
	}
	round := c.round
	c.mu.Unlock()

	prev := c.current.Load()
	snap, next, err := f.fetch(ctx, prev)
	switch {
	case err == nil:
		f.failures = 0
		c.current.Store(snap)
	case ctx.Err() != nil: // stopping: stop marks the set
	default:
		f.failures++
		next = f.retryDelay()
		if prev == nil {
			f.log.Warn("verifier: jwks fetch failed; tokens fail with keyset_unavailable until one succeeds", "err", err, "retry_in", next)
		} else {
			f.log.Warn("verifier: jwks refresh failed, keeping the last good key set", "err", err, "retry_in", next)
		}
		c.markFailing()
	}

	c.mu.Lock()
	close(round)
	c.round = nil
	c.mu.Unlock()
	return next
}

// stop ends refreshing. The last set stays usable until MaxStaleness.
func (c *keyCache) stop() {
	c.markFailing()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.round != nil {
		close(c.round)
		c.round = nil
	}
}

// fetcher fetches discovery and the JWKS. Only one goroutine uses it at a
// time (New, then run), so its fields need no lock.
type fetcher struct {
	client        *http.Client
	issuer        string
	jwksURL       string // empty until discovered
	etag          string
	maxBody       int64
	allowed       algSet
	allowInsecure bool // Config.AllowInsecureHTTP: plain http to any host
	minEvery      time.Duration
	maxEvery      time.Duration
	now           func() time.Time
	log           *slog.Logger
	failures      int // consecutive failed fetches
}

// maxRetryInterval caps the backoff after failed fetches, so a verifier
// that started before its issuer, or outlived an outage, recovers within
// a minute of the issuer even with no traffic to trigger a fetch.
const maxRetryInterval = time.Minute

// retryDelay is the wait before the next try after f.failures consecutive
// failures: MinRefreshInterval, doubled after each further failure up to
// maxRetryInterval (or MaxRefreshInterval if lower, but never below
// MinRefreshInterval).
func (f *fetcher) retryDelay() time.Duration {
	limit := max(min(f.maxEvery, maxRetryInterval), f.minEvery)
	d := f.minEvery
	for i := 1; i < f.failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// fetch gets the key set. A 200 response with at least one usable key is
// authoritative: its keys replace the previous ones entirely, so a key it
// no longer lists stops verifying. A 304 keeps prev and counts as success.
// Anything else, including a 200 with no usable key (an empty set is far
// more likely a broken issuer than a revocation of every key), is an error
// and the caller keeps prev. On success it also returns the delay until
// the next scheduled fetch.
func (f *fetcher) fetch(ctx context.Context, prev *keySnapshot) (*keySnapshot, time.Duration, error) {
	if f.jwksURL == "" {
		u, err := f.discover(ctx)
		if err != nil {
			return nil, 0, err
		}
		f.jwksURL = u
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.jwksURL, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if prev != nil && f.etag != "" {
		req.Header.Set("If-None-Match", f.etag)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("jwks fetch: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && prev != nil:
		drain(resp.Body)
		return &keySnapshot{keys: prev.keys, fetched: f.now()}, f.interval(resp.Header), nil
	case resp.StatusCode != http.StatusOK:
		drain(resp.Body)
		return nil, 0, fmt.Errorf("jwks fetch: status %d", resp.StatusCode)
	}
	body, err := readCapped(resp.Body, f.maxBody)
	if err != nil {
		return nil, 0, fmt.Errorf("jwks fetch: %w", err)
	}
	keys, err := parseJWKS(body, f.allowed, f.log)
	if err != nil {
		return nil, 0, err
	}
	if len(keys) == 0 {
		return nil, 0, errors.New("jwks has no usable key")
	}
	f.etag = resp.Header.Get("ETag")
	return &keySnapshot{keys: keys, fetched: f.now()}, f.interval(resp.Header), nil
}

// discover reads the jwks_uri from the issuer's discovery document, whose
// issuer must be ours exactly (RFC 8414 §3.3).
func (f *fetcher) discover(ctx context.Context) (string, error) {
	doc, err := fetchDiscovery(ctx, f.client, f.issuer, f.maxBody)
	if err != nil {
		return "", err
	}
	if err := checkFetchURL(doc.JWKSURI, f.allowInsecure); err != nil {
		return "", fmt.Errorf("discovery: jwks_uri: %w", err)
	}
	return doc.JWKSURI, nil
}

// interval is the Cache-Control max-age of a response clamped to
// [minEvery, maxEvery]; DefaultRefreshInterval when absent, minEvery with
// no-cache or no-store.
func (f *fetcher) interval(h http.Header) time.Duration {
	d := DefaultRefreshInterval
	for _, v := range h.Values("Cache-Control") {
		for _, dir := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(name) {
			case "no-cache", "no-store":
				return f.minEvery
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 {
					d = time.Duration(min(n, int64(365*24*3600))) * time.Second
				}
			}
		}
	}
	return min(max(d, f.minEvery), f.maxEvery)
}

var errTooBig = errors.New("response body exceeds the size limit")

func readCapped(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, errTooBig
	}
	return body, nil
}

// drain reads a little of an unused body so the connection can be reused.
func drain(r io.Reader) { _, _ = io.Copy(io.Discard, io.LimitReader(r, 4<<10)) }

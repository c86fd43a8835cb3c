package issuer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Bounds of the client key cache. A client's jwks_uri is fetched at most
// once per its Cache-Control max-age (kept between the two lifetimes,
// clientKeysDefaultLife without one), and again before that only for an
// assertion naming a kid the cached set lacks, at most once per
// clientKeysCooldown: assertions with made-up kids cost the client's
// server one request per cooldown, whatever their number. A set whose
// refetch fails is used up to clientKeysMaxStale past its lifetime.
const (
	clientKeysMinLife     = time.Minute
	clientKeysMaxLife     = time.Hour
	clientKeysDefaultLife = 5 * time.Minute
	clientKeysCooldown    = 10 * time.Second
	clientKeysMaxStale    = time.Hour
	clientKeysMaxBytes    = 64 << 10
	clientKeysTimeout     = 5 * time.Second
)

// clientKeyCache holds the key sets fetched from clients' jwks_uri, one
// entry per client and URI. Its zero value is ready to use.
type clientKeyCache struct {
	mu      sync.Mutex
	entries map[string]*clientKeyEntry
}

type clientKeyEntry struct {
	set       jwk.Set   // the last good set, nil before one
	expires   time.Time // when set must be fetched again
	attempted time.Time // the last fetch started (good or not)
	lastErr   error     // the last fetch's failure, nil after a success
	// inflight is closed when the fetch under way ends; nil when none is.
	inflight chan struct{}
}

// clientKeySource is what the cache needs besides the client: the clock,
// the HTTP client and where to log.
type clientKeySource struct {
	now  func() time.Time
	hc   *http.Client
	warn func(msg string, args ...any)
	// fetched, when set, is told each fetch's outcome (for metrics).
	fetched func(ok bool)
}

// keys returns the key set at uri for client id, fetching it when there is
// none yet, when it has expired, or when kid is not in it and the
// cooldown since the last fetch has passed. Concurrent callers share one
// fetch per entry.
func (kc *clientKeyCache) keys(ctx context.Context, src clientKeySource, id, uri, kid string) (jwk.Set, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "https" && !isLoopbackURL(u) {
		return nil, errors.New("jwks_uri must be https (plain http only on loopback)")
	}
	key := id + "\x00" + uri
	fetched := false // by this call: it fetches at most once
	for {
		kc.mu.Lock()
		if kc.entries == nil {
			kc.entries = map[string]*clientKeyEntry{}
		}
		e := kc.entries[key]
		if e == nil {
			e = &clientKeyEntry{}
			kc.entries[key] = e
		}
		now := src.now()
		if wait := e.inflight; wait != nil {
			kc.mu.Unlock()
			select {
			case <-wait:
				continue // decide again on what that fetch brought
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		fresh := e.set != nil && now.Before(e.expires)
		cooling := fetched || now.Sub(e.attempted) < clientKeysCooldown
		switch {
		case fresh && (kid == "" || hasKID(e.set, kid)):
			set := e.set
			kc.mu.Unlock()
			return set, nil
		case cooling && e.set != nil && now.Before(e.expires.Add(clientKeysMaxStale)):
			// Unknown kid, or a failed refetch, within the cooldown: the
			// set we have decides (an unknown kid fails verification).
			set := e.set
			kc.mu.Unlock()
			return set, nil
		case cooling:
			err := e.lastErr
			kc.mu.Unlock()
			if err == nil {
				err = errors.New("no usable key set")
			}
			return nil, fmt.Errorf("jwks_uri: last fetch failed, next try after the cooldown: %w", err)
		}
		done := make(chan struct{})
		e.inflight, e.attempted = done, now
		kc.mu.Unlock()

		// The fetch outlives the request that started it: others wait
		// for it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), clientKeysTimeout)
		set, life, ferr := fetchClientKeys(fctx, src.hc, uri)
		cancel()

		if src.fetched != nil {
			src.fetched(ferr == nil)
		}
		kc.mu.Lock()
		if ferr != nil {
			e.lastErr = ferr
			src.warn("client jwks_uri fetch failed", "client_id", id, "jwks_uri", uri, "error", ferr)
		} else {
			e.set, e.expires, e.lastErr = set, src.now().Add(life), nil
		}
		e.inflight = nil
		close(done)
		kc.mu.Unlock()
		fetched = true // decide once more on the outcome, without fetching
	}
}

func hasKID(set jwk.Set, kid string) bool {
	_, ok := set.LookupKeyID(kid)
	return ok
}

// fetchClientKeys GETs a client's JWK set: 200 only, no redirects, at
// most clientKeysMaxBytes, public keys only. It returns the set and how
// long to keep it (Cache-Control max-age within bounds).
func fetchClientKeys(ctx context.Context, hc *http.Client, uri string) (jwk.Set, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, clientKeysMaxBytes+1))
	if err != nil {
		return nil, 0, err
	}
	if len(body) > clientKeysMaxBytes {
		return nil, 0, fmt.Errorf("body larger than %d bytes", clientKeysMaxBytes)
	}
	if err := checkPublicJWKS(body); err != nil {
		return nil, 0, err
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, 0, err
	}
	return set, cacheLife(resp.Header.Get("Cache-Control")), nil
}

// cacheLife reads max-age from a Cache-Control header, within the cache's
// bounds; no-store and no-cache count as the shortest.
func cacheLife(h string) time.Duration {
	life := clientKeysDefaultLife
	for _, d := range strings.Split(h, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return clientKeysMinLife
		case "max-age":
			if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 {
				life = time.Duration(min(n, int64(clientKeysMaxLife/time.Second))) * time.Second
			}
		}
	}
	return min(max(life, clientKeysMinLife), clientKeysMaxLife)
}

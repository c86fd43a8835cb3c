package verifier

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Defaults and limits of Config. Zero values in Config select the default.
const (
	DefaultLeeway             = 30 * time.Second
	MaxLeeway                 = 5 * time.Minute
	DefaultMaxTokenLifetime   = 24 * time.Hour
	DefaultMaxTokenSize       = 8 << 10 // 8 KiB
	DefaultMinRefreshInterval = 5 * time.Second
	DefaultMaxRefreshInterval = time.Hour
	// DefaultRefreshInterval is used when the JWKS response has no
	// Cache-Control max-age; it is then clamped like max-age.
	DefaultRefreshInterval    = 5 * time.Minute
	DefaultUnknownKIDCooldown = 5 * time.Second
	DefaultMaxStaleness       = 24 * time.Hour
	// DefaultMaxRevocationStaleness: see Config.MaxRevocationStaleness.
	DefaultMaxRevocationStaleness = 2 * time.Minute
	DefaultMaxJWKSSize            = 1 << 20 // 1 MiB
	DefaultHTTPTimeout            = 10 * time.Second
	// MaxUnknownKIDWait caps Config.UnknownKIDWait.
	MaxUnknownKIDWait = 10 * time.Second
)

// Config configures a Verifier. Issuer and Audience are required; every other
// field has a safe default.
type Config struct {
	// Issuer is the exact "iss" every token must carry, e.g.
	// "https://auth.example.com". It is also the base of discovery, and
	// then, like JWKSURL and the discovered jwks_uri, must be https://;
	// plain http:// is accepted only for loopback hosts (127.0.0.0/8, ::1,
	// localhost) unless AllowInsecureHTTP is set.
	Issuer string

	// Audience is this resource server's identifier; the token's "aud" (a
	// string or an array) must contain it.
	Audience string

	// JWKSURL is where the issuer's public keys are fetched. When empty it is
	// discovered from Issuer + "/.well-known/openid-configuration", whose
	// "issuer" must equal Issuer exactly. There is no fallback to a guessed
	// URL: a failed discovery is an error like a failed JWKS fetch (and is
	// retried on the next refresh).
	JWKSURL string

	// StaticKeys, or StaticJWKS (the raw JSON of a JWK set), fixes the key
	// set: no network access at all, no refresh, no staleness. For tests and
	// air-gapped deployments. At most one of JWKSURL, StaticKeys and
	// StaticJWKS may be set, and a static set must hold a usable key.
	StaticKeys jwk.Set
	StaticJWKS []byte

	// AllowInsecureHTTP accepts plain http:// URLs (Issuer for discovery,
	// JWKSURL, the discovered jwks_uri, and redirects) for any host, not
	// only loopback ones. Risky: anyone on the network path can then
	// replace the issuer's keys and forge every token. Only for closed
	// networks that cannot have TLS.
	AllowInsecureHTTP bool

	// HTTPClient fetches discovery and the JWKS. Default: a client with a
	// 10 s timeout (never http.DefaultClient, which has none). A client
	// without a timeout lets a hung issuer stall refreshes indefinitely
	// (never Verify, which does not wait on the network unless
	// UnknownKIDWait is set). New uses a copy whose redirects are checked
	// like the URLs above before the client's own CheckRedirect.
	HTTPClient *http.Client

	// Algorithms is the allowlist of JWS algorithms. Default: EdDSA and
	// RS256, what the issuer signs with. ES256 and PS256 may be added.
	// HS256/HS384/HS512, "none" and anything else make New fail: a
	// symmetric alg would let anyone holding the public key forge tokens.
	Algorithms []string

	// Leeway is the clock skew allowed on exp, nbf and iat. Zero means 30 s;
	// a negative value means none; New refuses more than 5 min. Leeway widens
	// the window in which a stolen token works.
	Leeway time.Duration

	// MaxTokenLifetime refuses tokens whose exp-iat exceeds it, bounding the
	// damage of a mis-issued long-lived token. Default 24 h.
	MaxTokenLifetime time.Duration

	// MaxTokenSize is checked before any parsing. Default 8 KiB.
	MaxTokenSize int

	// Now is the clock for every time decision: token times, key-set
	// staleness and the unknown-kid cooldown. Default time.Now. Only the
	// waits between background fetches (and UnknownKIDWait) run on real
	// timers.
	Now func() time.Time

	// MinRefreshInterval and MaxRefreshInterval bound the JWKS refresh
	// period, which follows the response's Cache-Control max-age (or 5 min
	// without one). After a failed fetch the next try is MinRefreshInterval
	// later, doubling after each further failure up to a minute (or
	// MaxRefreshInterval if lower); tokens can start a fetch sooner, once
	// per UnknownKIDCooldown. Defaults 5 s and 1 h. The issuer lowers its
	// max-age before a scheduled change of the key set and times key
	// activation from it, so a minimum above the issuer's
	// SIGNET_JWKS_MAX_AGE would make this verifier meet a new kid before it
	// has fetched it. A long maximum delays the moment a key removed from
	// the JWKS (revoked) stops verifying.
	MinRefreshInterval time.Duration
	MaxRefreshInterval time.Duration

	// UnknownKIDCooldown is the minimum time between two fetches triggered
	// by tokens (unknown kid, missing or stale key set). Tokens with an
	// unknown kid during the cooldown fail at once with ErrUnknownKey, so a
	// flood of forged kids costs at most one fetch per cooldown. Scheduled
	// fetches and New's first fetch do not start a cooldown: the first token
	// signed by a key published after them still gets its fetch. Measured
	// with Now. Default 5 s.
	UnknownKIDCooldown time.Duration

	// UnknownKIDWait is how long Verify may wait for a refresh it triggered
	// (or joined) when it meets an unknown kid or has no usable key set.
	// Default 0: Verify never waits on the network, the token fails with
	// ErrUnknownKey and the refresh runs in the background (the issuer
	// pre-publishes keys, so a legitimate unknown kid is rare). A positive
	// value (at most 10 s) lets the first token after an unexpected
	// rotation pass, at the price of that request waiting; only requests
	// that start or join the single in-flight fetch wait, never during the
	// cooldown.
	UnknownKIDWait time.Duration

	// MaxStaleness bounds how long the last good key set is used when the
	// issuer is unreachable or answers badly (an error status, a body that
	// is not a JWK set or is too large, a set with no usable key): once
	// the last successful fetch is older than this and a fetch has failed
	// since (or refreshing stopped: Close, ctx done), Verify fails closed
	// with ErrKeySetUnavailable, until a fetch succeeds again. Measured
	// with Now. Default 24 h. Must be at least MaxRefreshInterval. A long
	// value keeps a key the issuer has revoked trusted for longer during
	// an outage.
	MaxStaleness time.Duration

	// MaxJWKSSize caps discovery and JWKS response bodies. A larger response
	// is an error and the last good set is kept. Default 1 MiB.
	MaxJWKSSize int64

	// Lazy makes New return without fetching, so a server can start while
	// its issuer is down: the first fetch runs in the background and is
	// retried with backoff (see MinRefreshInterval), and until one succeeds
	// Verify fails with ErrKeySetUnavailable (the middleware answers 503
	// with Retry-After). Configuration errors, such as a malformed or plain
	// http:// URL, still make New fail. By default New fetches before it
	// returns and fails if it cannot, so that a wrong URL or a down issuer
	// shows at start-up.
	Lazy bool

	// Logger receives key-set events (fetch failures, dropped keys); never
	// tokens. Default: discard.
	Logger *slog.Logger

	// RevocationFeedURL is the issuer's revocation feed. When empty and
	// the JWKS is discovered, the discovery document's
	// revocation_feed_endpoint is followed if it has one: revocation is on
	// by default. A token whose session (sid) or subject (sub, issued at or
	// before the event) is in the feed fails with ErrRevoked.
	RevocationFeedURL string
	// DisableRevocationFeed turns the feed off.
	DisableRevocationFeed bool
	// MaxRevocationStaleness is how long the last revocation state is
	// trusted when the feed cannot be reached. Default 2 min: a healthy
	// feed answers at least every long-poll (under 30 s), so 2 min is
	// several missed answers, and it is small next to the 15-min
	// access-token lifetime that bounds what fail-open risks.
	MaxRevocationStaleness time.Duration
	// RevocationFailClosed makes Verify fail (ErrKeySetUnavailable, 503
	// in the middleware) once the revocation state is older than
	// MaxRevocationStaleness. By default it fails open: tokens keep
	// verifying, RevocationStats reports the lag and OnRevocationStale
	// is called (and a warning logged) when the state turns stale.
	RevocationFailClosed bool
	// OnRevocationStale, if set, is called (from the feed's goroutine)
	// each time the revocation state turns stale.
	OnRevocationStale func()
}

// settings is a Config with defaults applied and checked.
type settings struct {
	Config
	allowed algSet
}

func (c Config) withDefaults() (*settings, error) {
	if c.Issuer == "" {
		return nil, errors.New("verifier: config: Issuer is required")
	}
	if c.Audience == "" {
		return nil, errors.New("verifier: config: Audience is required")
	}
	sources := 0
	for _, set := range []bool{c.JWKSURL != "", c.StaticKeys != nil, c.StaticJWKS != nil} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		return nil, errors.New("verifier: config: set at most one of JWKSURL, StaticKeys and StaticJWKS")
	}
	if c.JWKSURL != "" {
		if err := checkFetchURL(c.JWKSURL, c.AllowInsecureHTTP); err != nil {
			return nil, fmt.Errorf("verifier: config: JWKSURL: %w", err)
		}
	} else if sources == 0 {
		if err := checkFetchURL(c.Issuer, c.AllowInsecureHTTP); err != nil {
			return nil, fmt.Errorf("verifier: config: Issuer: %w", err)
		}
	}
	s := &settings{Config: c}
	if len(c.Algorithms) == 0 {
		s.allowed = 1<<algEdDSA | 1<<algRS256
	}
	for _, name := range c.Algorithms {
		a := parseAlg([]byte(name))
		if a == 0 {
			return nil, fmt.Errorf("verifier: config: algorithm %q is not supported (only EdDSA, RS256, PS256, ES256)", name)
		}
		s.allowed |= 1 << a
	}
	switch {
	case c.Leeway == 0:
		s.Leeway = DefaultLeeway
	case c.Leeway < 0:
		s.Leeway = 0
	case c.Leeway > MaxLeeway:
		return nil, fmt.Errorf("verifier: config: Leeway above %s", MaxLeeway)
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"MaxTokenLifetime", &s.MaxTokenLifetime, DefaultMaxTokenLifetime},
		{"MinRefreshInterval", &s.MinRefreshInterval, DefaultMinRefreshInterval},
		{"MaxRefreshInterval", &s.MaxRefreshInterval, DefaultMaxRefreshInterval},
		{"UnknownKIDCooldown", &s.UnknownKIDCooldown, DefaultUnknownKIDCooldown},
		{"MaxStaleness", &s.MaxStaleness, DefaultMaxStaleness},
		{"MaxRevocationStaleness", &s.MaxRevocationStaleness, DefaultMaxRevocationStaleness},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return nil, fmt.Errorf("verifier: config: %s is negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if s.MinRefreshInterval > s.MaxRefreshInterval {
		return nil, errors.New("verifier: config: MinRefreshInterval above MaxRefreshInterval")
	}
	if s.RevocationFeedURL != "" {
		if err := checkFetchURL(s.RevocationFeedURL, s.AllowInsecureHTTP); err != nil {
			return nil, fmt.Errorf("verifier: config: RevocationFeedURL: %w", err)
		}
	}
	if s.MaxStaleness < s.MaxRefreshInterval {
		return nil, errors.New("verifier: config: MaxStaleness below MaxRefreshInterval")
	}
	if s.UnknownKIDWait < 0 || s.UnknownKIDWait > MaxUnknownKIDWait {
		return nil, fmt.Errorf("verifier: config: UnknownKIDWait outside 0..%s", MaxUnknownKIDWait)
	}
	if s.MaxTokenSize < 0 || s.MaxJWKSSize < 0 {
		return nil, errors.New("verifier: config: negative size limit")
	}
	if s.MaxTokenSize == 0 {
		s.MaxTokenSize = DefaultMaxTokenSize
	}
	if s.MaxJWKSSize == 0 {
		s.MaxJWKSSize = DefaultMaxJWKSSize
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.HTTPClient == nil {
		s.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	s.HTTPClient = checkRedirects(s.HTTPClient, s.AllowInsecureHTTP)
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// checkFetchURL accepts an absolute https:// URL, or an http:// one whose
// host is loopback (or any host when allowInsecure is set): keys fetched in
// the clear can be replaced by anyone on the path.
func checkFetchURL(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) url", raw)
	}
	if u.Scheme == "http" && !allowInsecure && !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("%q uses plain http to a host that is not loopback; use https (or set AllowInsecureHTTP, which lets anyone on the network path forge tokens)", raw)
	}
	return nil
}

// checkRedirects returns a copy of c that refuses redirects to URLs that
// checkFetchURL refuses (https to plain http, say), and otherwise follows
// c's own redirect policy.
func checkRedirects(c *http.Client, allowInsecure bool) *http.Client {
	cc := *c
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkFetchURL(req.URL.String(), allowInsecure); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
		if c.CheckRedirect != nil {
			return c.CheckRedirect(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

// isLoopbackHost reports whether host is "localhost" or a loopback address
// (127.0.0.0/8, ::1).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

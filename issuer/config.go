package issuer

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Config is the services' configuration. The access-token lifetime is not
// here: it belongs to the key policy (keys.Policy.AccessTokenTTL), whose
// retention rule depends on it, and the services read it from the keyring.
type Config struct {
	// IssuerURL is the iss claim and the base of discovery URLs.
	IssuerURL string
	// Audience is the aud claim of every access token.
	Audience []string
	// BcryptCost is the cost of new password hashes.
	BcryptCost int
	// RefreshTokenTTL is a session's idle lifetime, extended by each
	// refresh up to SessionMaxAge; zero means 168h.
	RefreshTokenTTL time.Duration
	// SessionMaxAge is a session's absolute lifetime; zero means 720h.
	SessionMaxAge time.Duration
	// RefreshKeyRotationPeriod is how long a refresh MAC key MACs new
	// refresh tokens before the next one does; zero means
	// DefaultRefreshKeyRotationPeriod (see refreshkeys.go).
	RefreshKeyRotationPeriod time.Duration
	// RefreshReuseGrace is how long after a rotation the previous refresh
	// token still returns the same successor (racing tabs, retried
	// requests). After it, the previous token still does so while its
	// successor has never been presented, for up to a day (a retry whose
	// first reply was lost), unless that token was itself handed out to
	// such a retry. Zero disables both: then any repeat counts as theft and
	// revokes the session, which signs out clients that refresh twice at
	// once.
	RefreshReuseGrace time.Duration
	// BcryptConcurrency caps concurrent bcrypt work (sign-in, sign-up);
	// zero means 2 × GOMAXPROCS.
	BcryptConcurrency int
	// BcryptQueueWait is how long a request waits for a bcrypt slot before
	// it gets 503; zero means 2s.
	BcryptQueueWait time.Duration
	// Throttle sets the brute-force delays; zero fields take defaults.
	Throttle ThrottlePolicy
	// SignupLimit caps sign-ups per client address; default 20 a minute.
	SignupLimit RateLimit
	// RefreshFailureLimit caps rejected refresh and revocation tokens per
	// client address, one budget for both (guessing costs database
	// reads); default 30 a minute.
	RefreshFailureLimit RateLimit
	// IPv6Prefix is the length of the network that per-address limits
	// (sign-in throttle, sign-up and refresh-failure limits) count an IPv6
	// client by: one host usually holds a whole /64, so keying on the
	// exact address would give it 2^64 budgets. Zero means 64; 128 counts
	// each address. IPv4 clients are counted by address.
	IPv6Prefix int
	// RevocationFeedLimit caps revocation feed requests per client
	// address; default 600 a minute (a verifier long-polls about twice a
	// minute when idle, and once per burst of revocations otherwise).
	RevocationFeedLimit RateLimit
	// IntrospectionToken is the bearer credential of POST /oauth/introspect
	// (RFC 7662 §2.1); empty turns introspection off.
	IntrospectionToken string
	// CodeLimit caps the authorization codes issued per user (each is a
	// database row kept a day, and an audit event); default 60 a minute,
	// far above what single sign-on across a user's clients asks.
	CodeLimit RateLimit
	// BrowserSessionTTL is how long a sign-in at the issuer's pages
	// serves later authorization requests (single sign-on); zero means
	// DefaultBrowserSessionTTL.
	BrowserSessionTTL time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Metrics is the registry the services count in; nil makes one.
	Metrics *Metrics
	// Lifecycle configures sign-up modes, confirmation, password reset
	// and change, email change, deletion and their mail.
	Lifecycle LifecycleConfig
}

// Defaults of Config.
const (
	DefaultRefreshTokenTTL = 168 * time.Hour
	DefaultSessionMaxAge   = 720 * time.Hour
	DefaultBcryptQueueWait = 2 * time.Second
	DefaultIPv6Prefix      = 64
)

// withDefaults validates c and fills in its zero values.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.IssuerURL == "" || len(c.Audience) == 0:
		return c, errors.New("issuer: issuer URL and audience are required")
	case c.BcryptCost < bcrypt.MinCost || c.BcryptCost > bcrypt.MaxCost:
		return c, fmt.Errorf("issuer: bcrypt cost must be %d to %d", bcrypt.MinCost, bcrypt.MaxCost)
	}
	if c.RefreshTokenTTL == 0 {
		c.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	if c.SessionMaxAge == 0 {
		c.SessionMaxAge = DefaultSessionMaxAge
	}
	switch {
	case c.RefreshTokenTTL < 0 || c.SessionMaxAge < 0 || c.RefreshReuseGrace < 0:
		return c, errors.New("issuer: session lifetimes and the reuse grace must not be negative")
	case c.RefreshTokenTTL > c.SessionMaxAge:
		return c, errors.New("issuer: the refresh-token lifetime is longer than the session's")
	}
	if c.BrowserSessionTTL <= 0 {
		c.BrowserSessionTTL = DefaultBrowserSessionTTL
	}
	if c.BcryptConcurrency <= 0 {
		c.BcryptConcurrency = 2 * runtime.GOMAXPROCS(0)
	}
	if c.BcryptQueueWait <= 0 {
		c.BcryptQueueWait = DefaultBcryptQueueWait
	}
	c.Throttle = c.Throttle.WithDefaults()
	if c.IPv6Prefix == 0 {
		c.IPv6Prefix = DefaultIPv6Prefix
	}
	if c.IPv6Prefix < 1 || c.IPv6Prefix > 128 {
		return c, errors.New("issuer: the IPv6 prefix length must be 1 to 128")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = slog.New(requestIDHandler{c.Logger.Handler()})
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
	var err error
	if c.Lifecycle, err = c.Lifecycle.withDefaults(c.IssuerURL); err != nil {
		return c, err
	}
	return c, nil
}

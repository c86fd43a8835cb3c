// Package issuer is Signet's HTTP server (Gin): accounts, sign-in,
// access tokens, discovery and the JWK set.
package issuer

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"github.com/signet-auth/signet/keys"
)

// Config is the issuer's HTTP-facing configuration.
type Config struct {
	// IssuerURL is the iss claim and the base of discovery URLs.
	IssuerURL string
	// Audience is the aud claim of every access token.
	Audience []string
	// AccessTokenTTL is the lifetime of access tokens.
	AccessTokenTTL time.Duration
	// BcryptCost is the cost of new password hashes.
	BcryptCost int
	// CORSOrigins are the exact browser origins allowed to call /v1 and
	// /oauth with credentials; empty means none.
	CORSOrigins []string
	// RefreshTokenTTL is a session's idle lifetime, extended by each
	// refresh up to SessionMaxAge; zero means 168h.
	RefreshTokenTTL time.Duration
	// SessionMaxAge is a session's absolute lifetime; zero means 720h.
	SessionMaxAge time.Duration
	// RefreshReuseGrace is how long after a rotation the previous refresh
	// token still returns the same successor (racing tabs, retried
	// requests). Zero disables it: then any repeat counts as theft and
	// revokes the session, which signs out clients that refresh twice at
	// once.
	RefreshReuseGrace time.Duration
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// for the client address. None (the default) means the address of the
	// connection is used and forwarding headers are ignored.
	TrustedProxies []netip.Prefix
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
	// RefreshFailureLimit caps rejected refresh tokens per client address
	// (guessing costs database reads); default 30 a minute.
	RefreshFailureLimit RateLimit
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Metrics is the registry served at /metrics; nil makes one.
	Metrics *Metrics
}

// Store is what the issuer needs from its database.
type Store interface {
	UserStore
	SessionStore
	ThrottleStore
	AuditStore
	Pinger
}

// Server serves the issuer's HTTP API.
type Server struct {
	cfg       Config
	store     Store
	keys      *keys.Keyring
	sealer    *keys.Sealer
	access    accessTokenVerifier
	log       *slog.Logger
	now       func() time.Time
	dummyHash []byte
	bcrypt    chan struct{} // semaphore: one token per bcrypt in progress
	engine    *gin.Engine
	metrics   *Metrics
	cors      *corsPolicy

	signups         *limiter // per client address
	refreshFailures *limiter // per client address
}

// NewServer builds the server. keyring must be loaded (keys.Maintainer);
// sealer encrypts the sessions' refresh secrets.
func NewServer(cfg Config, store Store, keyring *keys.Keyring, sealer *keys.Sealer) (*Server, error) {
	if cfg.IssuerURL == "" || len(cfg.Audience) == 0 {
		return nil, errors.New("issuer: issuer URL and audience are required")
	}
	if cfg.AccessTokenTTL <= 0 {
		return nil, errors.New("issuer: access-token lifetime must be positive")
	}
	if cfg.BcryptCost < bcrypt.MinCost || cfg.BcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("issuer: bcrypt cost must be %d to %d", bcrypt.MinCost, bcrypt.MaxCost)
	}
	if sealer == nil {
		return nil, errors.New("issuer: a sealer is required")
	}
	if cfg.RefreshTokenTTL == 0 {
		cfg.RefreshTokenTTL = 168 * time.Hour
	}
	if cfg.SessionMaxAge == 0 {
		cfg.SessionMaxAge = 720 * time.Hour
	}
	switch {
	case cfg.RefreshTokenTTL < 0 || cfg.SessionMaxAge < 0 || cfg.RefreshReuseGrace < 0:
		return nil, errors.New("issuer: session lifetimes and the reuse grace must not be negative")
	case cfg.RefreshTokenTTL > cfg.SessionMaxAge:
		return nil, errors.New("issuer: the refresh-token lifetime is longer than the session's")
	}
	if cfg.BcryptConcurrency <= 0 {
		cfg.BcryptConcurrency = 2 * runtime.GOMAXPROCS(0)
	}
	if cfg.BcryptQueueWait <= 0 {
		cfg.BcryptQueueWait = 2 * time.Second
	}
	cfg.Throttle = cfg.Throttle.withDefaults()
	s := &Server{cfg: cfg, store: store, keys: keyring, sealer: sealer, log: cfg.Logger, now: cfg.Now, metrics: cfg.Metrics, cors: newCORSPolicy(cfg.CORSOrigins)}
	s.bcrypt = make(chan struct{}, cfg.BcryptConcurrency)
	s.signups = newLimiter(cfg.SignupLimit, RateLimit{Burst: 20, Per: time.Minute})
	s.refreshFailures = newLimiter(cfg.RefreshFailureLimit, RateLimit{Burst: 30, Per: time.Minute})
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	if err := s.metrics.WatchKeys(keyring, s.now); err != nil {
		return nil, fmt.Errorf("issuer: metrics: %w", err)
	}
	// Sign-in compares against this hash when the email is unknown, so that
	// an unknown email costs the same bcrypt work as a wrong password.
	var err error
	s.dummyHash, err = bcrypt.GenerateFromPassword([]byte(randomID()), cfg.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	s.access = newKeyringVerifier(keyring, cfg.IssuerURL, cfg.Audience, s.now, cfg.AccessTokenTTL)
	gin.SetMode(gin.ReleaseMode)
	s.engine = gin.New()
	s.engine.HandleMethodNotAllowed = true
	// Gin trusts every proxy unless told otherwise; believe X-Forwarded-For
	// only from the configured networks.
	proxies := make([]string, len(cfg.TrustedProxies))
	for i, p := range cfg.TrustedProxies {
		proxies[i] = p.String()
	}
	if err := s.engine.SetTrustedProxies(proxies); err != nil {
		return nil, fmt.Errorf("issuer: trusted proxies: %w", err)
	}
	s.routes()
	return s, nil
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.engine }

func init() {
	gin.DefaultWriter = io.Discard
	gin.DefaultErrorWriter = io.Discard
}

// randomID returns 128 random bits, base64url encoded.
func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("issuer: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("issuer: crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

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
	AuditStore
	Pinger
}

// Server serves the issuer's HTTP API.
type Server struct {
	cfg       Config
	store     Store
	keys      *keys.Keyring
	log       *slog.Logger
	now       func() time.Time
	dummyHash []byte
	engine    *gin.Engine
	metrics   *Metrics
}

// NewServer builds the server. keyring must be loaded (keys.Maintainer).
func NewServer(cfg Config, store Store, keyring *keys.Keyring) (*Server, error) {
	if cfg.IssuerURL == "" || len(cfg.Audience) == 0 {
		return nil, errors.New("issuer: issuer URL and audience are required")
	}
	if cfg.AccessTokenTTL <= 0 {
		return nil, errors.New("issuer: access-token lifetime must be positive")
	}
	if cfg.BcryptCost < bcrypt.MinCost || cfg.BcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("issuer: bcrypt cost must be %d to %d", bcrypt.MinCost, bcrypt.MaxCost)
	}
	s := &Server{cfg: cfg, store: store, keys: keyring, log: cfg.Logger, now: cfg.Now, metrics: cfg.Metrics}
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
	gin.SetMode(gin.ReleaseMode)
	s.engine = gin.New()
	s.engine.HandleMethodNotAllowed = true
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

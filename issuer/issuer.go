// Package issuer holds Signet's services: accounts, sessions and refresh
// tokens, the sign-in throttle, access-token issuance and audit events.
// They take plain Go values and return typed errors (*Error); transports
// (package httpapi for HTTP, the signet CLI) translate. Stores implement
// the interfaces in domain.go and depend on this package, never the other
// way round.
package issuer

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/signet-auth/signet/keys"
)

// Issuer is the set of services, built together because sign-in spans
// them. Each field may also be used on its own.
type Issuer struct {
	Accounts *Accounts
	Sessions *Sessions
	Throttle *Throttle
	Tokens   *Tokens
	Audit    *Auditor
	Metrics  *Metrics
	// Lifecycle is confirmation, reset, password and email change,
	// deletion; Outbox delivers their mail.
	Lifecycle *Lifecycle
	Outbox    *Outbox
	// Revocations is the revocation feed for verifiers; nil when the
	// store keeps no revocation events.
	Revocations *RevocationFeed
	// Registry is the resources and clients tokens are issued for.
	Registry *Registry

	cfg    Config
	store  Store
	keys   *keys.Keyring
	sealer *keys.Sealer
	// clientKeyCache holds the key sets of clients' jwks_uri.
	clientKeyCache clientKeyCache

	// codes limits the authorization codes issued per user.
	codes *limiter

	pageKeyMu sync.Mutex
	pageKey   []byte
}

// New builds the services. keyring must be loaded (keys.Maintainer);
// sealer encrypts the sessions' refresh secrets.
func New(cfg Config, store Store, keyring *keys.Keyring, sealer *keys.Sealer) (*Issuer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if keyring == nil || sealer == nil {
		return nil, errors.New("issuer: a keyring and a sealer are required")
	}
	if err := cfg.Metrics.WatchKeys(keyring, cfg.Now); err != nil {
		return nil, fmt.Errorf("issuer: metrics: %w", err)
	}
	audit := NewAuditor(store, cfg.Logger, cfg.Now)
	throttle := newThrottle(cfg, store, audit, sealer)
	accounts, err := newAccounts(cfg, store, audit, throttle, sealer)
	if err != nil {
		return nil, err
	}
	tokens := newTokens(cfg, keyring)
	refreshKeys, err := NewRefreshKeys(store, sealer, RefreshKeysConfig{
		RotationPeriod: cfg.RefreshKeyRotationPeriod, SessionMaxAge: cfg.SessionMaxAge, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	sessions := newSessions(cfg, store, sealer, refreshKeys, tokens, audit, throttle)
	lifecycle := accounts.life
	iss := &Issuer{
		Accounts: accounts, Sessions: sessions, Throttle: throttle, Tokens: tokens, Audit: audit,
		Metrics: cfg.Metrics, cfg: cfg, store: store, keys: keyring, sealer: sealer,
		Lifecycle: lifecycle, Outbox: newOutbox(cfg, store, sealer, lifecycle),
		Registry: newRegistry(cfg, store, audit),
		codes:    newLimiter(cfg.CodeLimit, RateLimit{Burst: 60, Per: time.Minute}),
	}
	if fs, ok := store.(RevocationFeedStore); ok {
		iss.Revocations = newRevocationFeed(cfg, fs, throttle)
	}
	return iss, nil
}

// NewAccounts builds the account service alone, for administration (the
// CLI) where no keys are loaded.
func NewAccounts(cfg Config, store Store) (*Accounts, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	audit := NewAuditor(store, cfg.Logger, cfg.Now)
	return newAccounts(cfg, store, audit, newThrottle(cfg, store, audit, nil), nil)
}

// Config returns the configuration in force, defaults filled in.
func (i *Issuer) Config() Config { return i.cfg }

// Logger is the services' logger; it adds the request id of a context
// made with WithRequestID.
func (i *Issuer) Logger() *slog.Logger { return i.cfg.Logger }

// Now is the services' clock.
func (i *Issuer) Now() time.Time { return i.cfg.Now() }

// Keyring is the signing keys the tokens are signed with.
func (i *Issuer) Keyring() *keys.Keyring { return i.keys }

// Store is the database the services use.
func (i *Issuer) Store() Store { return i.store }

// SignIn checks a password and starts a session: the throttle (a refusal
// before any bcrypt work), the password in a bcrypt slot, then a session
// and its tokens. An unknown email and a wrong password get the same
// error after the same work.
func (i *Issuer) SignIn(ctx context.Context, caller Caller, email, password string) (TokenSet, error) {
	u, err := i.Accounts.Authenticate(ctx, caller, email, password)
	if err == nil {
		var ts TokenSet
		ts, err = i.Sessions.Start(ctx, caller, u)
		i.Metrics.signin(err)
		return ts, err
	}
	i.Metrics.signin(err)
	return TokenSet{}, err
}

// pageKeyName names the key of the hosted pages' CSRF tokens among the
// sealed secrets.
const pageKeyName = "page-csrf-key"

// PageKey returns the server-wide key the hosted pages MAC their CSRF
// tokens with: made by the first replica that needs it, stored sealed,
// the same for every replica, so a form served by one is accepted by
// another.
func (i *Issuer) PageKey(ctx context.Context) ([]byte, error) {
	i.pageKeyMu.Lock()
	defer i.pageKeyMu.Unlock()
	if i.pageKey != nil {
		return i.pageKey, nil
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("issuer: crypto/rand: %w", err)
	}
	sealed, err := i.store.SealedSecret(ctx, pageKeyName, i.sealer.Seal(pageKeyName, fresh), i.cfg.Now())
	if err != nil {
		return nil, err
	}
	key, err := i.sealer.Open(pageKeyName, sealed)
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("issuer: open the page key (sealed under another key-encryption key?): %v", err)
	}
	i.pageKey = key
	return key, nil
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
func newUUID() string { return formatUUID(newUUIDBytes()) }

func newUUIDBytes() [16]byte {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("issuer: crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}

func formatUUID(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

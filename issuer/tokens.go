package issuer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signet-auth/signet/keys"
	"github.com/signet-auth/signet/verifier"
)

// TokenSet is what sign-in and refresh hand out.
type TokenSet struct {
	AccessToken string
	// ExpiresIn is the access token's lifetime.
	ExpiresIn    time.Duration
	RefreshToken string
	// RefreshExpiresIn is the time left until the session's idle expiry.
	RefreshExpiresIn time.Duration
	User             User
	SessionID        string
	// Scope is the access token's scope.
	Scope string
	// IDToken is the OpenID Connect ID token, from the authorization
	// code grant with the openid scope.
	IDToken string
}

// Tokens signs access tokens with the keyring's active key, and checks
// the issuer's own tokens with package verifier: the same code and the
// same strict rules as every resource server, against the key set this
// replica publishes.
type Tokens struct {
	ring     *keys.Keyring
	issuer   string
	audience []string
	ttl      time.Duration
	now      func() time.Time
	metrics  *Metrics
	maxLife  time.Duration
	current  atomic.Pointer[verifier.Verifier] // nil: no usable key
	// others holds a verifier per registered resource that VerifyFor was
	// asked about, for the current key set (load replaces the map).
	othersMu sync.Mutex
	others   map[string]*verifier.Verifier
	set      []byte // the published set the verifiers were built from
}

// maxOtherVerifiers bounds the per-resource verifiers kept; past it a
// verifier is built for the call and dropped.
const maxOtherVerifiers = 256

func newTokens(cfg Config, ring *keys.Keyring) *Tokens {
	ttl := ring.Policy().AccessTokenTTL
	t := &Tokens{
		ring: ring, issuer: cfg.IssuerURL, audience: cfg.Audience, ttl: ttl, now: cfg.Now, metrics: cfg.Metrics,
		// The issuer's own tokens may live longer than the verifier's
		// default ceiling if so configured.
		maxLife: max(verifier.DefaultMaxTokenLifetime, ttl+time.Minute),
	}
	// Rebuilt on every change of the published set, so a key removed from
	// the JWKS stops verifying here at once.
	ring.OnSetChange(t.load)
	return t
}

// AccessTokenTTL is the lifetime of the access tokens signed.
func (t *Tokens) AccessTokenTTL() time.Duration { return t.ttl }

// Sign signs an access token for u in session sid, for grant g.
func (t *Tokens) Sign(u User, sid string, g Grant) (string, error) {
	now := t.now()
	claims := verifier.Claims{
		Issuer:        t.issuer,
		Subject:       u.ID,
		Audience:      g.Audience,
		IssuedAt:      now,
		NotBefore:     now,
		Expiry:        now.Add(t.ttl),
		ID:            randomID(),
		SessionID:     sid,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Scope:         g.Scope,
		ClientID:      g.ClientID,
		Roles:         g.Roles,
		Actor:         g.Actor,
	}
	if !g.NotAfter.IsZero() && claims.Expiry.After(g.NotAfter) {
		claims.Expiry = g.NotAfter
	}
	tok, _, err := t.ring.Sign(&claims)
	return tok, err
}

// issue signs an access token for u in sess, for grant g, and puts it
// beside the session's refresh token.
func (t *Tokens) issue(u User, sess Session, refreshToken string, g Grant) (TokenSet, error) {
	tok, err := t.Sign(u, sess.ID, g)
	if err != nil {
		return TokenSet{}, err
	}
	t.metrics.accessIssued.Inc()
	t.metrics.refreshIssued.Inc()
	return TokenSet{
		AccessToken: tok, ExpiresIn: t.ttl,
		RefreshToken: refreshToken, RefreshExpiresIn: t.refreshExpiresIn(sess),
		User: u, SessionID: sess.ID, Scope: g.Scope,
	}, nil
}

// refreshExpiresIn is the time, in whole seconds, until the session's
// idle expiry (which never passes its absolute expiry). Rounding absorbs
// the millisecond truncation of stored times.
func (t *Tokens) refreshExpiresIn(sess Session) time.Duration {
	d := sess.IdleExpiresAt.Sub(t.now()).Round(time.Second)
	return max(min(d, math.MaxInt32*time.Second), 0)
}

// load replaces the key set with the keys of a published JWK set.
func (t *Tokens) load(set keys.JWKS) {
	vf, err := verifier.New(context.Background(), verifier.Config{
		Issuer:           t.issuer,
		Audience:         t.audience[0], // every token carries every configured audience
		StaticJWKS:       set.Body,
		Now:              t.now,
		MaxTokenLifetime: t.maxLife,
	})
	if err != nil {
		vf = nil // no usable key: every token is rejected until the next set
	}
	t.current.Store(vf)
	t.othersMu.Lock()
	t.others, t.set = nil, set.Body
	t.othersMu.Unlock()
}

// errTokenRejected is wrapped by every refusal of Verify.
var errTokenRejected = errors.New("access token rejected")

// Verify checks an access token this issuer signed and returns its
// subject and session. A refused token is KindInvalidToken; the error's
// text says why, for the log only.
func (t *Tokens) Verify(ctx context.Context, raw string) (*verifier.Claims, error) {
	vf := t.current.Load()
	if vf == nil {
		return nil, invalidToken(fmt.Errorf("%w: no published key", errTokenRejected))
	}
	return verifySession(ctx, vf, raw)
}

// VerifyFor is Verify for a token meant for the registered resource aud
// rather than the default one.
func (t *Tokens) VerifyFor(ctx context.Context, raw, aud string) (*verifier.Claims, error) {
	vf, err := t.verifierFor(ctx, aud)
	if err != nil {
		return nil, invalidToken(fmt.Errorf("%w: %v", errTokenRejected, err))
	}
	return verifySession(ctx, vf, raw)
}

// verifySession verifies raw with vf and requires a session (sid).
func verifySession(ctx context.Context, vf *verifier.Verifier, raw string) (*verifier.Claims, error) {
	c, err := vf.Verify(ctx, raw)
	if err != nil {
		return nil, invalidToken(fmt.Errorf("%w: %v", errTokenRejected, err))
	}
	if c.SessionID == "" {
		return nil, invalidToken(fmt.Errorf("%w: no sid", errTokenRejected))
	}
	return c, nil
}

// verifierFor returns the verifier of audience aud for the current key
// set, built once per set (parsing the set, RSA keys included, costs more
// than a verification).
func (t *Tokens) verifierFor(ctx context.Context, aud string) (*verifier.Verifier, error) {
	t.othersMu.Lock()
	vf, set := t.others[aud], t.set
	t.othersMu.Unlock()
	if vf != nil {
		return vf, nil
	}
	if set == nil {
		set = t.ring.JWKS().Body
	}
	vf, err := verifier.New(ctx, verifier.Config{
		Issuer: t.issuer, Audience: aud, StaticJWKS: set, Now: t.now, MaxTokenLifetime: t.maxLife,
	})
	if err != nil {
		return nil, err
	}
	t.othersMu.Lock()
	// Kept only if the set has not changed meanwhile.
	if bytes.Equal(t.set, set) && len(t.others) < maxOtherVerifiers {
		if t.others == nil {
			t.others = map[string]*verifier.Verifier{}
		}
		t.others[aud] = vf
	}
	t.othersMu.Unlock()
	return vf, nil
}

func invalidToken(cause error) *Error {
	return &Error{Kind: KindInvalidToken, Description: "the access token is invalid or expired", Err: cause}
}

// SignClient signs an access token for a client acting for itself
// (client credentials): sub is its client_id, and there is no session.
func (t *Tokens) SignClient(g Grant) (string, error) {
	now := t.now()
	claims := verifier.Claims{
		Issuer: t.issuer, Subject: g.ClientID, Audience: g.Audience,
		IssuedAt: now, NotBefore: now, Expiry: now.Add(t.ttl), ID: randomID(),
		Scope: g.Scope, ClientID: g.ClientID,
	}
	tok, _, err := t.ring.Sign(&claims)
	if err == nil {
		t.metrics.TokensIssued.WithLabelValues("access").Inc()
	}
	return tok, err
}

package issuer

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// JWTBearerAssertion is the client_assertion_type of private_key_jwt
// (RFC 7523 §2.2).
const JWTBearerAssertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Limits of a client assertion: it must expire within maxAssertionLife
// of now (and of its iat), so its jti need be kept only that long.
const (
	maxAssertionLife  = 5 * time.Minute
	assertionLeeway   = 30 * time.Second
	maxAssertionBytes = 8 << 10
)

// assertionAlgs are the signature algorithms accepted on client
// assertions: asymmetric only.
var assertionAlgs = []jwa.SignatureAlgorithm{jwa.EdDSA, jwa.RS256, jwa.PS256, jwa.ES256}

// ClientAssertionAlgs lists the algorithms accepted on client assertions.
func ClientAssertionAlgs() []string {
	out := make([]string, len(assertionAlgs))
	for i, a := range assertionAlgs {
		out[i] = a.String()
	}
	return out
}

// AssertionStore remembers the client assertions already used.
type AssertionStore interface {
	// SpendAssertion records (clientID, jti) until expiresAt; false when
	// it is already recorded. Records past their expiry may be dropped.
	SpendAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) (bool, error)
}

// ClientCredentials is how a client authenticated at the token endpoint:
// a private_key_jwt assertion, or HTTP Basic client_secret_basic.
type ClientCredentials struct {
	ClientID      string // the client_id parameter, if sent
	AssertionType string
	Assertion     string
	// Basic is set when an Authorization: Basic header was sent, with its
	// (already form-decoded) id and secret.
	Basic       bool
	BasicID     string
	BasicSecret string
	TokenURL    string // the token endpoint, an accepted assertion aud
	HTTPClient  *http.Client
}

// Present reports whether any client authentication was sent.
func (cc ClientCredentials) Present() bool { return cc.Assertion != "" || cc.Basic }

// AuthenticateClient checks a client's credentials and returns the
// client. Every failure is KindInvalidClient with a description that
// gives nothing away; the cause goes to the log.
func (i *Issuer) AuthenticateClient(ctx context.Context, caller Caller, cc ClientCredentials) (Client, error) {
	c, method, err := i.authenticateClient(ctx, cc)
	outcome := "success"
	if err != nil {
		outcome = "failure"
		if KindOf(err) == KindInvalidClient {
			i.cfg.Logger.InfoContext(ctx, "client authentication failed", "client_id", c.ID, "method", method, "reason", errors.Unwrap(err))
		}
	}
	i.Metrics.ClientAuth.WithLabelValues(method, outcome).Inc()
	return c, err
}

func clientFailed(cause error) error {
	return &Error{Kind: KindInvalidClient, Description: "client authentication failed", Err: cause}
}

func (i *Issuer) authenticateClient(ctx context.Context, cc ClientCredentials) (Client, string, error) {
	switch {
	case cc.Basic && cc.Assertion != "":
		return Client{}, "multiple", clientFailed(errors.New("more than one authentication method"))
	case cc.Basic:
		c, err := i.authenticateSecret(ctx, cc)
		return c, AuthClientSecretBasic, err
	case cc.Assertion != "":
		c, err := i.authenticateAssertion(ctx, cc)
		return c, AuthPrivateKeyJWT, err
	}
	return Client{}, AuthNone, clientFailed(errors.New("no client authentication"))
}

func (i *Issuer) authenticateSecret(ctx context.Context, cc ClientCredentials) (Client, error) {
	if cc.ClientID != "" && cc.ClientID != cc.BasicID {
		return Client{}, clientFailed(errors.New("client_id differs from the Basic user"))
	}
	c, err := i.Registry.store.Client(ctx, cc.BasicID)
	if errors.Is(err, ErrNotFound) {
		return Client{}, clientFailed(errors.New("unknown client"))
	}
	if err != nil {
		return Client{}, err
	}
	sum := sha256.Sum256([]byte(cc.BasicSecret))
	if c.AuthMethod != AuthClientSecretBasic || len(c.SecretHash) != len(sum) || subtle.ConstantTimeCompare(sum[:], c.SecretHash) != 1 {
		return c, clientFailed(errors.New("wrong secret or method"))
	}
	return c, nil
}

func (i *Issuer) authenticateAssertion(ctx context.Context, cc ClientCredentials) (Client, error) {
	if cc.AssertionType != JWTBearerAssertion {
		return Client{}, clientFailed(errors.New("unsupported client_assertion_type"))
	}
	if len(cc.Assertion) > maxAssertionBytes {
		return Client{}, clientFailed(errors.New("assertion too large"))
	}
	// The unverified claims name the client whose keys verify them.
	unverified, err := jwt.ParseInsecure([]byte(cc.Assertion))
	if err != nil {
		return Client{}, clientFailed(fmt.Errorf("assertion: %v", err))
	}
	id := unverified.Subject()
	if id == "" || unverified.Issuer() != id || (cc.ClientID != "" && cc.ClientID != id) {
		return Client{}, clientFailed(errors.New("assertion iss and sub must both be the client_id"))
	}
	c, err := i.Registry.store.Client(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Client{}, clientFailed(errors.New("unknown client"))
	}
	if err != nil {
		return Client{}, err
	}
	if c.AuthMethod != AuthPrivateKeyJWT {
		return c, clientFailed(errors.New("the client does not use private_key_jwt"))
	}
	msg, err := jws.Parse([]byte(cc.Assertion))
	if err != nil || len(msg.Signatures()) != 1 {
		return c, clientFailed(errors.New("assertion: not a single-signature compact JWS"))
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	if !slices.Contains(assertionAlgs, hdr.Algorithm()) {
		return c, clientFailed(fmt.Errorf("assertion alg %s not allowed", hdr.Algorithm()))
	}
	set, err := i.clientKeys(ctx, c, cc, hdr.KeyID())
	if err != nil {
		return c, clientFailed(err)
	}
	now := i.cfg.Now()
	tok, err := jwt.Parse([]byte(cc.Assertion),
		jwt.WithKeySet(set, jws.WithInferAlgorithmFromKey(true), jws.WithRequireKid(false)),
		jwt.WithValidate(true), jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })),
		jwt.WithAcceptableSkew(assertionLeeway), jwt.WithRequiredClaim("exp"), jwt.WithRequiredClaim("jti"))
	if err != nil {
		return c, clientFailed(fmt.Errorf("assertion: %v", err))
	}
	if !slices.Contains(tok.Audience(), i.cfg.IssuerURL) && !slices.Contains(tok.Audience(), cc.TokenURL) {
		return c, clientFailed(errors.New("assertion aud is neither the issuer nor the token endpoint"))
	}
	exp := tok.Expiration()
	if exp.After(now.Add(maxAssertionLife)) || (!tok.IssuedAt().IsZero() && exp.Sub(tok.IssuedAt()) > maxAssertionLife) {
		return c, clientFailed(fmt.Errorf("assertion lives longer than %s", maxAssertionLife))
	}
	fresh, err := i.store.SpendAssertion(ctx, c.ID, tok.JwtID(), exp.Add(assertionLeeway), now)
	if err != nil {
		return c, err
	}
	if !fresh {
		return c, clientFailed(errors.New("assertion jti already used"))
	}
	return c, nil
}

// clientKeys is the client's public key set: stored, or from its
// jwks_uri through the issuer's cache (kid is the assertion's, which may
// send a refetch when the cached set lacks it).
func (i *Issuer) clientKeys(ctx context.Context, c Client, cc ClientCredentials, kid string) (jwk.Set, error) {
	if len(c.JWKS) > 0 {
		set, err := jwk.Parse(c.JWKS)
		if err != nil {
			k, kerr := jwk.ParseKey(c.JWKS)
			if kerr != nil {
				return nil, fmt.Errorf("stored jwks: %v", err)
			}
			set = jwk.NewSet()
			_ = set.AddKey(k)
		}
		return set, nil
	}
	hc := cc.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: clientKeysTimeout}
	}
	src := clientKeySource{now: i.cfg.Now, hc: hc, warn: func(msg string, args ...any) { i.cfg.Logger.WarnContext(ctx, msg, args...) },
		fetched: func(ok bool) {
			outcome := "ok"
			if !ok {
				outcome = "error"
			}
			i.Metrics.ClientKeyFetches.WithLabelValues(outcome).Inc()
		}}
	return i.clientKeyCache.keys(ctx, src, c.ID, c.JWKSURI, kid)
}

// ClientCredentialsGrant is RFC 6749 §4.4: an authenticated confidential
// client gets an access token for itself, for the resource and scopes it
// asks that the registry allows it. No refresh token.
func (i *Issuer) ClientCredentialsGrant(ctx context.Context, caller Caller, cc ClientCredentials, req TokenRequest) (TokenSet, error) {
	c, err := i.AuthenticateClient(ctx, caller, cc)
	if err != nil {
		return TokenSet{}, err
	}
	req.ClientID, req.ClientAuthenticated = c.ID, true
	t, err := i.Registry.Target(ctx, GrantClientCredentials, req)
	if err != nil {
		return TokenSet{}, err
	}
	g := t.ForClient()
	tok, err := i.Tokens.SignClient(g)
	if err != nil {
		return TokenSet{}, err
	}
	i.Audit.Record(ctx, caller, AuditEvent{Type: "client_credentials", Detail: map[string]string{"client_id": c.ID, "resource": t.Resource.URI}})
	return TokenSet{AccessToken: tok, ExpiresIn: i.Tokens.AccessTokenTTL(), Scope: g.Scope}, nil
}

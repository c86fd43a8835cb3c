package issuer

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/signet-auth/signet/verifier"
)

// Token types of RFC 8693 §3.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// ExchangeRequest is an RFC 8693 token exchange: the user's access token
// (SubjectToken) presented by an authenticated client, for the resource
// and scope asked.
type ExchangeRequest struct {
	SubjectToken     string
	SubjectTokenType string
	TokenRequest
}

// Exchange is RFC 8693 token exchange for delegation: a resource server,
// authenticated as a confidential client, presents a user's access token
// meant for it (its aud is one of the client's resources) and gets a token
// for a resource the registry lets it act toward. The new token is the
// user's (same sub, sid, email), names the client in act (nesting the
// subject token's act), carries no scope the client or the user's roles
// do not allow (and, at the same resource, none the subject token did not
// have), and expires no later than the subject token. The user's session
// must still be live.
func (i *Issuer) Exchange(ctx context.Context, caller Caller, cc ClientCredentials, req ExchangeRequest) (TokenSet, error) {
	c, err := i.AuthenticateClient(ctx, caller, cc)
	if err != nil {
		return TokenSet{}, err
	}
	switch {
	case req.SubjectToken == "":
		return TokenSet{}, Errorf(KindInvalid, "subject_token is required")
	case req.SubjectTokenType != TokenTypeAccessToken && req.SubjectTokenType != TokenTypeJWT:
		return TokenSet{}, Errorf(KindInvalid, "subject_token_type must be %s", TokenTypeAccessToken)
	}
	req.ClientID, req.ClientAuthenticated = c.ID, true
	if req.Resource == "" {
		return TokenSet{}, Errorf(KindInvalidTarget, "resource is required")
	}
	// The resources a client acts toward need not be ones it may ask
	// tokens for as itself.
	acting := c
	acting.Resources = c.ActToward
	t, err := i.Registry.targetFor(ctx, acting, GrantTokenExchange, req.TokenRequest)
	if err != nil {
		return TokenSet{}, err
	}
	if !slices.Contains(c.ActToward, t.Resource.URI) {
		return TokenSet{}, Errorf(KindInvalidTarget, "the client may not act toward this resource")
	}
	subject, err := i.subjectClaims(ctx, c, req.SubjectToken)
	if err != nil {
		return TokenSet{}, err
	}
	sess, u, err := i.store.SessionWithUser(ctx, subject.SessionID)
	if errors.Is(err, ErrNotFound) || err == nil && (sess.Revoked() || sess.UserID != subject.Subject || !i.cfg.Now().Before(sess.IdleExpiresAt)) {
		return TokenSet{}, Errorf(KindBadCredentials, "the subject token's session is over")
	}
	if err != nil {
		return TokenSet{}, err
	}
	g, err := i.userGrant(ctx, t, u)
	if err != nil {
		return TokenSet{}, err
	}
	if slices.Contains(subject.Audience, t.Resource.URI) {
		var kept []string
		for _, s := range strings.Fields(g.Scope) {
			if subject.HasScope(s) {
				kept = append(kept, s)
			}
		}
		g.Scope = strings.Join(kept, " ")
	}
	g.Actor = &verifier.Actor{Subject: c.ID, Actor: subject.Actor}
	g.NotAfter = subject.Expiry
	tok, err := i.Tokens.Sign(u, sess.ID, g)
	if err != nil {
		return TokenSet{}, err
	}
	i.Metrics.TokensIssued.WithLabelValues("access").Inc()
	i.Audit.Record(ctx, caller, AuditEvent{Type: "token_exchange", UserID: u.ID, SessionID: sess.ID,
		Detail: map[string]string{"client_id": c.ID, "resource": t.Resource.URI}})
	exp := subject.Expiry.Sub(i.cfg.Now())
	return TokenSet{AccessToken: tok, ExpiresIn: min(exp, i.Tokens.AccessTokenTTL()).Truncate(time.Second), Scope: g.Scope, User: u}, nil
}

// subjectClaims verifies a subject token: signed by this issuer, a user's
// (with a session), for one of the client's resources.
func (i *Issuer) subjectClaims(ctx context.Context, c Client, raw string) (*verifier.Claims, error) {
	bad := Errorf(KindBadCredentials, "the subject token is invalid or expired")
	for _, aud := range c.Resources {
		vf, err := verifier.New(ctx, verifier.Config{
			Issuer: i.cfg.IssuerURL, Audience: aud, StaticJWKS: i.keys.JWKS().Body,
			Now: i.cfg.Now, MaxTokenLifetime: i.Tokens.maxLife,
		})
		if err != nil {
			return nil, bad
		}
		claims, err := vf.Verify(ctx, raw)
		if errors.Is(err, verifier.ErrWrongAudience) {
			continue
		}
		if err != nil || claims.SessionID == "" {
			return nil, bad
		}
		return claims, nil
	}
	return nil, Errorf(KindBadCredentials, "the subject token is not for this client's resources")
}

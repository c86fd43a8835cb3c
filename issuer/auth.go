package issuer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/keys"
	"github.com/signet-auth/signet/verifier"
)

// accessTokenVerifier checks an access token presented to the issuer's own
// endpoints (sign-out, /v1/me, revocation by access token).
type accessTokenVerifier interface {
	Verify(ctx context.Context, raw string) (*accessClaims, error)
}

// accessClaims are the verified claims the issuer uses.
type accessClaims struct {
	Subject   string
	SessionID string
}

// errTokenRejected is the one error of keyringVerifier; the wrapped text
// says why, for the log only.
var errTokenRejected = errors.New("access token rejected")

// keyringVerifier checks access tokens with package verifier, the same
// code and the same strict rules as every resource server, against the key
// set this replica publishes. The verifier is rebuilt on every change of
// the set, so a key removed from the JWKS stops verifying here at once.
type keyringVerifier struct {
	issuer   string
	audience []string
	now      func() time.Time
	maxLife  time.Duration
	current  atomic.Pointer[verifier.Verifier] // nil: no usable key
}

func newKeyringVerifier(ring *keys.Keyring, issuer string, audience []string, now func() time.Time, ttl time.Duration) *keyringVerifier {
	v := &keyringVerifier{issuer: issuer, audience: audience, now: now, maxLife: max(verifier.DefaultMaxTokenLifetime, ttl+time.Minute)}
	if ring != nil {
		ring.OnSetChange(v.load)
	}
	return v
}

// load replaces the key set with the keys of a published JWK set.
func (v *keyringVerifier) load(set keys.JWKS) {
	vf, err := verifier.New(context.Background(), verifier.Config{
		Issuer:     v.issuer,
		Audience:   v.audience[0], // every token carries every configured audience
		StaticJWKS: set.Body,
		Now:        v.now,
		// The issuer's own tokens may live longer than the verifier's
		// default ceiling if so configured.
		MaxTokenLifetime: v.maxLife,
	})
	if err != nil {
		vf = nil // no usable key: every token is rejected until the next set
	}
	v.current.Store(vf)
}

func (v *keyringVerifier) Verify(ctx context.Context, raw string) (*accessClaims, error) {
	vf := v.current.Load()
	if vf == nil {
		return nil, fmt.Errorf("%w: no published key", errTokenRejected)
	}
	c, err := vf.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errTokenRejected, err)
	}
	if c.SessionID == "" {
		return nil, fmt.Errorf("%w: no sid", errTokenRejected)
	}
	return &accessClaims{Subject: c.Subject, SessionID: c.SessionID}, nil
}

const (
	claimsKey  = "signet.claims"
	sessionKey = "signet.session"
	userKey    = "signet.user"
)

// requireAccessToken authenticates the request's bearer access token, and
// checks with one indexed lookup that its session is still live, so that
// sign-out takes effect at once on the issuer's own endpoints.
func (s *Server) requireAccessToken() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		if h == "" {
			// RFC 6750 §3.1: no error code when no credentials were sent.
			c.Header("WWW-Authenticate", "Bearer")
			fail(c, &Error{Code: "invalid_token", Description: "an access token is required (Authorization: Bearer <token>)"})
			return
		}
		scheme, raw, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			// Other schemes carry no bearer credentials (RFC 6750 §3).
			c.Header("WWW-Authenticate", "Bearer")
			fail(c, &Error{Code: "invalid_token", Description: "an access token is required (Authorization: Bearer <token>)"})
			return
		}
		if raw == "" || strings.ContainsAny(raw, " \t") || len(c.Request.Header.Values("Authorization")) > 1 {
			c.Header("WWW-Authenticate", `Bearer error="invalid_request"`)
			fail(c, apiError("invalid_request", "the Authorization header must be: Bearer <token>"))
			return
		}
		bad := apiError("invalid_token", "the access token is invalid or expired")
		claims, err := s.access.Verify(c.Request.Context(), raw)
		if err != nil {
			if !errors.Is(err, errTokenRejected) {
				fail(c, err)
				return
			}
			logger(c).InfoContext(c.Request.Context(), "access token rejected", "reason", err.Error())
			fail(c, bad)
			return
		}
		if claims.SessionID == "" {
			logger(c).InfoContext(c.Request.Context(), "access token rejected", "reason", "no sid")
			fail(c, bad)
			return
		}
		sess, u, err := s.store.SessionWithUser(c.Request.Context(), claims.SessionID)
		switch {
		case errors.Is(err, ErrNotFound):
			logger(c).InfoContext(c.Request.Context(), "access token rejected", "reason", "unknown session", "session_id", claims.SessionID)
			fail(c, bad)
			return
		case err != nil:
			fail(c, err)
			return
		}
		if reason := sessionUnusable(sess, s.now()); reason != "" || sess.UserID != claims.Subject {
			if reason == "" {
				reason = "session of another user"
			}
			logger(c).InfoContext(c.Request.Context(), "access token rejected", "reason", reason, "session_id", sess.ID)
			fail(c, bad)
			return
		}
		c.Set(claimsKey, claims)
		c.Set(sessionKey, sess)
		c.Set(userKey, u)
		c.Next()
	}
}

// sessionUnusable says why a session can no longer be used, or "".
func sessionUnusable(sess Session, now time.Time) string {
	switch {
	case sess.Revoked():
		return "session revoked"
	case !now.Before(sess.AbsoluteExpiresAt):
		return "session past its absolute lifetime"
	}
	return ""
}

package issuer

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"

	"github.com/signet-auth/signet/verifier"
)

// IntrospectionAllowed reports whether bearer is the introspection
// credential (Config.IntrospectionToken), compared in constant time; false
// when none is configured.
func (i *Issuer) IntrospectionAllowed(bearer string) bool {
	if i.cfg.IntrospectionToken == "" || bearer == "" {
		return false
	}
	want := sha256.Sum256([]byte(i.cfg.IntrospectionToken))
	got := sha256.Sum256([]byte(bearer))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

// Introspect returns the claims of an access token that is active now:
// signed by this issuer, not expired, and of a live session of the user
// it names, who is not disabled. Any other token (revoked, expired, foreign, malformed, a
// refresh token) gives nil claims and no error; an error means the store
// could not answer.
func (s *Sessions) Introspect(ctx context.Context, raw string) (*verifier.Claims, error) {
	claims, err := s.tokens.Verify(ctx, raw)
	if err != nil {
		return nil, nil
	}
	sess, u, err := s.store.SessionWithUser(ctx, claims.SessionID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	if sessionUnusable(sess, u, s.now()) != "" || sess.UserID != claims.Subject {
		return nil, nil
	}
	return claims, nil
}

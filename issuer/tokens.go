package issuer

import (
	"time"

	"github.com/signet-auth/signet/keys"
)

// tokenResponse is the body of sign-in and refresh.
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token,omitempty"` // in a cookie instead, in cookie mode
	RefreshExpiresIn int    `json:"refresh_expires_in"`
	User             User   `json:"user"`

	sessionID string
}

// signAccessToken signs an access token for u in session sid.
func (s *Server) signAccessToken(u User, sid, scope string) (string, time.Duration, error) {
	now := s.now()
	ttl := s.cfg.AccessTokenTTL
	claims := keys.AccessClaims{
		Issuer:    s.cfg.IssuerURL,
		Subject:   u.ID,
		Audience:  s.cfg.Audience,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		Expiry:    now.Add(ttl).Unix(),
		ID:        randomID(),
		SessionID: sid,
		Email:     u.Email,
		Scope:     scope,
	}
	tok, _, err := s.keys.Sign(&claims)
	return tok, ttl, err
}

// issueTokens signs an access token for u in sess and puts it beside the
// session's refresh token.
func (s *Server) issueTokens(u User, sess Session, refreshToken string) (tokenResponse, error) {
	tok, ttl, err := s.signAccessToken(u, sess.ID, "")
	if err != nil {
		return tokenResponse{}, err
	}
	s.metrics.TokensIssued.WithLabelValues("access").Inc()
	s.metrics.TokensIssued.WithLabelValues("refresh").Inc()
	return tokenResponse{
		AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second),
		RefreshToken: refreshToken, RefreshExpiresIn: s.refreshExpiresIn(sess),
		User: u, sessionID: sess.ID,
	}, nil
}

package issuer

import (
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/keys"
)

// tokenResponse is the body of sign-in and refresh.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	User        User   `json:"user"`

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

func (s *Server) issueTokens(c *gin.Context, u User, sid string) (tokenResponse, error) {
	tok, ttl, err := s.signAccessToken(u, sid, "")
	if err != nil {
		return tokenResponse{}, err
	}
	return tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second), User: u, sessionID: sid}, nil
}

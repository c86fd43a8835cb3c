package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// refreshGrant is RFC 6749 §6: a refresh token for a new access token and
// its successor.
type refreshGrant struct{}

func (refreshGrant) exchange(s *Server, c *gin.Context, form map[string]string) (issuer.TokenSet, error) {
	if form["refresh_token"] == "" {
		return issuer.TokenSet{}, apiError(issuer.KindInvalid, "refresh_token is required")
	}
	req, err := s.userTokenRequest(c, form)
	if err != nil {
		return issuer.TokenSet{}, err
	}
	return s.iss.RefreshFor(requestContext(c), caller(c), form["refresh_token"], req)
}

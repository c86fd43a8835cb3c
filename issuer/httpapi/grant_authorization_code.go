package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// authorizationCodeGrant is RFC 6749 §4.1.3 with PKCE (RFC 7636): the
// code from /oauth/authorize, its redirect_uri and code_verifier. A
// public client names itself with client_id; a confidential one
// authenticates (private_key_jwt, or client_secret_basic when so
// registered).
type authorizationCodeGrant struct{}

func (authorizationCodeGrant) exchange(s *Server, c *gin.Context, form map[string]string) (issuer.TokenSet, error) {
	cc, err := s.clientCredentials(c, form)
	if err != nil {
		return issuer.TokenSet{}, err
	}
	return s.iss.RedeemCode(requestContext(c), caller(c), cc, issuer.CodeRequest{
		Code: form["code"], RedirectURI: form["redirect_uri"], CodeVerifier: form["code_verifier"],
	})
}

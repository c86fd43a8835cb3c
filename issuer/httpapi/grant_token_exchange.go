package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// tokenExchangeGrant is RFC 8693 token exchange: an authenticated
// resource server trades a user's token meant for it for one meant for a
// resource it may act toward, with an act claim naming it.
type tokenExchangeGrant struct{}

func (tokenExchangeGrant) exchange(s *Server, c *gin.Context, form map[string]string) (issuer.TokenSet, error) {
	cc, err := s.clientCredentials(c, form)
	if err != nil {
		return issuer.TokenSet{}, err
	}
	if form["actor_token"] != "" {
		return issuer.TokenSet{}, apiError(issuer.KindInvalid, "actor_token is not supported: the authenticated client is the actor")
	}
	if t := form["requested_token_type"]; t != "" && t != issuer.TokenTypeAccessToken {
		return issuer.TokenSet{}, apiError(issuer.KindInvalid, "requested_token_type must be %s", issuer.TokenTypeAccessToken)
	}
	return s.iss.Exchange(requestContext(c), caller(c), cc, issuer.ExchangeRequest{
		SubjectToken: form["subject_token"], SubjectTokenType: form["subject_token_type"], TokenRequest: oauthTokenRequest(form),
	})
}

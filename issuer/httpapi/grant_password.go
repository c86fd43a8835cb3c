package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// passwordGrant is RFC 6749 §4.3: the resource owner's password.
type passwordGrant struct{}

func (passwordGrant) exchange(s *Server, c *gin.Context, form map[string]string) (issuer.TokenSet, error) {
	switch {
	case form["username"] == "":
		return issuer.TokenSet{}, apiError(issuer.KindInvalid, "username is required")
	case form["password"] == "":
		return issuer.TokenSet{}, apiError(issuer.KindInvalid, "password is required")
	}
	req, err := s.userTokenRequest(c, form)
	if err != nil {
		return issuer.TokenSet{}, err
	}
	ts, err := s.iss.SignInFor(requestContext(c), caller(c), form["username"], form["password"], issuer.GrantPassword, req)
	if issuer.KindOf(err) == issuer.KindBadCredentials {
		err = apiError(issuer.KindBadCredentials, "invalid username or password")
	}
	return ts, err
}

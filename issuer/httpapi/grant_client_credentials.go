package httpapi

import (
	"encoding/base64"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// clientCredentialsGrant is RFC 6749 §4.4 with private_key_jwt (RFC 7523
// §2.2) or, for clients registered with it, client_secret_basic.
type clientCredentialsGrant struct{}

func (clientCredentialsGrant) exchange(s *Server, c *gin.Context, form map[string]string) (issuer.TokenSet, error) {
	cc, err := s.clientCredentials(c, form)
	if err != nil {
		return issuer.TokenSet{}, err
	}
	return s.iss.ClientCredentialsGrant(requestContext(c), caller(c), cc, oauthTokenRequest(form))
}

// clientCredentials reads the client authentication of a token request:
// client_assertion (RFC 7523) or HTTP Basic (RFC 6749 §2.3.1, id and
// secret form-encoded).
func (s *Server) clientCredentials(c *gin.Context, form map[string]string) (issuer.ClientCredentials, error) {
	cc := issuer.ClientCredentials{
		ClientID: form["client_id"], AssertionType: form["client_assertion_type"], Assertion: form["client_assertion"],
		TokenURL: strings.TrimRight(s.iss.Config().IssuerURL, "/") + "/oauth/token",
	}
	if form["client_secret"] != "" {
		return cc, &issuer.Error{Kind: issuer.KindInvalidClient, Description: "client_secret_post is not supported"}
	}
	h := c.GetHeader("Authorization")
	if h == "" {
		return cc, nil
	}
	scheme, cred, _ := strings.Cut(h, " ")
	bad := &issuer.Error{Kind: issuer.KindInvalidClient, Description: "client authentication failed"}
	if !strings.EqualFold(scheme, "Basic") {
		return cc, bad
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return cc, bad
	}
	id, secret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return cc, bad
	}
	if cc.BasicID, err = url.QueryUnescape(id); err != nil {
		return cc, bad
	}
	if cc.BasicSecret, err = url.QueryUnescape(secret); err != nil {
		return cc, bad
	}
	cc.Basic = true
	return cc, nil
}

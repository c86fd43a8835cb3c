package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// introspection is the RFC 7662 answer for an active token.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
	Sid       string   `json:"sid,omitempty"`
}

// handleIntrospect serves POST /oauth/introspect (RFC 7662): the caller
// authenticates with the static bearer SIGNET_INTROSPECTION_TOKEN; the
// answer is {"active": false} for any token that is not a live access
// token of this issuer (revoked, expired, foreign, malformed).
func (s *Server) handleIntrospect() gin.HandlerFunc {
	return func(c *gin.Context) {
		bearer, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok || !s.iss.IntrospectionAllowed(strings.TrimSpace(bearer)) {
			c.Header("WWW-Authenticate", `Bearer realm="introspection"`)
			failOAuth(c, apiError(issuer.KindInvalidToken, "introspection needs the resource server's bearer credential"))
			return
		}
		form, err := decodeForm(c)
		if err != nil {
			failOAuth(c, err)
			return
		}
		raw := form["token"]
		if raw == "" {
			failOAuth(c, apiError(issuer.KindInvalid, "token is required"))
			return
		}
		claims, err := s.iss.Sessions.Introspect(requestContext(c), raw)
		if err != nil {
			failOAuth(c, err)
			return
		}
		if claims == nil {
			c.JSON(http.StatusOK, introspection{Active: false})
			return
		}
		out := introspection{Active: true, Scope: claims.Scope, ClientID: claims.ClientID, TokenType: "Bearer",
			Exp: claims.Expiry.Unix(), Iat: claims.IssuedAt.Unix(), Sub: claims.Subject, Aud: claims.Audience,
			Iss: claims.Issuer, Jti: claims.ID, Sid: claims.SessionID}
		if !claims.NotBefore.IsZero() {
			out.Nbf = claims.NotBefore.Unix()
		}
		c.JSON(http.StatusOK, out)
	}
}

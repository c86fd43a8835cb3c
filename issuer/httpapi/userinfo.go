package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// handleUserInfo is the OpenID Connect UserInfo endpoint (GET and POST):
// a bearer access token with the openid scope, of a live session.
// Errors are RFC 6750 §3: 401 with WWW-Authenticate for a missing or bad
// token, 403 insufficient_scope without openid.
func (s *Server) handleUserInfo() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		scheme, raw, _ := strings.Cut(h, " ")
		if h == "" || !strings.EqualFold(scheme, "Bearer") {
			c.Header("WWW-Authenticate", "Bearer")
			fail(c, apiError(issuer.KindInvalidToken, "an access token is required (Authorization: Bearer <token>)"))
			return
		}
		if raw == "" || strings.ContainsAny(raw, " \t") || len(c.Request.Header.Values("Authorization")) > 1 {
			c.Header("WWW-Authenticate", `Bearer error="invalid_request"`)
			fail(c, apiError(issuer.KindInvalid, "the Authorization header must be: Bearer <token>"))
			return
		}
		info, err := s.iss.UserInfo(requestContext(c), raw)
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(http.StatusOK, info)
	}
}

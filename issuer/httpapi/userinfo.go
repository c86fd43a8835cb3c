package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// handleUserInfo is the OpenID Connect UserInfo endpoint (GET and POST):
// a bearer access token with the openid scope, of a live session.
// Errors are RFC 6750 §3: 401 with WWW-Authenticate for a missing or bad
// token, 403 insufficient_scope without openid.
func (s *Server) handleUserInfo() gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, ok := bearerToken(c)
		if !ok {
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

package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// routes is the whole API surface.
func (s *Server) routes() {
	r := s.engine
	r.Use(requestID(s.log), recovery(), accessLog(s.iss.Metrics.ObserveRequest), securityHeaders(), s.cors.middleware())
	r.NoRoute(func(c *gin.Context) { fail(c, apiError(kindNotFound, "no such endpoint")) })
	r.NoMethod(func(c *gin.Context) { fail(c, apiError(kindMethodNotAllowed, "method not allowed on this endpoint")) })

	r.GET("/healthz", handleHealthz())
	r.GET("/readyz", s.handleReadyz())
	r.GET("/metrics", gin.WrapH(s.iss.Metrics.Handler()))
	r.GET("/.well-known/jwks.json", s.handleJWKS())
	r.GET("/.well-known/openid-configuration", s.handleDiscovery())
	r.GET("/.well-known/oauth-authorization-server", s.handleDiscovery())

	v1 := r.Group("/v1", noStore())
	v1.POST("/signup", s.handleSignup())
	v1.POST("/signin", s.handleSignin())
	v1.POST("/token/refresh", s.handleRefresh())
	v1.POST("/signout", s.signoutByCookie(), s.requireAccessToken(), s.handleSignout())
	v1.GET("/me", s.requireAccessToken(), s.handleMe())

	oauth := r.Group("/oauth", noStore())
	oauth.POST("/token", s.handleOAuthToken())
	oauth.POST("/revoke", s.handleOAuthRevoke())
}

func handleHealthz() gin.HandlerFunc {
	return func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }
}

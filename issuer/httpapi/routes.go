package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// routes is the whole API surface.
func (s *Server) routes() {
	r := s.engine
	r.Use(requestID(s.log), recovery(), accessLog(s.iss.Metrics.ObserveRequest), securityHeaders(), s.cors.middleware())
	r.NoRoute(func(c *gin.Context) { fail(c, apiError(kindNotFound, "no such endpoint")) })
	r.NoMethod(func(c *gin.Context) { fail(c, apiError(kindMethodNotAllowed, "method not allowed on this endpoint")) })

	r.GET("/", s.handleIndex())
	// Load balancers and uptime checkers probe with HEAD: the documents
	// and probes answer it as GET, without the body.
	getHead(r, "/healthz", handleHealthz())
	getHead(r, "/readyz", s.handleReadyz())
	r.GET("/metrics", gin.WrapH(s.iss.Metrics.Handler()))
	getHead(r, "/.well-known/jwks.json", s.handleJWKS())
	getHead(r, "/.well-known/openid-configuration", s.handleDiscovery())
	getHead(r, "/.well-known/oauth-authorization-server", s.handleDiscovery())

	v1 := r.Group("/v1", noStore())
	v1.POST("/signup", s.handleSignup())
	v1.POST("/signin", s.handleSignin())
	v1.POST("/token/refresh", s.handleRefresh())
	v1.POST("/signout", s.signoutByCookie(), s.requireAccessToken(), s.handleSignout())
	v1.GET("/me", s.requireAccessToken(), s.handleMe())
	v1.DELETE("/me", s.requireAccessToken(), s.handleDeleteMe())
	v1.POST("/verify", s.handleVerify())
	v1.POST("/verify/resend", s.handleResend())
	v1.POST("/password/forgot", s.handleForgot())
	v1.POST("/password/reset", s.handleReset())
	v1.POST("/password", s.requireAccessToken(), s.handleChangePassword())
	v1.POST("/email", s.requireAccessToken(), s.handleChangeEmail())
	v1.POST("/email/confirm", s.handleConfirmEmail())
	v1.POST("/email/cancel", s.handleCancelEmailChange())
	v1.GET("/revocations", s.handleRevocations())

	oauth := r.Group("/oauth", noStore())
	oauth.POST("/token", s.handleOAuthToken())
	oauth.POST("/revoke", s.handleOAuthRevoke())
	oauth.POST("/introspect", s.handleIntrospect())

	// The OpenID Provider: the authorization endpoint and the issuer's own
	// pages behind it, UserInfo and RP-initiated logout.
	oauth.GET("/authorize", s.handleAuthorize())
	oauth.POST("/authorize", s.handleAuthorize())
	oauth.GET("/userinfo", s.handleUserInfo())
	oauth.POST("/userinfo", s.handleUserInfo())
	oauth.GET("/logout", s.handleLogout())
	oauth.POST("/logout", s.handleLogout())
	r.GET("/ui/style.css", s.handleStyle())
	// The pages carry CSRF tokens, codes and emailed tokens: never stored.
	ui := r.Group("/ui", noStore())
	ui.POST("/signin", s.handleSigninPage())
	ui.GET("/signup", s.handleSignupPage())
	ui.POST("/signup", s.handleSignupPage())
	ui.GET("/forgot", s.handleForgotPage())
	ui.POST("/forgot", s.handleForgotPage())

	// The pages the links in messages open when SIGNET_SITE_URL does not
	// send them to a client app: a GET shows a form, its POST spends the
	// link's token. The paths are issuer.PathVerifyEmail and the others.
	links := r.Group("/", noStore())
	links.GET("/verify-email", s.handleLinkPage(verifyEmailFlow))
	links.POST("/verify-email", s.handleLinkPage(verifyEmailFlow))
	links.GET("/reset-password", s.handleLinkPage(resetPasswordFlow))
	links.POST("/reset-password", s.handleLinkPage(resetPasswordFlow))
	links.GET("/confirm-email", s.handleLinkPage(confirmEmailFlow))
	links.POST("/confirm-email", s.handleLinkPage(confirmEmailFlow))
	links.GET("/cancel-email-change", s.handleLinkPage(cancelEmailChangeFlow))
	links.POST("/cancel-email-change", s.handleLinkPage(cancelEmailChangeFlow))
	links.GET("/forgot-password", s.handleForgotPage())
}

// getHead serves h for GET and HEAD; net/http drops the body of a HEAD
// answer.
func getHead(r *gin.Engine, path string, h gin.HandlerFunc) {
	r.GET(path, h)
	r.HEAD(path, h)
}

// handleIndex tells a person who opens the issuer's URL what it is and
// where its documents are.
func (s *Server) handleIndex() gin.HandlerFunc {
	base := strings.TrimRight(s.iss.Config().IssuerURL, "/")
	body := gin.H{
		"service":       "signet",
		"issuer":        s.iss.Config().IssuerURL,
		"discovery":     base + "/.well-known/openid-configuration",
		"jwks_uri":      base + "/.well-known/jwks.json",
		"documentation": "https://github.com/signet-auth/signet#readme",
	}
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		c.JSON(http.StatusOK, body)
	}
}

func handleHealthz() gin.HandlerFunc {
	return func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }
}

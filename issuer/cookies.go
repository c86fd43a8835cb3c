package issuer

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// Cookie mode: a browser client asks at sign-in ("refresh_cookie": true)
// for the refresh token as an HttpOnly cookie instead of in the JSON body,
// so that no script on the page (an injected one included) can read it.
// Refresh and sign-out then read it from the cookie.
//
// The __Host- prefix makes the browser refuse the cookie unless it is
// Secure, has Path=/ and no Domain: it is bound to the issuer's host.
// SameSite=Strict keeps it off cross-site requests. Browsers treat
// http://localhost as a secure context, so the cookie also works there in
// development; on any other plain-HTTP host the browser drops it.
const refreshCookieName = "__Host-signet_refresh"

// checkCookieRequest guards every request that sets or uses the refresh
// cookie against cross-site request forgery: the request must carry the
// X-Signet-CSRF header (which a cross-site form cannot send and a
// cross-origin script can send only after a CORS preflight), and its Origin
// must be one of SIGNET_CORS_ORIGINS.
func (s *Server) checkCookieRequest(c *gin.Context) error {
	if c.GetHeader(csrfHeader) == "" {
		return &Error{Code: "invalid_request", Status: http.StatusForbidden,
			Description: "requests that use the refresh cookie must send the " + csrfHeader + " header"}
	}
	if !s.cors.allowed(c.GetHeader("Origin")) {
		return &Error{Code: "invalid_request", Status: http.StatusForbidden,
			Description: "requests that use the refresh cookie must come from an allowed origin (SIGNET_CORS_ORIGINS)"}
	}
	return nil
}

// refreshCookie returns the refresh token from the cookie, or "".
func refreshCookie(c *gin.Context) string {
	v, err := c.Cookie(refreshCookieName)
	if err != nil {
		return ""
	}
	return v
}

// setRefreshCookie hands the refresh token to the browser and takes it out
// of the body.
func setRefreshCookie(c *gin.Context, resp *tokenResponse) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     refreshCookieName,
		Value:    resp.RefreshToken,
		Path:     "/",
		MaxAge:   resp.RefreshExpiresIn,
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
	resp.RefreshToken = ""
}

// clearRefreshCookie tells the browser to drop the refresh cookie.
func clearRefreshCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: refreshCookieName, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// signoutByCookie ends the session of the refresh cookie when a browser
// signs out without an access token (it may have expired). Requests with
// an Authorization header go on to the access-token path.
func (s *Server) signoutByCookie() gin.HandlerFunc {
	return func(c *gin.Context) {
		raw := refreshCookie(c)
		if c.GetHeader("Authorization") != "" || raw == "" {
			c.Next()
			return
		}
		if err := s.checkCookieRequest(c); err != nil {
			fail(c, err)
			return
		}
		switch scope, err := signoutScope(c); {
		case err != nil:
			fail(c, err)
			return
		case scope != "local":
			fail(c, apiError("invalid_request", "scope=%s needs the access token (Authorization: Bearer)", scope))
			return
		}
		sess, revoked, err := s.revokeByRefreshToken(c.Request.Context(), raw, "signout")
		if err != nil {
			fail(c, err)
			return
		}
		if revoked {
			s.audit(c, AuditEvent{Type: "session_revoked", UserID: sess.UserID, SessionID: sess.ID,
				Detail: map[string]string{"via": "signout_cookie", "scope": "local", "sessions": "1"}})
		}
		clearRefreshCookie(c)
		c.AbortWithStatus(http.StatusNoContent)
	}
}

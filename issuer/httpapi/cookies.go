package httpapi

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
		return apiError(kindForbidden, "requests that use the refresh cookie must send the %s header", csrfHeader)
	}
	if !s.cors.allowed(c.GetHeader("Origin")) {
		return apiError(kindForbidden, "requests that use the refresh cookie must come from an allowed origin (SIGNET_CORS_ORIGINS)")
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

// deviceCookieName holds the device token (issuer.SignInDevice) in cookie
// mode: HttpOnly like the refresh cookie, and read only from requests that
// pass checkCookieRequest, so that a forged cross-site sign-in cannot
// spend the device's own budget of failures.
const deviceCookieName = "__Host-signet_device"

// deviceCookieMaxAge is the device cookie's lifetime in seconds: the
// browsers' cap (400 days); the token inside expires on its own.
const deviceCookieMaxAge = 400 * 24 * 60 * 60

// deviceCookie returns the device token from the cookie, or "" when there
// is none or the request may not use cookies.
func (s *Server) deviceCookie(c *gin.Context) string {
	v, err := c.Cookie(deviceCookieName)
	if err != nil || v == "" || s.checkCookieRequest(c) != nil {
		return ""
	}
	return v
}

// setDeviceCookie hands the device token to the browser.
func setDeviceCookie(c *gin.Context, token string) {
	if token == "" {
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: deviceCookieName, Value: token, Path: "/", MaxAge: deviceCookieMaxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

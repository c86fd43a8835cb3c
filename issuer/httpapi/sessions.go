package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

const (
	sessionKey = "signet.session"
	userKey    = "signet.user"
)

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
	Resource     string `json:"resource"`
	Scope        string `json:"scope"`
}

// decodeRefreshRequest is decodeJSON for the refresh body, with a fast
// path for the body nearly every client sends, {"refresh_token":"..."}
// with a token of base64url characters and nothing else: that body passes
// every check of decodeJSON (one member, no escapes, valid UTF-8), so it
// is read without the strict decoder's three passes. Any other body goes
// through decodeJSON.
func decodeRefreshRequest(c *gin.Context, req *refreshRequest) error {
	body, err := readJSONBody(c)
	if err != nil {
		return err
	}
	const head, tail = `{"refresh_token":"`, `"}`
	if len(body) > len(head)+len(tail) && len(body) <= len(head)+len(tail)+512 &&
		string(body[:len(head)]) == head && string(body[len(body)-len(tail):]) == tail {
		tok := body[len(head) : len(body)-len(tail)]
		plain := true
		for _, b := range tok {
			if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-') {
				plain = false
				break
			}
		}
		if plain {
			req.RefreshToken = string(tok)
			return nil
		}
	}
	return decodeJSONBody(body, req)
}

// handleRefresh rotates a refresh token: 200 with the sign-in body.
func (s *Server) handleRefresh() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req refreshRequest
		if err := decodeRefreshRequest(c, &req); err != nil {
			fail(c, err)
			return
		}
		raw, cookieMode := req.RefreshToken, false
		if raw == "" {
			raw, cookieMode = refreshCookie(c), true
		}
		if raw == "" {
			fail(c, apiError(issuer.KindInvalid, "refresh_token is required"))
			return
		}
		if cookieMode {
			if err := s.checkCookieRequest(c); err != nil {
				fail(c, err)
				return
			}
		}
		ts, err := s.iss.RefreshFor(requestContext(c), caller(c), raw, issuer.TokenRequest{Resource: req.Resource, Scope: req.Scope})
		if err != nil {
			if cookieMode && issuer.KindOf(err) == issuer.KindBadCredentials {
				clearRefreshCookie(c) // the session is over; a 429 or an outage is not
			}
			fail(c, err)
			return
		}
		resp := newTokenResponse(ts)
		if cookieMode {
			setRefreshCookie(c, &resp)
		}
		writeTokenResponse(c, &resp)
	}
}

// signoutScope reads ?scope=local|global|others (local when absent).
func signoutScope(c *gin.Context) (issuer.SignOutScope, error) {
	scopes := c.Request.URL.Query()["scope"]
	switch len(scopes) {
	case 0:
		return issuer.SignOutLocal, nil
	case 1:
		return issuer.ParseSignOutScope(scopes[0])
	}
	return "", apiError(issuer.KindInvalid, "scope is repeated")
}

// handleSignout revokes the caller's session (204); scope=global revokes
// every session of the user, scope=others all but the caller's. A refresh
// cookie sent along is cleared only when its session is over: the
// caller's, or another session of the same user, which then ends too. A
// cookie of someone else's session stays, since the browser still needs
// it.
func (s *Server) handleSignout() gin.HandlerFunc {
	return func(c *gin.Context) {
		scope, err := signoutScope(c)
		if err != nil {
			fail(c, err)
			return
		}
		sess := c.MustGet(sessionKey).(issuer.Session)
		_, cookieOver, err := s.iss.Sessions.SignOutWithRefreshToken(requestContext(c), caller(c), sess, scope, refreshCookie(c))
		if err != nil {
			fail(c, err)
			return
		}
		if cookieOver {
			clearRefreshCookie(c)
		}
		c.Status(http.StatusNoContent)
		c.Writer.WriteHeaderNow()
	}
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
		case scope != issuer.SignOutLocal:
			fail(c, apiError(issuer.KindInvalid, "scope=%s needs the access token (Authorization: Bearer)", scope))
			return
		}
		if err := s.iss.Sessions.SignOutByRefreshToken(requestContext(c), caller(c), raw); err != nil {
			fail(c, err)
			return
		}
		clearRefreshCookie(c)
		c.AbortWithStatus(http.StatusNoContent)
	}
}

// bearerToken reads the request's bearer token (RFC 6750 §2.1), or
// answers the request with the RFC 6750 §3 challenge and reports false.
func bearerToken(c *gin.Context) (string, bool) {
	h := c.GetHeader("Authorization")
	scheme, raw, _ := strings.Cut(h, " ")
	if h == "" || !strings.EqualFold(scheme, "Bearer") {
		// §3.1: no error code when no credentials were sent; other
		// schemes carry no bearer credentials (§3).
		c.Header("WWW-Authenticate", "Bearer")
		fail(c, apiError(issuer.KindInvalidToken, "an access token is required (Authorization: Bearer <token>)"))
		return "", false
	}
	if raw == "" || strings.ContainsAny(raw, " \t") || len(c.Request.Header.Values("Authorization")) > 1 {
		c.Header("WWW-Authenticate", `Bearer error="invalid_request"`)
		fail(c, apiError(issuer.KindInvalid, "the Authorization header must be: Bearer <token>"))
		return "", false
	}
	return raw, true
}

// requireAccessToken authenticates the request's bearer access token and
// its live session.
func (s *Server) requireAccessToken() gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, ok := bearerToken(c)
		if !ok {
			return
		}
		sess, u, err := s.iss.Sessions.Authenticate(requestContext(c), raw)
		if err != nil {
			fail(c, err)
			return
		}
		c.Set(sessionKey, sess)
		c.Set(userKey, u)
		c.Next()
	}
}

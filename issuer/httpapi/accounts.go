package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// signinRequest is the sign-in body; RefreshCookie asks for cookie mode,
// DeviceToken is the device token of the client's last sign-in.
type signinRequest struct {
	Email         string `json:"email"`
	Password      string `json:"password"`
	RefreshCookie bool   `json:"refresh_cookie"`
	DeviceToken   string `json:"device_token"`
	// Resource (RFC 8707) and Scope ask for the access token's audience
	// and scope; without them, the default resource.
	Resource string `json:"resource"`
	Scope    string `json:"scope"`
}

type userBody struct {
	User issuer.User `json:"user"`
}

// tokenResponse is the body of sign-in and refresh.
type tokenResponse struct {
	AccessToken      string      `json:"access_token"`
	TokenType        string      `json:"token_type"`
	ExpiresIn        int         `json:"expires_in"`
	RefreshToken     string      `json:"refresh_token,omitempty"` // in a cookie instead, in cookie mode
	RefreshExpiresIn int         `json:"refresh_expires_in"`
	User             issuer.User `json:"user"`
	DeviceToken      string      `json:"device_token,omitempty"` // sign-in only; in a cookie instead, in cookie mode
	Scope            string      `json:"scope,omitempty"`
}

func newTokenResponse(ts issuer.TokenSet) tokenResponse {
	return tokenResponse{
		AccessToken: ts.AccessToken, TokenType: "Bearer", ExpiresIn: int(ts.ExpiresIn / time.Second),
		RefreshToken: ts.RefreshToken, RefreshExpiresIn: int(ts.RefreshExpiresIn / time.Second), User: ts.User,
		Scope: ts.Scope,
	}
}

// handleSignup creates an account by the sign-up mode: open, 201 {user}
// or 409 email_taken; private, 202 {} whatever the address; closed, 403.
func (s *Server) handleSignup() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req credentials
		if err := decodeJSON(c, &req); err != nil {
			fail(c, err)
			return
		}
		u, err := s.iss.Accounts.SignUp(requestContext(c), caller(c), req.Email, req.Password)
		if err != nil {
			fail(c, err)
			return
		}
		if s.iss.Lifecycle.Config().SignupMode == issuer.SignupPrivate {
			accept(c)
			return
		}
		c.JSON(http.StatusCreated, userBody{User: u})
	}
}

// handleSignin checks a password and starts a session. An unknown email
// and a wrong password get the same answer after the same bcrypt work.
func (s *Server) handleSignin() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req signinRequest
		if err := decodeJSON(c, &req); err != nil {
			fail(c, err)
			return
		}
		if req.RefreshCookie {
			if err := s.checkCookieRequest(c); err != nil {
				fail(c, err)
				return
			}
		}
		device := req.DeviceToken
		if device == "" {
			device = s.deviceCookie(c)
		}
		ts, next, err := s.iss.SignInDeviceFor(requestContext(c), caller(c), req.Email, req.Password, device, issuer.GrantPassword,
			issuer.TokenRequest{Resource: req.Resource, Scope: req.Scope})
		if err != nil {
			fail(c, err)
			return
		}
		resp := newTokenResponse(ts)
		if req.RefreshCookie {
			setRefreshCookie(c, &resp)
			setDeviceCookie(c, next)
		} else {
			resp.DeviceToken = next
		}
		c.JSON(http.StatusOK, resp)
	}
}

// handleMe returns the signed-in user.
func (s *Server) handleMe() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.JSON(http.StatusOK, userBody{User: c.MustGet(userKey).(issuer.User)})
	}
}

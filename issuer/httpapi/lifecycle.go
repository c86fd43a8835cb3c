package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// The account-lifecycle endpoints. The tokens they take come from links
// in messages; their refusals (unknown, expired, spent) all get the same
// 400 invalid_grant.

type tokenRequest struct {
	Token string `json:"token"`
}

type emailRequest struct {
	Email string `json:"email"`
}

type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

type passwordRequest struct {
	Password string `json:"password"`
}

// accept answers 202 {}: the same bytes and headers whatever was done.
func accept(c *gin.Context) {
	c.Data(http.StatusAccepted, "application/json; charset=utf-8", []byte("{}"))
}

// bind decodes the body into v, or fails the request.
func bind(c *gin.Context, v any) bool {
	if err := decodeJSON(c, v); err != nil {
		fail(c, err)
		return false
	}
	return true
}

func requireToken(c *gin.Context, tok string) bool {
	if tok == "" {
		fail(c, apiError(issuer.KindInvalid, "token is required"))
		return false
	}
	return true
}

// handleVerify confirms an address: 200 {user}.
func (s *Server) handleVerify() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req tokenRequest
		if !bind(c, &req) || !requireToken(c, req.Token) {
			return
		}
		u, err := s.iss.Lifecycle.VerifyEmail(requestContext(c), caller(c), req.Token)
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(http.StatusOK, userBody{User: u})
	}
}

// handleResend queues a new confirmation message: 202 {} for any address.
func (s *Server) handleResend() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req emailRequest
		if !bind(c, &req) {
			return
		}
		if err := s.iss.Lifecycle.ResendVerification(requestContext(c), caller(c), req.Email); err != nil {
			fail(c, err)
			return
		}
		accept(c)
	}
}

// handleForgot queues a password-reset message: 202 {} for any address.
func (s *Server) handleForgot() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req emailRequest
		if !bind(c, &req) {
			return
		}
		if err := s.iss.Lifecycle.ForgotPassword(requestContext(c), caller(c), req.Email); err != nil {
			fail(c, err)
			return
		}
		accept(c)
	}
}

// handleReset sets a new password with a reset token: 204, every session
// revoked.
func (s *Server) handleReset() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req resetRequest
		if !bind(c, &req) || !requireToken(c, req.Token) {
			return
		}
		if err := s.iss.Lifecycle.ResetPassword(requestContext(c), caller(c), req.Token, req.Password); err != nil {
			fail(c, err)
			return
		}
		noContent(c)
	}
}

// handleChangePassword changes the signed-in user's password: 204, the
// other sessions revoked, this one kept.
func (s *Server) handleChangePassword() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req changePasswordRequest
		if !bind(c, &req) {
			return
		}
		if req.CurrentPassword == "" {
			fail(c, apiError(issuer.KindInvalid, "current_password is required"))
			return
		}
		sess, u := c.MustGet(sessionKey).(issuer.Session), c.MustGet(userKey).(issuer.User)
		if err := s.iss.Lifecycle.ChangePassword(requestContext(c), caller(c), sess, u, req.CurrentPassword, req.NewPassword); err != nil {
			fail(c, err)
			return
		}
		noContent(c)
	}
}

// handleChangeEmail starts an email change: 202 {}, the change happens
// when the new address confirms it.
func (s *Server) handleChangeEmail() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req struct {
			Email    string `json:"email"`
			Password string `json:"password"`
		}
		if !bind(c, &req) {
			return
		}
		u := c.MustGet(userKey).(issuer.User)
		if err := s.iss.Lifecycle.ChangeEmail(requestContext(c), caller(c), u, req.Email, req.Password); err != nil {
			fail(c, err)
			return
		}
		accept(c)
	}
}

// handleConfirmEmail completes an email change: 200 {user}.
func (s *Server) handleConfirmEmail() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req tokenRequest
		if !bind(c, &req) || !requireToken(c, req.Token) {
			return
		}
		u, err := s.iss.Lifecycle.ConfirmEmailChange(requestContext(c), caller(c), req.Token)
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(http.StatusOK, userBody{User: u})
	}
}

// handleCancelEmailChange cancels (or undoes) an email change from the old
// address: 204, every session revoked.
func (s *Server) handleCancelEmailChange() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req tokenRequest
		if !bind(c, &req) || !requireToken(c, req.Token) {
			return
		}
		if err := s.iss.Lifecycle.CancelEmailChange(requestContext(c), caller(c), req.Token); err != nil {
			fail(c, err)
			return
		}
		noContent(c)
	}
}

// handleDeleteMe deletes the signed-in user's account: 204.
func (s *Server) handleDeleteMe() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req passwordRequest
		if !bind(c, &req) {
			return
		}
		u := c.MustGet(userKey).(issuer.User)
		if err := s.iss.Lifecycle.DeleteAccount(requestContext(c), caller(c), u, req.Password); err != nil {
			fail(c, err)
			return
		}
		if refreshCookie(c) != "" {
			clearRefreshCookie(c)
		}
		noContent(c)
	}
}

func noContent(c *gin.Context) {
	c.Status(http.StatusNoContent)
	c.Writer.WriteHeaderNow()
}

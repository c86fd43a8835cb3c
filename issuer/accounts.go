package issuer

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"
)

// Password bounds: bcrypt reads at most 72 bytes, and Signet rejects longer
// passwords rather than silently ignoring their tail.
const (
	minPasswordBytes = 8
	maxPasswordBytes = 72
	maxEmailBytes    = 254
)

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// signinRequest is the sign-in body; RefreshCookie asks for cookie mode.
type signinRequest struct {
	Email         string `json:"email"`
	Password      string `json:"password"`
	RefreshCookie bool   `json:"refresh_cookie"`
}

type userBody struct {
	User User `json:"user"`
}

// normalizeEmail trims and lower-cases an email and checks its form.
func normalizeEmail(raw string) (string, error) {
	email := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case email == "":
		return "", apiError("invalid_request", "email is required")
	case len(email) > maxEmailBytes:
		return "", apiError("invalid_request", "email is longer than %d bytes", maxEmailBytes)
	}
	for _, r := range email {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", apiError("invalid_request", "email must not contain spaces or control characters")
		}
	}
	addr, err := mail.ParseAddress(email)
	local, domain, ok := strings.Cut(email, "@")
	if err != nil || addr.Address != email || !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", apiError("invalid_request", "email is not a valid address")
	}
	return email, nil
}

func checkPassword(pw string) error {
	switch {
	case pw == "":
		return apiError("invalid_request", "password is required")
	case len(pw) < minPasswordBytes:
		return apiError("invalid_request", "password is shorter than %d bytes", minPasswordBytes)
	case len(pw) > maxPasswordBytes:
		return apiError("invalid_request", "password is longer than %d bytes", maxPasswordBytes)
	}
	return nil
}

// handleSignup creates an account: 201 {user}, 409 email_taken.
func (s *Server) handleSignup() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req credentials
		if err := decodeJSON(c, &req); err != nil {
			fail(c, err)
			return
		}
		ip, now := c.ClientIP(), s.now()
		if wait := s.signups.wait(ip, now); wait > 0 {
			fail(c, tooManyRequests("too many sign-ups from this address; try again later", wait))
			return
		}
		s.signups.take(ip, now)
		email, err := normalizeEmail(req.Email)
		if err != nil {
			fail(c, err)
			return
		}
		if err := checkPassword(req.Password); err != nil {
			fail(c, err)
			return
		}
		var hash []byte
		if err := s.withBcryptSlot(c.Request.Context(), func() {
			hash, err = bcrypt.GenerateFromPassword([]byte(req.Password), s.cfg.BcryptCost)
		}); err != nil {
			fail(c, err)
			return
		}
		if err != nil {
			fail(c, err)
			return
		}
		u := User{ID: newUUID(), Email: email, PasswordHash: string(hash), CreatedAt: s.now().UTC().Truncate(time.Millisecond)}
		switch err := s.store.CreateUser(c.Request.Context(), u); {
		case errors.Is(err, ErrEmailTaken):
			fail(c, apiError("email_taken", "an account with this email already exists"))
			return
		case err != nil:
			fail(c, err)
			return
		}
		s.audit(c, AuditEvent{Type: "signup", UserID: u.ID})
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
		resp, err := s.passwordSignin(c, req.Email, req.Password)
		s.metrics.signin(err)
		if errors.Is(err, errBadCredentials) {
			err = apiError("invalid_grant", "invalid email or password")
		}
		if err != nil {
			fail(c, err)
			return
		}
		if req.RefreshCookie {
			setRefreshCookie(c, &resp)
		}
		c.JSON(http.StatusOK, resp)
	}
}

// passwordSignin is sign-in for /v1/signin and the password grant: the
// throttle check (429, before any bcrypt work), the password check in a
// bcrypt slot (503 when none frees up in time), then a new session.
func (s *Server) passwordSignin(c *gin.Context, email, password string) (tokenResponse, error) {
	ctx := c.Request.Context()
	tk := s.throttleKeysOf(c, email)
	if err := s.checkThrottle(c, tk); err != nil {
		return tokenResponse{}, err
	}
	var u User
	var authErr error
	if err := s.withBcryptSlot(ctx, func() { u, authErr = s.authenticate(ctx, email, password) }); err != nil {
		return tokenResponse{}, err
	}
	if errors.Is(authErr, errBadCredentials) {
		s.recordFailure(c, tk)
		s.audit(c, AuditEvent{Type: "signin_failed", UserID: u.ID})
		return tokenResponse{}, errBadCredentials
	}
	if authErr != nil {
		return tokenResponse{}, authErr
	}
	s.clearFailures(c, tk)
	sess, rt, err := s.startSession(c, u)
	if err != nil {
		return tokenResponse{}, err
	}
	resp, err := s.issueTokens(u, sess, rt)
	if err != nil {
		return tokenResponse{}, err
	}
	s.audit(c, AuditEvent{Type: "signin", UserID: u.ID, SessionID: sess.ID})
	return resp, nil
}

var errBadCredentials = errors.New("bad credentials")

// authenticate returns the user whose password matches. Whatever is wrong
// (malformed email, unknown email, wrong password) it spends one bcrypt
// comparison and returns errBadCredentials; the returned user has an id
// only when the email is known.
func (s *Server) authenticate(ctx context.Context, rawEmail, password string) (User, error) {
	hash := s.dummyHash
	var u User
	email, emailErr := normalizeEmail(rawEmail)
	if emailErr == nil {
		var err error
		u, err = s.store.UserByEmail(ctx, email)
		switch {
		case err == nil:
			hash = []byte(u.PasswordHash)
		case !errors.Is(err, ErrNotFound):
			return User{}, err
		}
	}
	if len(password) > maxPasswordBytes {
		password = password[:0] // never matches; still costs a comparison
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	if !match || emailErr != nil || u.ID == "" {
		return User{ID: u.ID}, errBadCredentials
	}
	return u, nil
}

// audit writes an event to the audit table and the log. A failure to
// store it is logged, not returned: the request it describes went through.
func (s *Server) audit(c *gin.Context, e AuditEvent) {
	if e.At.IsZero() {
		e.At = s.now().UTC()
	}
	if e.IP == "" {
		e.IP = c.ClientIP()
	}
	attrs := []any{"event", e.Type, "user_id", e.UserID, "session_id", e.SessionID, "client_ip", e.IP}
	for k, v := range e.Detail {
		attrs = append(attrs, k, v)
	}
	logger(c).InfoContext(c.Request.Context(), "audit", attrs...)
	if err := s.store.RecordEvent(context.WithoutCancel(c.Request.Context()), e); err != nil {
		logger(c).ErrorContext(c.Request.Context(), "audit event not stored", "event", e.Type, "error", err)
	}
}

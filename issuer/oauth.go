package issuer

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
)

// decodeForm reads an application/x-www-form-urlencoded body (RFC 6749
// §3.2) with the size cap. A repeated parameter is invalid_request (RFC
// 6749 §3.1); an empty one counts as absent.
func decodeForm(c *gin.Context) (map[string]string, error) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, apiError("invalid_request", "the body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, apiError("request_too_large", "the body is larger than %d bytes", maxBodyBytes)
		}
		return nil, apiError("invalid_request", "could not read the body")
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, apiError("invalid_request", "the body is not valid form encoding")
	}
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		if len(v) > 1 {
			return nil, apiError("invalid_request", "parameter %q is repeated", k)
		}
		if v[0] != "" {
			out[k] = v[0]
		}
	}
	return out, nil
}

// oauthError gives the RFC 6749 §5.2 status, 400, to the OAuth error codes
// the token endpoint returns. Throttling (429), a full bcrypt queue (503)
// and server errors keep their own.
func oauthError(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code {
	case "invalid_request", "invalid_grant", "unsupported_grant_type":
		cp := *e
		cp.Status = http.StatusBadRequest
		return &cp
	}
	return err
}

// oauthTokenResponse is RFC 6749 §5.1, plus refresh_expires_in.
type oauthTokenResponse struct {
	AccessToken      string  `json:"access_token"`
	TokenType        string  `json:"token_type"`
	ExpiresIn        int     `json:"expires_in"`
	RefreshToken     string  `json:"refresh_token"`
	RefreshExpiresIn int     `json:"refresh_expires_in"`
	Scope            *string `json:"scope,omitempty"`
}

// handleOAuthToken is the RFC 6749 token endpoint for the password and
// refresh_token grants. There is no client registry: client_id is ignored.
// A requested scope is not granted; the response then says so with an
// empty scope.
func (s *Server) handleOAuthToken() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, err := decodeForm(c)
		if err != nil {
			fail(c, oauthError(err))
			return
		}
		var resp tokenResponse
		switch form["grant_type"] {
		case "":
			err = apiError("invalid_request", "grant_type is required")
		case "password":
			switch {
			case form["username"] == "":
				err = apiError("invalid_request", "username is required")
			case form["password"] == "":
				err = apiError("invalid_request", "password is required")
			default:
				resp, err = s.passwordSignin(c, form["username"], form["password"])
				s.metrics.signin(err)
				if errors.Is(err, errBadCredentials) {
					err = apiError("invalid_grant", "invalid username or password")
				}
			}
		case "refresh_token":
			if form["refresh_token"] == "" {
				err = apiError("invalid_request", "refresh_token is required")
				break
			}
			var sess Session
			var u User
			var rt string
			sess, u, rt, err = s.refresh(c, form["refresh_token"])
			if err != nil {
				err = refreshError(c, err, 0)
				break
			}
			resp, err = s.issueTokens(u, sess, rt)
		default:
			err = apiError("unsupported_grant_type", "grant_type must be password or refresh_token")
		}
		if err != nil {
			fail(c, oauthError(err))
			return
		}
		out := oauthTokenResponse{
			AccessToken: resp.AccessToken, TokenType: resp.TokenType, ExpiresIn: resp.ExpiresIn,
			RefreshToken: resp.RefreshToken, RefreshExpiresIn: resp.RefreshExpiresIn,
		}
		if _, asked := form["scope"]; asked {
			out.Scope = new(string)
		}
		c.JSON(http.StatusOK, out)
	}
}

// handleOAuthRevoke is RFC 7009 revocation. A refresh token revokes its
// session; so does an access token (its sid). Anything else, an unknown
// or invalid token included, is a 200 with an empty body too (§2.2), so
// the endpoint tells a caller nothing about tokens it does not hold.
func (s *Server) handleOAuthRevoke() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, err := decodeForm(c)
		if err != nil {
			fail(c, oauthError(err))
			return
		}
		raw := form["token"]
		if raw == "" {
			fail(c, oauthError(apiError("invalid_request", "token is required")))
			return
		}
		ctx := context.WithoutCancel(c.Request.Context())
		sess, revoked, err := s.revokeByRefreshToken(ctx, raw, "oauth_revoke")
		if err == nil && sess.ID == "" {
			sess, revoked, err = s.revokeByAccessToken(ctx, raw, "oauth_revoke")
		}
		if err != nil {
			fail(c, err)
			return
		}
		if revoked {
			s.audit(c, AuditEvent{Type: "session_revoked", UserID: sess.UserID, SessionID: sess.ID, Detail: map[string]string{"via": "oauth_revoke"}})
		}
		c.Status(http.StatusOK)
		c.Writer.WriteHeaderNow()
	}
}

// revokeByAccessToken revokes the session named by a valid access token.
func (s *Server) revokeByAccessToken(ctx context.Context, raw, reason string) (Session, bool, error) {
	claims, err := s.access.Verify(ctx, raw)
	if err != nil || claims.SessionID == "" {
		return Session{}, false, nil
	}
	sess, _, err := s.store.SessionWithUser(ctx, claims.SessionID)
	if errors.Is(err, ErrNotFound) || (err == nil && sess.UserID != claims.Subject) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, err
	}
	revoked, err := s.store.RevokeSession(ctx, sess.ID, s.now(), reason)
	return sess, revoked, err
}

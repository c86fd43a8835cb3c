package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// Kinds of error that only HTTP has.
const (
	kindNotFound         issuer.Kind = "not_found"
	kindMethodNotAllowed issuer.Kind = "method_not_allowed"
	kindTooLarge         issuer.Kind = "request_too_large"
	kindMediaType        issuer.Kind = "unsupported_media_type"
	kindUnsupportedGrant issuer.Kind = "unsupported_grant_type"
	// kindForbidden is a request refused for where it comes from (CORS,
	// CSRF); its body code is invalid_request.
	kindForbidden issuer.Kind = "forbidden"
)

// answer is how an error kind is written: the status on /v1 and the
// public documents, the status on the OAuth endpoints (RFC 6749 §5.2
// answers every grant error with 400), and the body's error code.
type answer struct {
	status, oauthStatus int
	code                string
}

// errorTable is the one map from errors to HTTP.
var errorTable = map[issuer.Kind]answer{
	issuer.KindInvalid:        {http.StatusBadRequest, http.StatusBadRequest, "invalid_request"},
	issuer.KindBadCredentials: {http.StatusUnauthorized, http.StatusBadRequest, "invalid_grant"},
	issuer.KindInvalidToken:   {http.StatusUnauthorized, http.StatusUnauthorized, "invalid_token"},
	issuer.KindEmailTaken:     {http.StatusConflict, http.StatusConflict, "email_taken"},
	issuer.KindRateLimited:    {http.StatusTooManyRequests, http.StatusTooManyRequests, "too_many_requests"},
	issuer.KindUnavailable:    {http.StatusServiceUnavailable, http.StatusServiceUnavailable, "temporarily_unavailable"},
	issuer.KindInternal:       {http.StatusInternalServerError, http.StatusInternalServerError, "server_error"},
	kindNotFound:              {http.StatusNotFound, http.StatusNotFound, "not_found"},
	kindMethodNotAllowed:      {http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed"},
	kindTooLarge:              {http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge, "request_too_large"},
	kindMediaType:             {http.StatusUnsupportedMediaType, http.StatusUnsupportedMediaType, "unsupported_media_type"},
	kindUnsupportedGrant:      {http.StatusBadRequest, http.StatusBadRequest, "unsupported_grant_type"},
	kindForbidden:             {http.StatusForbidden, http.StatusForbidden, "invalid_request"},

	// The account lifecycle.
	issuer.KindEmailNotVerified: {http.StatusForbidden, http.StatusBadRequest, "email_not_verified"},
	issuer.KindSignupClosed:     {http.StatusForbidden, http.StatusForbidden, "signup_closed"},
	issuer.KindBadLink:          {http.StatusBadRequest, http.StatusBadRequest, "invalid_grant"},
	issuer.KindAccountDisabled:  {http.StatusForbidden, http.StatusBadRequest, "account_disabled"},

	// The registry (RFC 6749 §5.2, RFC 8707 §2).
	issuer.KindInvalidScope:       {http.StatusBadRequest, http.StatusBadRequest, "invalid_scope"},
	issuer.KindInvalidTarget:      {http.StatusBadRequest, http.StatusBadRequest, "invalid_target"},
	issuer.KindInvalidClient:      {http.StatusUnauthorized, http.StatusUnauthorized, "invalid_client"},
	issuer.KindUnauthorizedClient: {http.StatusBadRequest, http.StatusBadRequest, "unauthorized_client"},

	// OpenID Connect (RFC 6750 §3.1).
	issuer.KindInsufficientScope: {http.StatusForbidden, http.StatusForbidden, "insufficient_scope"},
}

// oauthCodes are the body codes the OAuth endpoints use instead of the
// table's, where RFC 6749 §5.2 has no code of that name.
var oauthCodes = map[issuer.Kind]string{
	issuer.KindAccountDisabled: "invalid_grant",
}

func apiError(k issuer.Kind, format string, args ...any) *issuer.Error {
	return issuer.Errorf(k, format, args...)
}

// errBody is the one error body of the API.
type errBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// fail writes err as the error body of /v1 and the public documents, and
// aborts the chain.
func fail(c *gin.Context, err error) { writeError(c, err, false) }

// failOAuth writes err as the error body of the OAuth endpoints.
func failOAuth(c *gin.Context, err error) { writeError(c, err, true) }

// writeError translates err by the table. Unavailable and internal errors
// are logged with their cause, which the caller never sees.
func writeError(c *gin.Context, err error, oauth bool) {
	e := issuer.AsError(err)
	ctx := requestContext(c)
	switch e.Kind {
	case issuer.KindUnavailable:
		if errors.Is(err, issuer.ErrUnavailable) {
			logger(c).WarnContext(ctx, "database unavailable", "error", err)
		}
	case issuer.KindInternal:
		logger(c).ErrorContext(ctx, "request failed", "error", err)
	}
	a, ok := errorTable[e.Kind]
	if !ok {
		logger(c).ErrorContext(ctx, "error kind missing from the table", "kind", string(e.Kind))
		a = errorTable[issuer.KindInternal]
	}
	status, code := a.status, a.code
	if oauth {
		status = a.oauthStatus
		if oc, ok := oauthCodes[e.Kind]; ok {
			code = oc
		}
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	if (e.Kind == issuer.KindInvalidToken || e.Kind == issuer.KindInsufficientScope) && c.Writer.Header().Get("WWW-Authenticate") == "" {
		c.Header("WWW-Authenticate", fmt.Sprintf(`Bearer error=%q, error_description=%q`, a.code, e.Description))
	}
	c.AbortWithStatusJSON(status, errBody{Error: code, Description: e.Description})
}

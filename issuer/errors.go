package issuer

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"github.com/gin-gonic/gin"
)

// Error is an API error: an OAuth 2.0 style code and a human description.
// The code decides the HTTP status (see statusOf).
type Error struct {
	Code        string
	Description string
	// RetryAfter, when positive, is sent as Retry-After in seconds.
	RetryAfter int
	// Status overrides the code's usual status (RFC 6749 §5.2 answers
	// invalid_grant with 400 where /v1 answers 401).
	Status int
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// The error codes and their HTTP statuses: the one table that maps errors
// to statuses.
var statusOf = map[string]int{
	"invalid_request":         http.StatusBadRequest,
	"unsupported_grant_type":  http.StatusBadRequest,
	"invalid_grant":           http.StatusUnauthorized,
	"invalid_token":           http.StatusUnauthorized,
	"not_found":               http.StatusNotFound,
	"method_not_allowed":      http.StatusMethodNotAllowed,
	"email_taken":             http.StatusConflict,
	"request_too_large":       http.StatusRequestEntityTooLarge,
	"unsupported_media_type":  http.StatusUnsupportedMediaType,
	"too_many_requests":       http.StatusTooManyRequests,
	"server_error":            http.StatusInternalServerError,
	"temporarily_unavailable": http.StatusServiceUnavailable,
}

func apiError(code, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

// errBody is the one error body of the API.
type errBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// fail writes err as the error body and aborts the chain. Errors that are
// not *Error are internal: logged, and answered with a generic 500.
func fail(c *gin.Context, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case databaseUnavailable(err):
		logger(c).WarnContext(c.Request.Context(), "database unavailable", "error", err)
		e = &Error{Code: "temporarily_unavailable", Description: "the service is temporarily unavailable; try again shortly", RetryAfter: 1}
	default:
		logger(c).ErrorContext(c.Request.Context(), "request failed", "error", err)
		e = apiError("server_error", "the server could not complete the request")
	}
	status := e.Status
	if status == 0 {
		status = statusOf[e.Code]
	}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if status == http.StatusUnauthorized && e.Code == "invalid_token" && c.Writer.Header().Get("WWW-Authenticate") == "" {
		c.Header("WWW-Authenticate", fmt.Sprintf(`Bearer error="invalid_token", error_description=%q`, e.Description))
	}
	c.AbortWithStatusJSON(status, errBody{Error: e.Code, Description: e.Description})
}

// databaseUnavailable reports an error that says the database cannot be
// reached right now (a restart, a failover, a network cut), as opposed to a
// bug: the client should retry, so it gets 503 rather than 500.
func databaseUnavailable(err error) bool {
	var netErr net.Error
	var state interface{ SQLState() string }
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &netErr):
		return true
	case errors.As(err, &state):
		// Postgres classes 08 (connection exception), 53 (insufficient
		// resources) and 57P0x (shutting down, cannot connect now).
		code := state.SQLState()
		return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") || strings.HasPrefix(code, "57P0")
	}
	return false
}

// logEnabled reports whether the request's logger would write at level,
// without making the logger.
func logEnabled(c *gin.Context, ctx context.Context, level slog.Level) bool {
	if l, ok := c.Get(loggerKey); ok {
		return l.(*requestLogger).base.Enabled(ctx, level)
	}
	return slog.Default().Enabled(ctx, level)
}

func logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(loggerKey); ok {
		return l.(*requestLogger).get()
	}
	return slog.Default()
}

package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type claimsKey struct{}

// WithClaims returns a copy of ctx carrying c. The middleware calls it; it
// is exported for other middleware (such as ginverifier) and for tests.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the claims the middleware stored in ctx.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// BearerToken extracts the token from an "Authorization: Bearer <token>"
// header (RFC 6750 §2.1; the scheme is case-insensitive). It returns
// ErrNoToken when there is no Authorization header or it uses another
// scheme, and ErrMalformed when the header is repeated or the token is
// empty or contains spaces.
func BearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", ErrNoToken
	case 1:
	default:
		return "", ErrMalformed
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoToken
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", ErrMalformed
	}
	return token, nil
}

// Authenticate verifies the request's bearer token.
func (v *Verifier) Authenticate(r *http.Request) (*Claims, error) {
	raw, err := BearerToken(r)
	if err != nil {
		return nil, err
	}
	return v.Verify(r.Context(), raw)
}

// WriteUnauthorized answers 401 for err as RFC 6750 §3 asks: a
// WWW-Authenticate challenge with error="invalid_token" and a description,
// except when the request had no token at all (ErrNoToken), which gets a
// bare challenge. The body is {"error": "invalid_token",
// "error_description": ...} in every case. Descriptions are fixed per error
// kind, so nothing internal reaches the client. realm may be empty.
func WriteUnauthorized(w http.ResponseWriter, realm string, err error) {
	desc := errorDescription(err)
	challenge := "Bearer"
	sep := " "
	if realm != "" {
		challenge += sep + `realm="` + quoteEscape(realm) + `"`
		sep = ", "
	}
	if !errors.Is(err, ErrNoToken) {
		challenge += sep + `error="invalid_token", error_description="` + quoteEscape(desc) + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeErrorBody(w, http.StatusUnauthorized, "invalid_token", desc)
}

// WriteUnavailable answers 503 for an error of kind keyset_unavailable: the
// verifier has no usable key set, so the token may well be good and the
// client should retry, not sign in again. Retry-After is in whole seconds
// (at least 1) from the error's *KeySetUnavailableError, or
// DefaultUnknownKIDCooldown. The body is {"error":
// "temporarily_unavailable", "error_description": ...}.
func WriteUnavailable(w http.ResponseWriter, err error) {
	retry := DefaultUnknownKIDCooldown
	var ke *KeySetUnavailableError
	if errors.As(err, &ke) && ke.RetryAfter > 0 {
		retry = ke.RetryAfter
	}
	secs := max(1, int64((retry+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeErrorBody(w, http.StatusServiceUnavailable, "temporarily_unavailable", errorDescription(ErrKeySetUnavailable))
}

// WriteError answers a failed authentication as the middleware does: 503
// (WriteUnavailable) when the error is of kind keyset_unavailable, else 401
// (WriteUnauthorized).
func WriteError(w http.ResponseWriter, realm string, err error) {
	if errors.Is(err, ErrKeySetUnavailable) {
		WriteUnavailable(w, err)
		return
	}
	WriteUnauthorized(w, realm, err)
}

func writeErrorBody(w http.ResponseWriter, status int, code, desc string) {
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, desc})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// quoteEscape makes s safe inside an HTTP quoted-string.
func quoteEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			// control characters cannot appear in a header value
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// MiddlewareOption configures Middleware.
type MiddlewareOption func(*middlewareOptions)

type middlewareOptions struct {
	realm   string
	onError func(w http.ResponseWriter, r *http.Request, err error)
}

// WithRealm sets the realm of the WWW-Authenticate challenge.
func WithRealm(realm string) MiddlewareOption {
	return func(o *middlewareOptions) { o.realm = realm }
}

// WithErrorHandler replaces the error response (see WriteError). The
// handler gets the error from Verify (or ErrNoToken, ErrMalformed from the
// header); ErrorKind classifies it.
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) MiddlewareOption {
	return func(o *middlewareOptions) { o.onError = h }
}

// Middleware returns net/http middleware that requires a valid bearer token
// and passes the claims to the next handler in the request context (see
// ClaimsFrom). It answers a missing or bad token with 401 and
// WWW-Authenticate (WriteUnauthorized), and a verifier without a usable
// key set with 503 and Retry-After (WriteUnavailable).
func Middleware(v *Verifier, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	o := middlewareOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.onError == nil {
		o.onError = func(w http.ResponseWriter, _ *http.Request, err error) { WriteError(w, o.realm, err) }
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, err := v.Authenticate(r)
			if err != nil {
				o.onError(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), claims)))
		})
	}
}

package verifier

import (
	"errors"
	"net/http"
	"slices"
	"strings"
)

// InsufficientScopeError is a verified token that lacks what a route
// requires: Scopes (every one needed) or Role (one of Roles).
type InsufficientScopeError struct {
	Scopes []string // the scopes the route requires
	Roles  []string // the route requires one of these roles
}

func (e *InsufficientScopeError) Error() string {
	if len(e.Roles) > 0 {
		return "verifier: insufficient scope: one of the roles " + strings.Join(e.Roles, ", ") + " is required"
	}
	return "verifier: insufficient scope: " + strings.Join(e.Scopes, " ") + " required"
}

// CheckScope reports an *InsufficientScopeError unless c has every scope.
func CheckScope(c *Claims, scopes ...string) error {
	for _, s := range scopes {
		if !c.HasScope(s) {
			return &InsufficientScopeError{Scopes: scopes}
		}
	}
	return nil
}

// CheckRole reports an *InsufficientScopeError unless c has one of roles.
func CheckRole(c *Claims, roles ...string) error {
	if c != nil {
		for _, r := range roles {
			if slices.Contains(c.Roles, r) {
				return nil
			}
		}
	}
	return &InsufficientScopeError{Roles: roles}
}

// WriteForbidden answers 403 insufficient_scope (RFC 6750 §3.1) for err,
// with the scope challenge attribute naming the scopes required (§3).
func WriteForbidden(w http.ResponseWriter, realm string, err error) {
	challenge := "Bearer"
	sep := " "
	if realm != "" {
		challenge += sep + `realm="` + quoteEscape(realm) + `"`
		sep = ", "
	}
	desc := "the access token does not grant this request"
	var ie *InsufficientScopeError
	if errors.As(err, &ie) {
		if len(ie.Scopes) > 0 {
			challenge += sep + `scope="` + quoteEscape(strings.Join(ie.Scopes, " ")) + `"`
			sep = ", "
			desc = "the access token lacks the scope " + strings.Join(ie.Scopes, " ")
		} else {
			desc = "the access token lacks a role: one of " + strings.Join(ie.Roles, ", ")
		}
	}
	challenge += sep + `error="insufficient_scope", error_description="` + quoteEscape(desc) + `"`
	w.Header().Set("WWW-Authenticate", challenge)
	writeErrorBody(w, http.StatusForbidden, "insufficient_scope", desc)
}

// RequireScope is net/http middleware, placed after Middleware, that lets
// a request through only when its token has every one of scopes; otherwise
// 403 insufficient_scope (WriteForbidden). Without claims in the context
// (no Middleware before it) the request is refused the same way.
func RequireScope(scopes ...string) func(http.Handler) http.Handler {
	return require(func(c *Claims) error { return CheckScope(c, scopes...) })
}

// RequireRole is RequireScope for roles: the token must carry one of roles
// in its roles claim.
func RequireRole(roles ...string) func(http.Handler) http.Handler {
	return require(func(c *Claims) error { return CheckRole(c, roles...) })
}

func require(check func(*Claims) error) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := ClaimsFrom(r.Context())
			if err := check(c); err != nil {
				WriteForbidden(w, "", err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Package ginverifier is Gin middleware for resource servers that verify
// Signet access tokens with package verifier.
//
//	v, err := verifier.New(ctx, verifier.Config{Issuer: issuerURL, Audience: "orders-api"})
//	...
//	r := gin.New()
//	api := r.Group("/api", ginverifier.Middleware(v))
//	api.GET("/me", func(c *gin.Context) {
//		claims, _ := ginverifier.Claims(c)
//		c.JSON(200, gin.H{"sub": claims.Subject})
//	})
package ginverifier

import (
	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/verifier"
)

type claimsKey struct{}

// Option configures Middleware.
type Option func(*options)

type options struct {
	realm   string
	onError func(c *gin.Context, err error)
}

// WithRealm sets the realm of the WWW-Authenticate challenge.
func WithRealm(realm string) Option {
	return func(o *options) { o.realm = realm }
}

// WithErrorHandler replaces the error response (see verifier.WriteError). The handler must write a
// response; the middleware aborts the chain after it. verifier.ErrorKind
// classifies err.
func WithErrorHandler(h func(c *gin.Context, err error)) Option {
	return func(o *options) { o.onError = h }
}

// Middleware requires a valid bearer token. On success it stores the claims
// in the Gin context (see Claims) and in the request context (see
// verifier.ClaimsFrom); otherwise it answers like verifier.Middleware (401
// for a missing or bad token, 503 with Retry-After when the verifier has no
// usable key set) and aborts.
func Middleware(v *verifier.Verifier, opts ...Option) gin.HandlerFunc {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.onError == nil {
		o.onError = func(c *gin.Context, err error) { verifier.WriteError(c.Writer, o.realm, err) }
	}
	return func(c *gin.Context) {
		claims, err := v.Authenticate(c.Request)
		if err != nil {
			o.onError(c, err)
			c.Abort()
			return
		}
		c.Set(claimsKey{}, claims)
		c.Request = c.Request.WithContext(verifier.WithClaims(c.Request.Context(), claims))
		c.Next()
	}
}

// Claims returns the claims stored by Middleware.
func Claims(c *gin.Context) (*verifier.Claims, bool) {
	v, ok := c.Get(claimsKey{})
	if !ok {
		return nil, false
	}
	claims, ok := v.(*verifier.Claims)
	return claims, ok && claims != nil
}

// RequireScope lets a request through only when the token Middleware
// stored has every one of scopes; otherwise 403 insufficient_scope with
// the RFC 6750 scope challenge attribute (verifier.WriteForbidden).
func RequireScope(scopes ...string) gin.HandlerFunc {
	return require(func(c *verifier.Claims) error { return verifier.CheckScope(c, scopes...) })
}

// RequireRole is RequireScope for roles: one of roles must be in the
// token's roles claim.
func RequireRole(roles ...string) gin.HandlerFunc {
	return require(func(c *verifier.Claims) error { return verifier.CheckRole(c, roles...) })
}

func require(check func(*verifier.Claims) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		claims, _ := Claims(c)
		if err := check(claims); err != nil {
			verifier.WriteForbidden(c.Writer, "", err)
			c.Abort()
			return
		}
		c.Next()
	}
}

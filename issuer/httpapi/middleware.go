package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

const (
	requestKey = "signet.request" // *requestInfo
)

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestInfo is a request's id and logger, and its context carrying the
// id, made on first use: most requests (a JWKS fetch) never log or call a
// service.
type requestInfo struct {
	log *slog.Logger
	id  string
	ctx context.Context
}

// requestID takes a well-formed X-Request-Id from the caller or makes one,
// and echoes it. Every log line of the request carries it.
func requestID(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if !validRequestID.MatchString(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Header("X-Request-Id", id)
		c.Set(requestKey, &requestInfo{log: log, id: id})
		c.Next()
	}
}

// requestContext is the context to call services and log with: the
// request's, carrying its id.
func requestContext(c *gin.Context) context.Context {
	v, ok := c.Get(requestKey)
	if !ok {
		return c.Request.Context()
	}
	ri := v.(*requestInfo)
	if ri.ctx == nil {
		ri.ctx = issuer.WithRequestID(c.Request.Context(), ri.id)
	}
	return ri.ctx
}

func logger(c *gin.Context) *slog.Logger {
	if v, ok := c.Get(requestKey); ok {
		return v.(*requestInfo).log
	}
	return slog.Default()
}

// accessLog writes one structured line per request. It logs the route
// pattern and path only: no query string, no headers, no body, so that no
// token or password reaches the log. Successful reads of the public
// documents and probes (JWKS, discovery, /healthz, /readyz, /metrics) are
// logged at debug: they are the bulk of the traffic, carry no account, and
// observe counts them; at info their lines cost about a fifth of the
// issuer's CPU under JWKS load.
func accessLog(observe func(method, route string, status int, d time.Duration)) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		d := time.Since(start)
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		if observe != nil {
			observe(c.Request.Method, route, status, d)
		}
		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case status < 400 && quietRoute(route):
			level = slog.LevelDebug
		}
		log := logger(c)
		if !log.Enabled(c.Request.Context(), level) {
			return
		}
		log.LogAttrs(requestContext(c), level, "request",
			slog.String("method", c.Request.Method), slog.String("route", route), slog.String("path", c.Request.URL.Path),
			slog.Int("status", status), slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.String("client_ip", c.ClientIP()), slog.Int("bytes", c.Writer.Size()))
	}
}

// quietRoute reports the routes whose successful requests are logged at
// debug (see accessLog): probes, discovery and the key set, and refresh,
// the busiest endpoint, whose successes signet_refreshes_total and
// signet_http_requests_total count (failures are logged at info, with
// the reason).
func quietRoute(route string) bool {
	switch route {
	case "/healthz", "/readyz", "/metrics", "/v1/token/refresh":
		return true
	}
	return strings.HasPrefix(route, "/.well-known/")
}

// recovery turns a panic into a JSON 500 and logs the stack.
func recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				logger(c).ErrorContext(requestContext(c), "panic", "panic", r, "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					fail(c, apiError(issuer.KindInternal, "the server could not complete the request"))
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}

// securityHeaders sets headers every API response should carry.
func securityHeaders() gin.HandlerFunc {
	// Canonical keys and shared one-element values: every response carries
	// them, so they are set without the per-call allocation of Header.Set
	// (a one-element slice cannot be appended to in place).
	static := [...]struct {
		key   string
		value []string
	}{
		{"X-Content-Type-Options", []string{"nosniff"}},
		{"Referrer-Policy", []string{"no-referrer"}},
		{"X-Frame-Options", []string{"DENY"}},
	}
	return func(c *gin.Context) {
		h := c.Writer.Header()
		for _, s := range static {
			h[s.key] = s.value
		}
		c.Next()
	}
}

// noStore marks responses that carry tokens or account data.
func noStore() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.Header("Pragma", "no-cache")
		c.Next()
	}
}

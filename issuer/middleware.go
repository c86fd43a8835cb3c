package issuer

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
)

const (
	loggerKey    = "signet.logger"
	requestIDKey = "signet.request_id"
)

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID takes a well-formed X-Request-Id from the caller or makes one,
// echoes it, and gives the request a logger that carries it.
func requestID(base *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if !validRequestID.MatchString(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Header("X-Request-Id", id)
		c.Set(requestIDKey, id)
		c.Set(loggerKey, base.With("request_id", id))
		c.Next()
	}
}

// accessLog writes one structured line per request. It logs the route
// pattern and path only: no query string, no headers, no body, so that no
// token or password reaches the log.
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
		if status >= 500 {
			level = slog.LevelError
		}
		logger(c).Log(c.Request.Context(), level, "request",
			"method", c.Request.Method, "route", route, "path", c.Request.URL.Path,
			"status", status, "duration_ms", float64(d.Microseconds())/1000,
			"client_ip", c.ClientIP(), "bytes", c.Writer.Size())
	}
}

// recovery turns a panic into a JSON 500 and logs the stack.
func recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				logger(c).ErrorContext(c.Request.Context(), "panic", "panic", r, "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					fail(c, apiError("server_error", "the server could not complete the request"))
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}

// securityHeaders sets headers every API response should carry.
func securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
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

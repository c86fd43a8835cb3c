package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// csrfHeader is the header browser clients send on cookie-authenticated
// requests. A cross-site form cannot set a custom header, and a cross-site
// script can only do so after a CORS preflight that names an allowed origin.
const csrfHeader = "X-Signet-CSRF"

// corsPolicy answers CORS per the Fetch standard. The JWK set and discovery
// documents are public to every origin, without credentials. /v1 and /oauth
// answer only the listed origins, with credentials (the refresh cookie).
type corsPolicy struct {
	origins map[string]bool
}

func newCORSPolicy(origins []string) *corsPolicy {
	p := &corsPolicy{origins: map[string]bool{}}
	for _, o := range origins {
		p.origins[strings.TrimRight(o, "/")] = true
	}
	return p
}

func (p *corsPolicy) allowed(origin string) bool { return origin != "" && p.origins[origin] }

func isPublicDocument(path string) bool {
	return strings.HasPrefix(path, "/.well-known/")
}

func isAPI(path string) bool {
	return strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/oauth/")
}

// middleware sets CORS headers and answers preflight requests itself.
func (p *corsPolicy) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		path, origin := c.Request.URL.Path, c.GetHeader("Origin")
		h := c.Writer.Header()
		preflight := c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != ""
		switch {
		case isPublicDocument(path):
			h.Set("Access-Control-Allow-Origin", "*")
			if preflight {
				h.Set("Access-Control-Allow-Methods", "GET")
				h.Set("Access-Control-Allow-Headers", "If-None-Match")
				h.Set("Access-Control-Max-Age", "86400")
				c.AbortWithStatus(http.StatusNoContent)
				return
			}
			h.Set("Access-Control-Expose-Headers", "ETag")
		case isAPI(path):
			h.Add("Vary", "Origin")
			if !p.allowed(origin) {
				if preflight {
					fail(c, apiError(kindForbidden, "this origin is not allowed to call the API (SIGNET_CORS_ORIGINS)"))
					return
				}
				break // no CORS headers: the browser withholds the response
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			if preflight {
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, "+csrfHeader)
				h.Set("Access-Control-Max-Age", "600")
				c.AbortWithStatus(http.StatusNoContent)
				return
			}
			h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate, X-Request-Id")
		}
		c.Next()
	}
}

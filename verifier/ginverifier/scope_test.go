package ginverifier_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/verifier/ginverifier"
)

// TestRequireScopeAndRole: the Gin middleware answers a token without the
// required scope or role with 403 insufficient_scope and the scope
// challenge attribute, and lets a token with the scope through.
func TestRequireScopeAndRole(t *testing.T) {
	gin.SetMode(gin.TestMode)
	v, mint := setup(t)
	r := gin.New()
	ok := func(c *gin.Context) { c.String(http.StatusOK, "ok") }
	r.GET("/read", ginverifier.Middleware(v), ginverifier.RequireScope("orders:read"), ok)
	r.GET("/write", ginverifier.Middleware(v), ginverifier.RequireScope("orders:write"), ok)
	r.GET("/admin", ginverifier.Middleware(v), ginverifier.RequireRole("admin"), ok)
	tok := mint(time.Time{})
	for _, tt := range []struct {
		path      string
		status    int
		challenge string
	}{
		{"/read", 200, ""},
		{"/write", 403, `Bearer scope="orders:write", error="insufficient_scope", error_description="the access token lacks the scope orders:write"`},
		{"/admin", 403, `Bearer error="insufficient_scope", error_description="the access token lacks a role: one of admin"`},
	} {
		req := httptest.NewRequest("GET", tt.path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != tt.status || rec.Header().Get("WWW-Authenticate") != tt.challenge {
			t.Fatalf("%s: %d %q, want %d %q", tt.path, rec.Code, rec.Header().Get("WWW-Authenticate"), tt.status, tt.challenge)
		}
		if tt.status == 403 && !strings.Contains(rec.Body.String(), `"error":"insufficient_scope"`) {
			t.Fatalf("%s: body %s", tt.path, rec.Body)
		}
	}
}

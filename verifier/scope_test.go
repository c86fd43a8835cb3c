package verifier

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRequireScopeAndRole: after Middleware, RequireScope and RequireRole
// let through tokens that carry what they require, and answer the others
// with 403 insufficient_scope, naming the missing scope in the RFC 6750
// scope challenge attribute.
func TestRequireScopeAndRole(t *testing.T) {
	f := newRuleFixture(t)
	reader := f.ed.token(t, testNow, map[string]any{"scope": "video:read", "roles": []string{"viewer"}})
	editor := f.ed.token(t, testNow, map[string]any{"scope": "video:read video:write", "roles": []string{"editor"}})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	write := Middleware(f.v)(RequireScope("video:write")(ok))
	edit := Middleware(f.v)(RequireRole("editor", "admin")(ok))
	tests := []struct {
		name      string
		h         http.Handler
		tok       string
		status    int
		challenge string
	}{
		{"scope present", write, editor, 200, ""},
		{"scope missing", write, reader, 403, `Bearer scope="video:write", error="insufficient_scope", error_description="the access token lacks the scope video:write"`},
		{"role present", edit, editor, 200, ""},
		{"role missing", edit, reader, 403, `Bearer error="insufficient_scope", error_description="the access token lacks a role: one of editor, admin"`},
		{"no token", write, "", 401, `Bearer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/videos", nil)
			if tt.tok != "" {
				req.Header.Set("Authorization", "Bearer "+tt.tok)
			}
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == 200 {
				return
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate = %q\nwant %q", got, tt.challenge)
			}
			var body map[string]string
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if tt.status == 403 && body["error"] != "insufficient_scope" {
				t.Fatalf("body %v", body)
			}
		})
	}
	// Without Middleware before it, nothing gets through.
	rec := httptest.NewRecorder()
	RequireScope("video:read")(ok).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 403 {
		t.Fatalf("no claims: %d", rec.Code)
	}
}

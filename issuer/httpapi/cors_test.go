package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

func TestCORS(t *testing.T) {
	const app = "http://app.test:3000"
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) {
		c.CORSOrigins = []string{app}
	})
	preflight := func(path, origin string) *http.Response {
		resp, _ := e.do("OPTIONS", path, nil, "Origin", origin, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type")
		return resp
	}

	t.Run("listed origin preflight", func(t *testing.T) {
		resp := preflight("/v1/signin", app)
		h := resp.Header
		if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != app || h.Get("Access-Control-Allow-Credentials") != "true" ||
			h.Get("Access-Control-Allow-Methods") == "" || h.Get("Access-Control-Allow-Headers") == "" {
			t.Fatalf("preflight: %d %v", resp.StatusCode, h)
		}
	})
	t.Run("unlisted origin preflight", func(t *testing.T) {
		resp := preflight("/v1/signin", "http://evil.test")
		if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("preflight from an unlisted origin: %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("actual request", func(t *testing.T) {
		e.signup("ann@example.com", "correct horse")
		resp, _ := e.do("POST", "/v1/signin", map[string]string{"email": "ann@example.com", "password": "correct horse"}, "Origin", app)
		if resp.Header.Get("Access-Control-Allow-Origin") != app || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("listed origin: %v", resp.Header)
		}
		resp, _ = e.do("POST", "/v1/signin", map[string]string{"email": "ann@example.com", "password": "correct horse"}, "Origin", "http://evil.test")
		if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("unlisted origin got CORS headers: %v", resp.Header)
		}
		if got := resp.Header.Values("Vary"); len(got) == 0 {
			t.Fatal("no Vary: Origin")
		}
	})
	t.Run("public documents", func(t *testing.T) {
		for _, p := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration"} {
			resp, _ := e.do("GET", p, nil, "Origin", "http://anyone.test")
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Fatalf("%s: %v", p, resp.Header)
			}
		}
		resp, _ := e.do("OPTIONS", "/.well-known/jwks.json", nil, "Origin", "http://anyone.test", "Access-Control-Request-Method", "GET")
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("jwks preflight: %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("no origins configured", func(t *testing.T) {
		e2 := newEnv(t, storetest.Open(t, store.SQLite))
		resp, _ := e2.do("OPTIONS", "/v1/signin", nil, "Origin", app, "Access-Control-Request-Method", "POST")
		if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("CORS must be off by default: %d %v", resp.StatusCode, resp.Header)
		}
	})
}

package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// Load balancers and uptime checkers probe with HEAD: the probes and the
// public documents answer it with GET's status and headers and no body.
func TestHeadAnswersAsGet(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	for _, path := range []string{"/healthz", "/readyz", "/.well-known/jwks.json", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		get, _ := e.do("GET", path, nil)
		head, body := e.do("HEAD", path, nil)
		if head.StatusCode != http.StatusOK || get.StatusCode != http.StatusOK {
			t.Errorf("%s: HEAD %d, GET %d", path, head.StatusCode, get.StatusCode)
		}
		if len(body) != 0 {
			t.Errorf("%s: HEAD answered with a body: %q", path, body)
		}
		for _, h := range []string{"Content-Type", "Cache-Control", "ETag"} {
			if head.Header.Get(h) != get.Header.Get(h) {
				t.Errorf("%s: HEAD %s = %q, GET %q", path, h, head.Header.Get(h), get.Header.Get(h))
			}
		}
	}
	// A HEAD with the current ETag is a 304, as a GET is.
	get, _ := e.do("GET", "/.well-known/jwks.json", nil)
	if resp, _ := e.do("HEAD", "/.well-known/jwks.json", nil, "If-None-Match", get.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
		t.Errorf("HEAD with a matching ETag: %d", resp.StatusCode)
	}
	// Writes are not probes.
	if resp, _ := e.do("HEAD", "/v1/signin", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("HEAD /v1/signin: %d", resp.StatusCode)
	}
}

func TestIndexNamesTheDocuments(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	resp, body := e.do("GET", "/", nil)
	var doc map[string]string
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("GET /: %d %s", resp.StatusCode, body)
	}
	want := map[string]string{
		"service":   "signet",
		"issuer":    "http://issuer.test",
		"discovery": "http://issuer.test/.well-known/openid-configuration",
		"jwks_uri":  "http://issuer.test/.well-known/jwks.json",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %q, want %q", k, doc[k], v)
		}
	}
}

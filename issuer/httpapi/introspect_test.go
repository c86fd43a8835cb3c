package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

const introspectionToken = "rs-credential-0123456789"

func (e *env) introspect(token string, header ...string) (*http.Response, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// TestIntrospection: RFC 7662 with the static bearer; active for a live
// access token, inactive once revoked, expired, or foreign; refused
// without the credential.
func TestIntrospection(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, func(s *settings, _ *keys.Policy) { s.IntrospectionToken = introspectionToken })
		auth := []string{"Authorization", "Bearer " + introspectionToken}
		_, disc := e.do("GET", "/.well-known/openid-configuration", nil)
		if !strings.Contains(string(disc), `"introspection_endpoint":"http://issuer.test/oauth/introspect"`) {
			t.Fatalf("discovery: %s", disc)
		}
		e.signup("ann@example.com", "correct horse")
		tk := e.signin("ann@example.com", "correct horse")
		other := e.signin("ann@example.com", "correct horse")

		for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "Basic " + introspectionToken}} {
			resp, body := e.introspect(tk.AccessToken, h...)
			if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_token" || resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("without the credential (%v): %d %v", h, resp.StatusCode, body)
			}
		}
		resp, body := e.introspect(tk.AccessToken, auth...)
		if resp.StatusCode != 200 || body["active"] != true || body["sub"] != tk.User.ID || body["sid"] == nil || body["exp"] == nil ||
			resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("live token: %d %v", resp.StatusCode, body)
		}
		inactive := func(what, token string) {
			t.Helper()
			resp, body := e.introspect(token, auth...)
			if resp.StatusCode != 200 || len(body) != 1 || body["active"] != false {
				t.Fatalf("%s: %d %v", what, resp.StatusCode, body)
			}
		}
		inactive("garbage", "not-a-token")
		inactive("refresh token", tk.RefreshToken)
		parts := strings.Split(tk.AccessToken, ".")
		inactive("forged signature", parts[0]+"."+parts[1]+"."+b64([]byte("forged-signature-forged-signature-forged-signature-forged-signa")))
		if resp, body := e.do("POST", "/v1/signout", nil, "Authorization", "Bearer "+tk.AccessToken); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("signout: %d %s", resp.StatusCode, body)
		}
		inactive("signed out", tk.AccessToken)
		e.clock.Advance(16 * time.Minute)
		inactive("expired", other.AccessToken)
	})
}

// TestIntrospectionOff: without SIGNET_INTROSPECTION_TOKEN no bearer is
// accepted, and discovery does not advertise the endpoint.
func TestIntrospectionOff(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	if _, disc := e.do("GET", "/.well-known/openid-configuration", nil); strings.Contains(string(disc), "introspection") {
		t.Fatalf("discovery: %s", disc)
	}
	for _, bearer := range []string{"", " "} {
		resp, body := e.introspect("x", "Authorization", "Bearer "+bearer)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bearer %q: %d %v", bearer, resp.StatusCode, body)
		}
	}
}

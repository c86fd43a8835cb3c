package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

func TestRefreshCookieMode(t *testing.T) {
	const app = "http://app.test"
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) { c.CORSOrigins = []string{app} })
	e.signup("ann@example.com", "correct horse")
	creds := map[string]any{"email": "ann@example.com", "password": "correct horse", "refresh_cookie": true}
	browser := []string{"Origin", app, "X-Signet-CSRF", "1"}

	t.Run("CSRF defences", func(t *testing.T) {
		resp, body := e.do("POST", "/v1/signin", creds, "Origin", app)
		wantError(t, resp, body, http.StatusForbidden, "invalid_request")
		resp, body = e.do("POST", "/v1/signin", creds, "Origin", "http://evil.test", "X-Signet-CSRF", "1")
		wantError(t, resp, body, http.StatusForbidden, "invalid_request")
		resp, body = e.do("POST", "/v1/signin", creds, "X-Signet-CSRF", "1")
		wantError(t, resp, body, http.StatusForbidden, "invalid_request")
	})

	resp, body := e.do("POST", "/v1/signin", creds, browser...)
	if resp.StatusCode != 200 {
		t.Fatalf("cookie sign-in: %d %s", resp.StatusCode, body)
	}
	var tk map[string]any
	_ = json.Unmarshal(body, &tk)
	if _, ok := tk["refresh_token"]; ok || tk["access_token"] == "" || tk["refresh_expires_in"] == nil {
		t.Fatalf("cookie mode body must carry no refresh token: %s", body)
	}
	cookie := refreshCookieOf(t, resp)
	if !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.Domain != "" ||
		!strings.HasPrefix(cookie.Value, "sgt_rt2_") || cookie.MaxAge <= 0 {
		t.Fatalf("refresh cookie = %+v", cookie)
	}
	withCookie := func(c *http.Cookie, h ...string) []string {
		return append(append([]string{"Cookie", c.Name + "=" + c.Value}, browser...), h...)
	}

	t.Run("refresh needs the CSRF header", func(t *testing.T) {
		resp, body := e.do("POST", "/v1/token/refresh", map[string]string{}, "Cookie", cookie.Name+"="+cookie.Value, "Origin", app)
		wantError(t, resp, body, http.StatusForbidden, "invalid_request")
	})

	resp, body = e.do("POST", "/v1/token/refresh", map[string]string{}, withCookie(cookie)...)
	if resp.StatusCode != 200 || strings.Contains(string(body), "refresh_token\"") {
		t.Fatalf("cookie refresh: %d %s", resp.StatusCode, body)
	}
	next := refreshCookieOf(t, resp)
	if next.Value == cookie.Value {
		t.Fatal("the cookie's refresh token did not rotate")
	}
	// Within the grace window the old cookie gets the same successor.
	resp, _ = e.do("POST", "/v1/token/refresh", map[string]string{}, withCookie(cookie)...)
	if again := refreshCookieOf(t, resp); again.Value != next.Value {
		t.Fatal("a repeat within the grace window must return the same successor")
	}

	// Sign-out with only the cookie ends the session and clears the cookie.
	resp, body = e.do("POST", "/v1/signout", nil, withCookie(next)...)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("cookie sign-out: %d %s", resp.StatusCode, body)
	}
	if cleared := refreshCookieOf(t, resp); cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Fatalf("sign-out did not clear the cookie: %+v", cleared)
	}
	resp, body = e.do("POST", "/v1/token/refresh", map[string]string{}, withCookie(next)...)
	wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
	if cleared := refreshCookieOf(t, resp); cleared.MaxAge >= 0 {
		t.Fatal("a refused cookie refresh must clear the cookie")
	}

	t.Run("no cookie, no token", func(t *testing.T) {
		resp, body := e.do("POST", "/v1/token/refresh", map[string]string{}, browser...)
		wantError(t, resp, body, http.StatusBadRequest, "invalid_request")
	})
}

func refreshCookieOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-signet_refresh" {
			return c
		}
	}
	t.Fatalf("no refresh cookie in %v", resp.Header.Values("Set-Cookie"))
	return nil
}

// A refresh refused for a reason that does not end the session (here the
// per-address limit) leaves the browser's cookie alone.
func TestRefreshCookieKeptOnTransientRefusal(t *testing.T) {
	const app = "http://app.test"
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) {
		c.CORSOrigins = []string{app}
		c.RefreshFailureLimit = issuer.RateLimit{Burst: 1, Per: time.Minute}
	})
	e.signup("ann@example.com", "correct horse")
	resp, body := e.do("POST", "/v1/signin", map[string]any{"email": "ann@example.com", "password": "correct horse", "refresh_cookie": true},
		"Origin", app, "X-Signet-CSRF", "1")
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
	}
	cookie := refreshCookieOf(t, resp)
	resp, body = e.do("POST", "/v1/token/refresh", map[string]string{"refresh_token": "sgt_rt_forged"})
	wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
	resp, body = e.do("POST", "/v1/token/refresh", map[string]string{}, "Cookie", cookie.Name+"="+cookie.Value, "Origin", app, "X-Signet-CSRF", "1")
	wantError(t, resp, body, http.StatusTooManyRequests, "too_many_requests")
	if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Fatalf("a 429 cleared the refresh cookie: %v", sc)
	}
}

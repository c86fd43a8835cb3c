package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// TestRevocationEndsSingleSignOn: a password change and a sign-out of
// the other sessions end the browser sessions at the issuer's pages too.
// Otherwise whoever holds such a cookie (the attacker the user changes
// the password against) gets new codes, and so new sessions, from
// /oauth/authorize without the password.
func TestRevocationEndsSingleSignOn(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db)
		for _, tc := range []struct {
			name string
			end  func(accessToken string) (*http.Response, []byte)
		}{
			{"password change", func(at string) (*http.Response, []byte) {
				return e.do("POST", "/v1/password", map[string]string{"current_password": testPassword, "new_password": testPassword + " 2"},
					"Authorization", "Bearer "+at)
			}},
			{"sign-out of the others", func(at string) (*http.Response, []byte) {
				return e.do("POST", "/v1/signout?scope=others", nil, "Authorization", "Bearer "+at)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				attacker := newBrowser(t, e)
				attacker.login(authorizePath())
				// The user's own session, from an app.
				at := e.signin("ann@example.com", testPassword).AccessToken
				if resp, body := tc.end(at); resp.StatusCode != http.StatusNoContent {
					t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, body)
				}
				resp, page := attacker.get(authorizePath("prompt", "none"))
				if q := redirected(t, resp, page, appRedirect); q.Get("error") != "login_required" || q.Get("code") != "" {
					t.Fatalf("after the %s the browser session still gets codes: %v", tc.name, q)
				}
				if tc.name == "password change" {
					// Back to the first password for the next case.
					if resp, body := e.do("POST", "/v1/password", map[string]string{"current_password": testPassword + " 2", "new_password": testPassword},
						"Authorization", "Bearer "+at); resp.StatusCode != http.StatusNoContent {
						t.Fatalf("password back: %d %s", resp.StatusCode, body)
					}
				}
			})
		}
	})
}

// TestAuthorizationResponseNotStored: every answer that carries a code
// says Cache-Control: no-store, the sign-in form's redirect included
// (it is served outside the /oauth group).
func TestAuthorizationResponseNotStored(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db)
		b := newBrowser(t, e)
		_, page := b.get(authorizePath())
		resp, body := b.signIn(page, "ann@example.com", testPassword)
		if q := redirected(t, resp, body, appRedirect); q.Get("code") == "" {
			t.Fatalf("no code: %v", q)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("sign-in form's redirect with the code: Cache-Control %q, want no-store", cc)
		}
		resp, body = b.get(authorizePath())
		if q := redirected(t, resp, body, appRedirect); q.Get("code") == "" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("single sign-on redirect: %v, Cache-Control %q", q, resp.Header.Get("Cache-Control"))
		}
	})
}

// TestCodeIssueLimit: a signed-in browser gets a code per request
// without any password work, so codes (a database row kept a day and an
// audit event each) are capped per user: by default 60 a minute, then
// temporarily_unavailable to the client with Retry-After, nothing
// stored. Another user is not affected, and the budget refills.
func TestCodeIssueLimit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db)
		if _, err := e.iss.Lifecycle.CreateUser(context.Background(), issuer.Caller{}, "bob@example.com", testPassword); err != nil {
			t.Fatal(err)
		}
		b := newBrowser(t, e)
		b.login(authorizePath())
		for i := 1; i < 60; i++ {
			resp, body := b.get(authorizePath())
			if q := redirected(t, resp, body, appRedirect); q.Get("code") == "" {
				t.Fatalf("code %d of 60: %v", i+1, q)
			}
		}
		events := func() int {
			ev, err := db.Events(context.Background(), "authorization_code_issued")
			if err != nil {
				t.Fatal(err)
			}
			return len(ev)
		}
		before := events()
		resp, body := b.get(authorizePath("prompt", "none"))
		q := redirected(t, resp, body, appRedirect)
		if q.Get("error") != "temporarily_unavailable" || q.Get("code") != "" || q.Get("state") != "st-1" {
			t.Fatalf("the 61st code in a minute: %v, want temporarily_unavailable", q)
		}
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
		if got := events(); got != before {
			t.Errorf("a refused code was recorded: %d events, want %d", got, before)
		}

		bob := newBrowser(t, e)
		_, page := bob.get(authorizePath())
		resp, body = bob.signIn(page, "bob@example.com", testPassword)
		if q := redirected(t, resp, body, appRedirect); q.Get("code") == "" {
			t.Fatalf("another user: %v", q)
		}

		e.clock.Advance(2 * time.Second)
		resp, body = b.get(authorizePath())
		if q := redirected(t, resp, body, appRedirect); q.Get("code") == "" {
			t.Fatalf("after the budget refilled: %v", q)
		}
	})
}

// TestSignInReplacesBrowserSession: a new sign-in at the page ends the
// browser session the browser held before; a copy of the old cookie
// (taken before the user signed in again) gets no more codes.
func TestSignInReplacesBrowserSession(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db)
		b := newBrowser(t, e)
		b.login(authorizePath())
		u, _ := url.Parse(e.srv.URL)
		var old string
		for _, ck := range b.http.Jar.Cookies(u) {
			if ck.Name == "__Host-signet_session" {
				old = ck.Value
			}
		}
		if old == "" {
			t.Fatal("no browser session cookie")
		}
		_, page := b.get(authorizePath("prompt", "login"))
		resp, body := b.signIn(page, "ann@example.com", testPassword)
		if q := redirected(t, resp, body, appRedirect); q.Get("code") == "" {
			t.Fatalf("sign-in again: %v", q)
		}
		copyOf := newBrowser(t, e)
		copyOf.http.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-signet_session", Value: old, Path: "/"}})
		resp, body = copyOf.get(authorizePath("prompt", "none"))
		if q := redirected(t, resp, body, appRedirect); q.Get("error") != "login_required" {
			t.Fatalf("the replaced browser session still gets codes: %v", q)
		}
		resp, body = b.get(authorizePath("prompt", "none"))
		if q := redirected(t, resp, body, appRedirect); q.Get("code") == "" {
			t.Fatalf("the new browser session: %v", q)
		}
	})
}

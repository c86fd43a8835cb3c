package httpapi_test

import (
	"net/http"
	"testing"

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

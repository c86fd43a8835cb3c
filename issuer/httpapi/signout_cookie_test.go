package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// TestSignoutBearerWithRefreshCookie: a sign-out with an access token
// that also carries a refresh cookie. The cookie is cleared only when the
// session it names is over: the caller's own, or another session of the
// same user, which the sign-out then ends too. A cookie of another user's
// session, or one that is no genuine refresh token, is left alone, and so
// is its session.
func TestSignoutBearerWithRefreshCookie(t *testing.T) {
	const app = "http://app.test"
	browser := []string{"Origin", app, "X-Signet-CSRF", "1"}
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, func(c *settings, _ *keys.Policy) { c.CORSOrigins = []string{app} })
		e.signup("ann@example.com", "correct horse")
		e.signup("bob@example.com", "battery staple")
		// cookieSignin signs in in cookie mode: the tokens (the refresh
		// token is the cookie's) and the cookie.
		cookieSignin := func(email, pw string) (tokens, *http.Cookie) {
			t.Helper()
			resp, body := e.do("POST", "/v1/signin", map[string]any{"email": email, "password": pw, "refresh_cookie": true}, browser...)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("cookie sign-in: %d %s", resp.StatusCode, body)
			}
			var tk tokens
			_ = json.Unmarshal(body, &tk)
			c := refreshCookieOf(t, resp)
			tk.RefreshToken = c.Value
			return tk, c
		}
		// signout signs out with the access token and the cookie value, and
		// reports whether the response cleared the cookie.
		signout := func(at, cookie, query string) (cleared bool) {
			t.Helper()
			resp, body := e.do("POST", "/v1/signout"+query, nil,
				append([]string{"Authorization", "Bearer " + at, "Cookie", "__Host-signet_refresh=" + cookie}, browser...)...)
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("signout: %d %s", resp.StatusCode, body)
			}
			switch sc := resp.Header.Values("Set-Cookie"); len(sc) {
			case 0:
				return false
			case 1:
				c := refreshCookieOf(t, resp)
				if c.MaxAge >= 0 || c.Value != "" {
					t.Fatalf("sign-out set the cookie to %+v", c)
				}
				return true
			default:
				t.Fatalf("sign-out sent %v", sc)
			}
			return false
		}
		revoked := func(tk tokens) bool { t.Helper(); return e.sessionOf(tk).Revoked() }

		t.Run("another session of the same user", func(t *testing.T) {
			a := e.signin("ann@example.com", "correct horse")
			other, cookie := cookieSignin("ann@example.com", "correct horse")
			if !signout(a.AccessToken, cookie.Value, "") {
				t.Fatal("the cookie was kept")
			}
			if !revoked(a) || !revoked(other) {
				t.Fatalf("revoked: bearer's session %v, cookie's session %v; want both", revoked(a), revoked(other))
			}
			ev, _ := db.Events(context.Background(), "session_revoked")
			var found bool
			for _, x := range ev {
				found = found || (*x.SessionID == e.sessionOf(other).ID && strings.Contains(x.Detail, `"signout_cookie"`))
			}
			if !found {
				t.Fatalf("no session_revoked event for the cookie's session: %+v", ev)
			}
		})

		t.Run("the caller's own session", func(t *testing.T) {
			own, cookie := cookieSignin("ann@example.com", "correct horse")
			if !signout(own.AccessToken, cookie.Value, "") || !revoked(own) {
				t.Fatal("own session: cookie kept or session alive")
			}
			// The cookie of a session already over is cleared too.
			a := e.signin("ann@example.com", "correct horse")
			if !signout(a.AccessToken, cookie.Value, "") {
				t.Fatal("the cookie of an ended session was kept")
			}
		})

		t.Run("scope=others keeps the caller's own cookie", func(t *testing.T) {
			own, cookie := cookieSignin("ann@example.com", "correct horse")
			if signout(own.AccessToken, cookie.Value, "?scope=others") || revoked(own) {
				t.Fatal("scope=others cleared the caller's cookie or ended its session")
			}
		})

		t.Run("another user's session", func(t *testing.T) {
			a := e.signin("ann@example.com", "correct horse")
			bob, cookie := cookieSignin("bob@example.com", "battery staple")
			if signout(a.AccessToken, cookie.Value, "") {
				t.Fatal("another user's cookie was cleared")
			}
			if !revoked(a) || revoked(bob) {
				t.Fatalf("revoked: ann %v, bob %v; want ann only", revoked(a), revoked(bob))
			}
		})

		t.Run("not a genuine refresh token", func(t *testing.T) {
			victim, cookie := cookieSignin("ann@example.com", "correct horse")
			flipped := []byte(cookie.Value)
			flipped[len(flipped)-3] ^= 'A' ^ 'B'
			ahead := e.mintToken(e.sessionOf(victim), 7)
			for name, v := range map[string]string{"garbage": "nope", "bad MAC": string(flipped), "counter ahead": ahead} {
				a := e.signin("ann@example.com", "correct horse")
				if signout(a.AccessToken, v, "") {
					t.Fatalf("%s: the cookie was cleared", name)
				}
				if revoked(victim) {
					t.Fatalf("%s: the session it names was ended", name)
				}
			}
		})
	})
}

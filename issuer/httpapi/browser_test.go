package httpapi_test

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/httpapi/chromiumtest"
	"github.com/signet-auth/signet/issuer/mailer/mailpittest"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// TestBrowserSignInPages drives headless Chromium through the issuer's
// pages: the sign-in form's POST is answered with a redirect to the
// client on another origin, which Chromium follows only because the
// page's CSP form-action names that origin (Chromium applies form-action
// to redirects after a form POST); the browser session then signs the
// next request in without the form; the logout confirmation's POST
// redirects to the client's post-logout URI the same way.
func TestBrowserSignInPages(t *testing.T) {
	chromiumtest.Require(t)
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, issuerURL, rp := newBrowserIssuer(t, db)
		authorize := issuerURL + authorizePath("client_id", "native", "redirect_uri", rp.URL+"/cb", "state", "br-1")
		ctx := chromiumtest.New(t)
		text, run := chromiumSteps(t, ctx)
		var code, state, path string
		run("sign in",
			chromedp.Navigate(authorize),
			chromedp.WaitVisible(`#email`),
			chromedp.SendKeys(`#email`, "ann@example.com"),
			chromedp.SendKeys(`#password`, testPassword),
			chromedp.Submit(`#password`),
			chromedp.WaitVisible(`#code`),
		)
		code, state = text(`#code`), text(`#state`)
		if state != "br-1" || !strings.HasPrefix(code, "sgt_ac_") {
			t.Fatalf("the client got code %q state %q", code, state)
		}
		tk := e.redeemOK(code, "client_id", "native", "redirect_uri", rp.URL+"/cb")
		if tk.IDToken == "" {
			t.Fatal("no ID token")
		}

		// Single sign-on: straight back to the client.
		run("single sign-on",
			chromedp.Navigate(issuerURL+authorizePath("client_id", "native", "redirect_uri", rp.URL+"/cb", "state", "br-2")),
			chromedp.WaitVisible(`#code`),
		)
		code, state = text(`#code`), text(`#state`)
		if state != "br-2" || code == "" {
			t.Fatalf("SSO: code %q state %q", code, state)
		}

		// Logout without a hint asks; the confirmation's POST redirects.
		run("logout",
			chromedp.Navigate(issuerURL+"/oauth/logout?client_id=native&post_logout_redirect_uri="+rp.URL+"/bye&state=br-3"),
			chromedp.WaitVisible(`button[type=submit]`),
			chromedp.Click(`button[type=submit]`),
			chromedp.WaitVisible(`#path`),
		)
		path, state = text(`#path`), text(`#state`)
		if path != "/bye" || state != "br-3" {
			t.Fatalf("after logout: path %q state %q", path, state)
		}
		run("signed out",
			chromedp.Navigate(authorize),
			chromedp.WaitVisible(`#password`),
		)
	})
}

// TestBrowserForgotPassword drives Chromium through the whole hosted
// reset, with no client app and no SIGNET_SITE_URL: the sign-in page's
// "Forgot your password?", the form, the message in Mailpit, its link to
// the issuer's reset page, the new password, then sign-in with it and
// back to the client.
func TestBrowserForgotPassword(t *testing.T) {
	chromiumtest.Require(t)
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		mp := mailpittest.Start(t)
		e, issuerURL, rp := newBrowserIssuer(t, db, func(s *settings, _ *keys.Policy) { s.Lifecycle.MailSender = smtpTo(t, mp) })
		authorize := issuerURL + authorizePath("client_id", "native", "redirect_uri", rp.URL+"/cb", "state", "fp-1")
		ctx := chromiumtest.New(t)
		text, run := chromiumSteps(t, ctx)
		const newPassword = "staple battery horse"

		run("forgot password",
			chromedp.Navigate(authorize),
			chromedp.WaitVisible(`#password`),
			chromedp.Click(`//a[contains(., "Forgot your password?")]`),
			chromedp.WaitVisible(`#email`),
			chromedp.SendKeys(`#email`, "ann@example.com"),
			chromedp.Submit(`#email`),
			chromedp.WaitVisible(`//h1[contains(., "Check your email")]`),
		)
		msg := e.mail(mp, "ann@example.com", "Reset your password")
		link, ok := msg.Link(issuerURL + issuer.PathResetPassword + "?token=sgt_pr_")
		if !ok {
			t.Fatalf("no link to the issuer's reset page in:\n%s", msg.Text)
		}
		run("new password",
			chromedp.Navigate(link),
			chromedp.WaitVisible(`#password`),
			chromedp.SendKeys(`#password`, newPassword),
			chromedp.Submit(`#password`),
			chromedp.WaitVisible(`//h1[contains(., "Password changed")]`),
		)
		run("sign in with it",
			chromedp.Navigate(authorize),
			chromedp.WaitVisible(`#password`),
			chromedp.SendKeys(`#email`, "ann@example.com"),
			chromedp.SendKeys(`#password`, newPassword),
			chromedp.Submit(`#password`),
			chromedp.WaitVisible(`#code`),
		)
		if code, state := text(`#code`), text(`#state`); state != "fp-1" || !strings.HasPrefix(code, "sgt_ac_") {
			t.Fatalf("the client got code %q state %q", code, state)
		}
		resp, body := e.do("POST", "/v1/signin", map[string]string{"email": "ann@example.com", "password": testPassword})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
	})
}

// newBrowserIssuer is the OpenID Provider of newOIDCEnv on
// http://localhost (browsers keep Secure, __Host- cookies on it over
// http), with a public client "native" whose redirect URIs are on rp: a
// page on its own loopback origin that shows what it was sent.
func newBrowserIssuer(t *testing.T, db *store.DB, opts ...func(*settings, *keys.Policy)) (*env, string, *httptest.Server) {
	t.Helper()
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>client</title><p id="path">%s</p><p id="code">%s</p><p id="state">%s</p>`,
			html.EscapeString(r.URL.Path), html.EscapeString(r.URL.Query().Get("code")), html.EscapeString(r.URL.Query().Get("state")))
	}))
	t.Cleanup(rp.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuerURL := "http://localhost:" + strings.Split(ln.Addr().String(), ":")[1]
	e, _ := newOIDCEnv(t, db, append([]func(*settings, *keys.Policy){func(s *settings, _ *keys.Policy) {
		s.IssuerURL, s.Audience = issuerURL, []string{issuerURL}
	}}, opts...)...)
	srv := httptest.NewUnstartedServer(e.server.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	e.srv = srv
	if _, _, err := e.iss.Registry.CreateClient(context.Background(), issuer.Caller{}, issuer.Client{
		ID: "native", Type: issuer.ClientPublic, GrantTypes: []string{issuer.GrantAuthorizationCode},
		RedirectURIs: []string{"http://127.0.0.1/cb"}, PostLogoutRedirectURIs: []string{rp.URL + "/bye"},
	}); err != nil {
		t.Fatal(err)
	}
	return e, issuerURL, rp
}

// chromiumSteps returns text, which reads an element's text, and run,
// which runs a step's actions within 20 s, failing the test with where
// the browser is.
func chromiumSteps(t *testing.T, ctx context.Context) (func(sel string) string, func(step string, actions ...chromedp.Action[chromedp.Void])) {
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return v
	}
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (at %s)", step, err, loc)
		}
	}
	return text, run
}

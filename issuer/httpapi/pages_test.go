package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/signet-auth/signet/issuer/httpapi"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// TestPageTemplates: a template directory replaces the embedded pages
// file by file (the others stay), and one that does not parse is refused
// when the server is built.
func TestPageTemplates(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db, func(s *settings, _ *keys.Policy) {
			s.PageTemplates = fstest.MapFS{
				"style.css":   {Data: []byte("body { color: rebeccapurple; }")},
				"signin.html": {Data: []byte(`{{define "content"}}<form method="post" action="{{.Base}}/ui/signin" class="acme"><input type="hidden" name="csrf_token" value="{{.CSRF}}"><input type="hidden" name="authz" value="{{.Authz}}"><label for="e">Work email</label><input id="e" name="email"><label for="p">Password</label><input id="p" name="password" type="password"><button>Go</button></form>{{end}}`)},
			}
		})
		b := newBrowser(t, e)
		resp, page := b.get(authorizePath())
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `class="acme"`) || !strings.Contains(page, "Work email") || !strings.Contains(page, "<title>Sign in · Signet</title>") {
			t.Fatalf("re-branded sign-in page: %d %s", resp.StatusCode, page)
		}
		resp, body := b.signIn(page, "ann@example.com", testPassword)
		redirected(t, resp, body, appRedirect)
		resp, css := b.get("/ui/style.css")
		if resp.StatusCode != http.StatusOK || css != "body { color: rebeccapurple; }" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
			t.Fatalf("style.css: %d %s", resp.StatusCode, css)
		}

		cfg := e.cfg.httpConfig
		cfg.PageTemplates = fstest.MapFS{"error.html": {Data: []byte(`{{define "content"}}{{.Nope`)}}
		if _, err := httpapi.NewServer(e.iss, cfg); err == nil || !strings.Contains(err.Error(), "page template error") {
			t.Fatalf("a broken template: %v", err)
		}
	})
}

// TestSignupAndForgotPages: the sign-up page follows the sign-up mode
// (open without confirmation: signed in and on to the client; closed: no
// page), the forgot-password page gives the same answer for any address,
// and both need the CSRF token.
func TestSignupAndForgotPages(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db)
		b := newBrowser(t, e)
		_, page := b.get(authorizePath())
		authz := formFields(t, page).Get("authz")
		resp, form := b.get("/ui/signup?authz=" + url.QueryEscape(authz))
		if resp.StatusCode != http.StatusOK || !strings.Contains(form, `autocomplete="new-password"`) {
			t.Fatalf("sign-up page: %d %s", resp.StatusCode, form)
		}
		f := formFields(t, form)
		f.Set("email", "bob@example.com")
		f.Set("password", "short")
		resp, body := b.post("/ui/signup", f)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `role="alert"`) {
			t.Fatalf("short password: %d %s", resp.StatusCode, body)
		}
		f.Set("email", "ann@example.com")
		f.Set("password", testPassword)
		resp, body = b.post("/ui/signup", f)
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "An account with this address exists already") {
			t.Fatalf("taken address: %d %s", resp.StatusCode, body)
		}
		g := formFields(t, body)
		g.Set("email", "bob@example.com")
		g.Set("password", testPassword)
		g.Del("csrf_token")
		if resp, _ := b.post("/ui/signup", g); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("sign-up without the CSRF token: %d", resp.StatusCode)
		}
		g = formFields(t, body)
		g.Set("email", "bob@example.com")
		g.Set("password", testPassword)
		resp, body = b.post("/ui/signup", g)
		if q := redirected(t, resp, body, appRedirect); q.Get("code") == "" {
			t.Fatalf("sign-up did not continue to the client: %v", q)
		}

		resp, form = b.get("/ui/forgot?authz=" + url.QueryEscape(authz))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("forgot page: %d", resp.StatusCode)
		}
		var answers []string
		for _, email := range []string{"ann@example.com", "nobody@example.com"} {
			f := formFields(t, form)
			f.Set("email", email)
			resp, body := b.post("/ui/forgot", f)
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("forgot %s: %d %s", email, resp.StatusCode, body)
			}
			answers = append(answers, body)
		}
		if answers[0] != answers[1] || !strings.Contains(answers[0], "If an account uses this address") {
			t.Fatalf("forgot answers differ or say nothing:\n%s\n%s", answers[0], answers[1])
		}
	})
}

// TestSignupPageClosed: while sign-up is closed the sign-in page does not
// offer it and the sign-up page is refused.
func TestSignupPageClosed(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db, func(s *settings, _ *keys.Policy) { s.Lifecycle.SignupMode = "closed" })
		b := newBrowser(t, e)
		_, page := b.get(authorizePath())
		if strings.Contains(page, "/ui/signup") {
			t.Error("the sign-in page links to sign-up while it is closed")
		}
		resp, body := b.get("/ui/signup?authz=" + url.QueryEscape(formFields(t, page).Get("authz")))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "signup_closed") {
			t.Fatalf("closed sign-up page: %d %s", resp.StatusCode, body)
		}
	})
}

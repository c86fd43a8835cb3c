package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

const issuerURL = "http://issuer.test"

// withIssuerPages sets the lifecycle without a site URL: the links in
// messages open the issuer's own pages.
func withIssuerPages(lc issuer.LifecycleConfig) func(*settings, *keys.Policy) {
	return func(s *settings, _ *keys.Policy) { s.Lifecycle = lc }
}

// pageLink is the path and query of the message's link to the issuer's
// page for a flow, which must carry its token in the query.
func pageLink(t testing.TB, m issuer.Mail, path string) (string, string) {
	t.Helper()
	for _, f := range strings.Fields(m.Text) {
		if !strings.HasPrefix(f, issuerURL+path+"?") {
			continue
		}
		u, err := url.Parse(f)
		if err != nil || u.Fragment != "" || u.Query().Get("token") == "" || len(u.Query()) != 1 {
			t.Fatalf("link %q: want the token alone in the query", f)
		}
		return u.RequestURI(), u.Query().Get("token")
	}
	t.Fatalf("no %s%s?token= link in %s:\n%s", issuerURL, path, m.Kind, m.Text)
	return "", ""
}

// lastMail is the newest message of kind to addr, after an outbox pass.
func (e *env) lastMail(mail *captureSender, to string, kind issuer.MailKind) issuer.Mail {
	e.t.Helper()
	e.pump()
	ms := mail.to(to, kind)
	if len(ms) == 0 {
		e.t.Fatalf("no %s message to %s", kind, to)
	}
	return ms[len(ms)-1]
}

// openLink GETs a link page and checks what every one of them must be:
// 200, the form with the token and a CSRF token, not cached, no Referer.
func (b *browser) openLink(path, token string) url.Values {
	b.t.Helper()
	resp, page := b.get(path)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d %s", strings.SplitN(path, "?", 2)[0], resp.StatusCode, page)
	}
	if h := resp.Header; h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" ||
		!strings.Contains(h.Get("Content-Security-Policy"), "form-action 'self'") || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		b.t.Fatalf("GET %s: headers %v", strings.SplitN(path, "?", 2)[0], h)
	}
	f := formFields(b.t, page)
	if f.Get("token") != token {
		b.t.Fatalf("the form does not carry the link's token:\n%s", page)
	}
	return f
}

// postLink posts a link page's form and checks the status and a phrase.
func (b *browser) postLink(path string, f url.Values, status int, want string) string {
	b.t.Helper()
	resp, body := b.post(path, f)
	if resp.StatusCode != status || !strings.Contains(body, want) {
		b.t.Fatalf("POST %s: got %d, want %d with %q:\n%s", path, resp.StatusCode, status, want, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		b.t.Fatalf("POST %s: headers %v", path, resp.Header)
	}
	return body
}

// TestLinkPages follows every link of the account lifecycle to the
// issuer's own pages, as a browser without script would: the messages
// link to the issuer with the token in the query; opening a link (twice,
// as a mail scanner and then the user) spends nothing; a form without
// the right CSRF token is refused and spends nothing; the form's POST
// does the work (confirmed address, new password, new address, the
// change undone); a used or expired link says so and where to go next;
// and no token reaches the log.
func TestLinkPages(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		mail := &captureSender{}
		e := newEnv(t, db, withIssuerPages(issuer.LifecycleConfig{SignupMode: issuer.SignupPrivate, RequireVerifiedEmail: true, MailSender: mail}))
		const ann, pw, pw2 = "ann@example.com", "correct horse battery", "staple battery horse"
		var tokens []string
		b := newBrowser(t, e)

		// Confirmation.
		resp, body := e.do("POST", "/v1/signup", map[string]string{"email": ann, "password": pw})
		wantStatus(t, resp, body, http.StatusAccepted)
		m := e.lastMail(mail, ann, issuer.MailVerifyEmail)
		if strings.Contains(m.Text, "#token=") || !strings.Contains(m.HTML, `href="`+issuerURL+issuer.PathVerifyEmail+"?token=") {
			t.Fatalf("confirmation message:\n%s\n%s", m.Text, m.HTML)
		}
		link, tok := pageLink(t, m, issuer.PathVerifyEmail)
		tokens = append(tokens, tok)
		b.openLink(link, tok) // a mail scanner
		f := b.openLink(link, tok)
		resp, body = e.do("POST", "/v1/signin", map[string]string{"email": ann, "password": pw})
		wantError(t, resp, body, http.StatusForbidden, "email_not_verified")

		// The wrong token differs from the right one in its first character,
		// whatever that is.
		good := f.Get("csrf_token")
		first := "x"
		if strings.HasPrefix(good, first) {
			first = "y"
		}
		noCSRF, wrongCSRF := url.Values{"token": {tok}}, url.Values{"token": {tok}, "csrf_token": {first + good[1:]}}
		b.postLink(issuer.PathVerifyEmail, noCSRF, http.StatusForbidden, "the form has expired")
		b.postLink(issuer.PathVerifyEmail, wrongCSRF, http.StatusForbidden, "the form has expired")
		if resp, _ := newBrowser(t, e).post(issuer.PathVerifyEmail, f); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("the form's CSRF token without its cookie: %d", resp.StatusCode)
		}

		b.postLink(issuer.PathVerifyEmail, f, http.StatusOK, ann+" is confirmed")
		if tk := e.signin(ann, pw); !tk.User.EmailVerified {
			t.Fatalf("after confirming at the page: %+v", tk.User)
		}
		used := b.postLink(issuer.PathVerifyEmail, f, http.StatusBadRequest, "The link is invalid, expired or already used.")
		if !strings.Contains(used, `href="`+issuer.PathForgotPassword+`"`) {
			t.Fatalf("a used confirmation link offers no way on:\n%s", used)
		}

		// Password reset, started at the issuer's forgot-password page (the
		// link of the "password changed" and "account exists" messages).
		resp, page := b.get(issuer.PathForgotPassword)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/ui/forgot"`) {
			t.Fatalf("GET %s: %d %s", issuer.PathForgotPassword, resp.StatusCode, page)
		}
		g := formFields(t, page)
		g.Set("email", ann)
		if resp, body := b.post("/ui/forgot", g); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("forgot: %d %s", resp.StatusCode, body)
		}
		link, tok = pageLink(t, e.lastMail(mail, ann, issuer.MailPasswordReset), issuer.PathResetPassword)
		tokens = append(tokens, tok)
		b.openLink(link, tok)
		f = b.openLink(link, tok)
		for _, bad := range []struct{ pw, says string }{
			{"short", "password is shorter than 8 bytes"},
			{"password1", "password is too common"},
			{ann, "password must not be the email address"},
		} {
			f.Set("password", bad.pw)
			body := b.postLink(issuer.PathResetPassword, f, http.StatusBadRequest, bad.says)
			if g := formFields(t, body); g.Get("token") != tok {
				t.Fatalf("a refused password does not show the form again:\n%s", body)
			}
		}
		old := e.signin(ann, pw) // nothing changed yet
		f.Set("password", pw2)
		b.postLink(issuer.PathResetPassword, f, http.StatusOK, "Your new password is set")
		resp, body = e.do("POST", "/v1/signin", map[string]string{"email": ann, "password": pw})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
		resp, body = e.do("POST", "/v1/token/refresh", map[string]string{"refresh_token": old.RefreshToken})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
		e.signin(ann, pw2)
		used = b.postLink(issuer.PathResetPassword, f, http.StatusBadRequest, "The link is invalid, expired or already used.")
		if !strings.Contains(used, `href="`+issuer.PathForgotPassword+`"`) {
			t.Fatalf("a used reset link does not offer a new one:\n%s", used)
		}
		changed := e.lastMail(mail, ann, issuer.MailPasswordChanged)
		if !strings.Contains(changed.Text, issuerURL+issuer.PathForgotPassword) || strings.Contains(changed.Text, "token=") {
			t.Fatalf("password-changed message:\n%s", changed.Text)
		}

		// An expired reset link.
		resp, body = e.do("POST", "/v1/password/forgot", map[string]string{"email": ann})
		wantStatus(t, resp, body, http.StatusAccepted)
		link, tok = pageLink(t, e.lastMail(mail, ann, issuer.MailPasswordReset), issuer.PathResetPassword)
		tokens = append(tokens, tok)
		f = b.openLink(link, tok)
		e.clock.Advance(31 * time.Minute)
		f.Set("password", "a new pass phrase")
		b.postLink(issuer.PathResetPassword, f, http.StatusBadRequest, "The link is invalid, expired or already used.")
		e.signin(ann, pw2)

		// Email change: confirmed from the new address, then undone from
		// the old one, which signs every session out.
		const ann2 = "ann@example.org"
		a := e.signin(ann, pw2)
		resp, body = e.do("POST", "/v1/email", map[string]string{"email": ann2, "password": pw2}, bearer(a)...)
		wantStatus(t, resp, body, http.StatusAccepted)
		link, tok = pageLink(t, e.lastMail(mail, ann2, issuer.MailEmailChangeConfirm), issuer.PathConfirmEmail)
		cancelLink, cancelTok := pageLink(t, e.lastMail(mail, ann, issuer.MailEmailChangeNotice), issuer.PathCancelEmailChange)
		tokens = append(tokens, tok, cancelTok)
		b.openLink(link, tok)
		f = b.openLink(link, tok)
		e.signin(ann, pw2) // not changed by opening the link
		b.postLink(issuer.PathConfirmEmail, f, http.StatusOK, "Your account&#39;s address is now "+ann2)
		e.signin(ann2, pw2)
		b.postLink(issuer.PathConfirmEmail, f, http.StatusBadRequest, "The link is invalid, expired or already used.")

		b.openLink(cancelLink, cancelTok)
		f = b.openLink(cancelLink, cancelTok)
		e.signin(ann2, pw2) // not undone by opening the link
		b.postLink(issuer.PathCancelEmailChange, f, http.StatusOK, "every session was signed out")
		e.signin(ann, pw2)
		resp, body = e.do("POST", "/v1/signin", map[string]string{"email": ann2, "password": pw2})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
		resp, body = e.do("POST", "/v1/token/refresh", map[string]string{"refresh_token": a.RefreshToken})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
		b.postLink(issuer.PathCancelEmailChange, f, http.StatusBadRequest, "The link is invalid, expired or already used.")

		// A link without its token, or cut far too long.
		for _, path := range []string{issuer.PathVerifyEmail, issuer.PathResetPassword, issuer.PathConfirmEmail, issuer.PathCancelEmailChange} {
			for _, q := range []string{"", "?token=", "?token=" + strings.Repeat("a", 200)} {
				resp, body := b.get(path + q)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "this link has no token") || strings.Contains(body, "<form") {
					t.Fatalf("GET %s%.20s: %d %s", path, q, resp.StatusCode, body)
				}
			}
			g := url.Values{"csrf_token": {f.Get("csrf_token")}}
			b.postLink(path, g, http.StatusBadRequest, "this link has no token")
		}

		out := e.logs.String()
		if !strings.Contains(out, `"route":"`+issuer.PathResetPassword+`"`) {
			t.Fatalf("the access log has no line for the reset page:\n%s", out)
		}
		for _, tok := range tokens {
			if strings.Contains(out, tok) || strings.Contains(out, tok[7:]) {
				t.Fatalf("the log contains an emailed token (%.10s...)", tok)
			}
		}
		if strings.Contains(out, "token=") {
			t.Fatal("the log contains a link with a token")
		}
	})
}

// TestLinkPagesSpendTheBudget: the pages spend links through the same
// per-address budget of rejected links as the JSON endpoints, shared with
// them: a run of guessed tokens is refused with 429 and Retry-After once
// the budget is gone, and the JSON endpoint then refuses too.
func TestLinkPagesSpendTheBudget(t *testing.T) {
	const burst = 5
	e := newEnv(t, storetest.Open(t, store.SQLite), withIssuerPages(issuer.LifecycleConfig{
		SignupMode: issuer.SignupOpen, TokenFailureLimit: issuer.RateLimit{Burst: burst, Per: time.Hour}}))
	b := newBrowser(t, e)
	var statuses []int
	for _, path := range []string{issuer.PathVerifyEmail, issuer.PathResetPassword, issuer.PathConfirmEmail, issuer.PathCancelEmailChange} {
		_, page := b.get(path + "?token=x")
		f := formFields(t, page)
		f.Set("password", "a new pass phrase")
		for i := range 3 {
			f.Set("token", "sgt_xx_"+strings.Repeat("A", 40+i))
			resp, body := b.post(path, f)
			statuses = append(statuses, resp.StatusCode)
			if resp.StatusCode == http.StatusTooManyRequests && (resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "too many invalid links")) {
				t.Fatalf("a refusal without Retry-After or its reason: %v %s", resp.Header, body)
			}
		}
	}
	for i, s := range statuses {
		if want := map[bool]int{true: http.StatusBadRequest, false: http.StatusTooManyRequests}[i < burst]; s != want {
			t.Fatalf("statuses %v: want %d links refused as bad, then 429", statuses, burst)
		}
	}
	resp, body := e.do("POST", "/v1/verify", map[string]string{"token": "sgt_ev_guess"})
	wantError(t, resp, body, http.StatusTooManyRequests, "too_many_requests")
}

// TestLinksWithSiteURL: with a site URL, the links stay the client app's,
// the token in the fragment; the issuer's pages still take a token given
// to them.
func TestLinksWithSiteURL(t *testing.T) {
	mail := &captureSender{}
	e := newEnv(t, storetest.Open(t, store.SQLite), withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupOpen, MailSender: mail}))
	e.signup("ann@example.com", "correct horse battery")
	m := e.lastMail(mail, "ann@example.com", issuer.MailVerifyEmail)
	if !strings.Contains(m.Text, siteURL+issuer.PathVerifyEmail+"#token=sgt_ev_") || strings.Contains(m.Text, "?token=") || strings.Contains(m.Text, issuerURL) {
		t.Fatalf("confirmation message with a site URL:\n%s", m.Text)
	}
	tok := tokenOf(t, m)
	b := newBrowser(t, e)
	f := b.openLink(issuer.PathVerifyEmail+"?token="+tok, tok)
	b.postLink(issuer.PathVerifyEmail, f, http.StatusOK, "is confirmed")
}

// TestLinkPageTemplates: the link pages are re-branded like the others,
// file by file.
func TestLinkPageTemplates(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), func(s *settings, _ *keys.Policy) {
		s.PageTemplates = fstest.MapFS{"link.html": {Data: []byte(`{{define "content"}}<form method="post" action="{{.Action}}" class="acme"><input type="hidden" name="csrf_token" value="{{.CSRF}}"><input type="hidden" name="token" value="{{.Token}}"><button>{{.Button}}</button></form>{{end}}`)}}
	})
	b := newBrowser(t, e)
	_, page := b.get(issuer.PathVerifyEmail + "?token=sgt_ev_x")
	if !strings.Contains(page, `class="acme"`) || !strings.Contains(page, "Confirm my address") {
		t.Fatalf("re-branded link page:\n%s", page)
	}
	if _, page := b.get(issuer.PathResetPassword + "?token=sgt_pr_x"); strings.Contains(page, "acme") || !strings.Contains(page, `autocomplete="new-password"`) {
		t.Fatalf("the embedded reset page changed:\n%s", page)
	}
}

package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/mailer"
	"github.com/signet-auth/signet/issuer/mailer/mailpittest"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

const siteURL = "http://app.test"

// withLifecycle sets the lifecycle configuration (the site URL filled in).
func withLifecycle(lc issuer.LifecycleConfig) func(*settings, *keys.Policy) {
	return func(s *settings, _ *keys.Policy) {
		if lc.SiteURL == "" {
			lc.SiteURL = siteURL
		}
		s.Lifecycle = lc
	}
}

// smtpTo is a sender to a Mailpit.
func smtpTo(t testing.TB, mp *mailpittest.Mailpit) issuer.MailSender {
	t.Helper()
	s, err := mailer.NewSMTP(mp.SMTPURL(), "Signet <signet@issuer.test>")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pump runs one outbox pass, as each replica's worker does.
func (e *env) pump() int { return e.iss.Outbox.Pass(context.Background()) }

// mail waits for a message in Mailpit, driving the outbox meanwhile.
func (e *env) mail(mp *mailpittest.Mailpit, to, subject string) mailpittest.Message {
	e.t.Helper()
	return mp.Wait(to, subject, 10*time.Second, func() { e.pump() })
}

// linkToken is the token of the message's link to a flow's path.
func linkToken(t testing.TB, msg mailpittest.Message, path string) string {
	t.Helper()
	tok, ok := msg.Token(siteURL + path)
	if !ok {
		t.Fatalf("no %s link with a token in %q:\n%s", path, msg.Subject, msg.Text)
	}
	return tok
}

func bearer(tk tokens) []string { return []string{"Authorization", "Bearer " + tk.AccessToken} }

// claimsOf decodes an access token's payload (already verified by the
// issuer's own endpoints in these tests).
func claimsOf(t testing.TB, at string) map[string]any {
	t.Helper()
	parts := strings.Split(at, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	_ = json.Unmarshal(b, &c)
	return c
}

func wantStatus(t testing.TB, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("got %d %s, want %d", resp.StatusCode, body, status)
	}
}

// TestAccountLifecycleThroughMailpit is the whole life of an account, with
// every message sent over real SMTP to Mailpit and read back through its
// API, each link followed as a client app would: private sign-up,
// confirmation, sign-in; forgotten password, reset, every old session
// gone; password change; email change, confirmed, then cancelled from the
// old address; deletion.
func TestAccountLifecycleThroughMailpit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		mp := mailpittest.Start(t)
		e := newEnv(t, db, withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupPrivate, RequireVerifiedEmail: true, MailSender: smtpTo(t, mp)}))
		const ann, pw = "ann@example.com", "correct horse battery"

		// Sign up: 202 {}, and a confirmation message.
		resp, body := e.do("POST", "/v1/signup", map[string]string{"email": ann, "password": pw})
		wantStatus(t, resp, body, http.StatusAccepted)
		if string(body) != "{}" {
			t.Fatalf("private sign-up body = %s, want {}", body)
		}
		msg := e.mail(mp, ann, "Confirm your email address")
		if !strings.Contains(msg.HTML, `href="`+siteURL+issuer.PathVerifyEmail+"#token=") || msg.From.Address != "signet@issuer.test" {
			t.Fatalf("confirmation message: from %+v, html:\n%s", msg.From, msg.HTML)
		}
		verifyToken := linkToken(t, msg, issuer.PathVerifyEmail)

		// Before confirmation: the right password gets 403
		// email_not_verified, a wrong one the usual 401.
		resp, body = e.do("POST", "/v1/signin", map[string]string{"email": ann, "password": pw})
		wantError(t, resp, body, http.StatusForbidden, "email_not_verified")
		resp, body = e.do("POST", "/v1/signin", map[string]string{"email": ann, "password": "wrong horse battery"})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")

		// Confirm: 200 {user} with email_verified; the link works once.
		resp, body = e.do("POST", "/v1/verify", map[string]string{"token": verifyToken})
		wantStatus(t, resp, body, http.StatusOK)
		var ub struct{ User issuer.User }
		_ = json.Unmarshal(body, &ub)
		if !ub.User.EmailVerified || ub.User.Email != ann || !strings.Contains(string(body), `"email_verified":true`) {
			t.Fatalf("verify: %s", body)
		}
		resp, body = e.do("POST", "/v1/verify", map[string]string{"token": verifyToken})
		wantError(t, resp, body, http.StatusBadRequest, "invalid_grant")

		// Sign in: the access token says the address is confirmed.
		a := e.signin(ann, pw)
		if claimsOf(t, a.AccessToken)["email_verified"] != true {
			t.Fatalf("claims: %v", claimsOf(t, a.AccessToken))
		}
		b := e.signin(ann, pw)

		// Forgot the password: 202 {}, a reset link; the reset ends every
		// session.
		resp, body = e.do("POST", "/v1/password/forgot", map[string]string{"email": ann})
		wantStatus(t, resp, body, http.StatusAccepted)
		resetToken := linkToken(t, e.mail(mp, ann, "Reset your password"), issuer.PathResetPassword)
		resp, body = e.do("POST", "/v1/password/reset", map[string]string{"token": resetToken, "password": "password1"})
		if d := wantError(t, resp, body, http.StatusBadRequest, "invalid_request"); !strings.Contains(d, "common") {
			t.Fatalf("a common password: %s", d)
		}
		const pw2 = "staple battery horse"
		resp, body = e.do("POST", "/v1/password/reset", map[string]string{"token": resetToken, "password": pw2})
		wantStatus(t, resp, body, http.StatusNoContent)
		if e.refreshes(a.RefreshToken) || e.refreshes(b.RefreshToken) || e.me(a.AccessToken) {
			t.Fatal("a session outlived the password reset")
		}
		resp, body = e.do("POST", "/v1/password/reset", map[string]string{"token": resetToken, "password": "another fine password"})
		wantError(t, resp, body, http.StatusBadRequest, "invalid_grant")
		if resp, _ := e.signinStatus(ann, pw); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("the old password still signs in: %d", resp.StatusCode)
		}
		e.mail(mp, ann, "Your password was changed")

		// Change the password: the other session ends, this one stays.
		c, d := e.signin(ann, pw2), e.signin(ann, pw2)
		resp, body = e.do("POST", "/v1/password", map[string]string{"current_password": "not it at all", "new_password": "a new pass phrase"}, bearer(c)...)
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
		const pw3 = "a new pass phrase"
		resp, body = e.do("POST", "/v1/password", map[string]string{"current_password": pw2, "new_password": pw3}, bearer(c)...)
		wantStatus(t, resp, body, http.StatusNoContent)
		if !e.me(c.AccessToken) || e.refreshes(d.RefreshToken) {
			t.Fatal("password change: the current session must stay and the other one end")
		}
		c = e.mustRefresh(c.RefreshToken)

		// Change the address: nothing changes until the new address
		// confirms; the old one is told and can cancel.
		const ann2 = "ann@example.org"
		resp, body = e.do("POST", "/v1/email", map[string]string{"email": ann2, "password": pw3}, bearer(c)...)
		wantStatus(t, resp, body, http.StatusAccepted)
		confirm := linkToken(t, e.mail(mp, ann2, "Confirm your new email address"), issuer.PathConfirmEmail)
		notice := e.mail(mp, ann, "Your email address is being changed")
		if !strings.Contains(notice.Text, ann2) {
			t.Fatalf("notice does not name the new address:\n%s", notice.Text)
		}
		cancel := linkToken(t, notice, issuer.PathCancelEmailChange)
		if resp, _ := e.signinStatus(ann2, pw3); resp.StatusCode != http.StatusUnauthorized {
			t.Fatal("the new address signs in before confirmation")
		}
		resp, body = e.do("POST", "/v1/email/confirm", map[string]string{"token": confirm})
		wantStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(string(body), `"email":"`+ann2+`"`) {
			t.Fatalf("confirm: %s", body)
		}
		f := e.signin(ann2, pw3)

		// The old address cancels: the change is undone and every session
		// ends.
		resp, body = e.do("POST", "/v1/email/cancel", map[string]string{"token": cancel})
		wantStatus(t, resp, body, http.StatusNoContent)
		if e.refreshes(f.RefreshToken) {
			t.Fatal("a session outlived the cancelled email change")
		}
		g := e.signin(ann, pw3)

		// Delete the account: a wrong password is refused; then it is gone
		// with its sessions and mail, and the audit keeps no address.
		resp, body = e.do("DELETE", "/v1/me", map[string]string{"password": "not the password"}, bearer(g)...)
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
		resp, body = e.do("DELETE", "/v1/me", map[string]string{"password": pw3}, bearer(g)...)
		wantStatus(t, resp, body, http.StatusNoContent)
		var left int
		// (The wrong password just above left a sign-in failure count for
		// the account: it goes too. Checked before the sign-in attempts
		// below, which count anew for the address.)
		if err := db.SQL().Get(&left, `SELECT (SELECT COUNT(*) FROM mail_outbox) + (SELECT COUNT(*) FROM account_tokens) + (SELECT COUNT(*) FROM sessions)
			+ (SELECT COUNT(*) FROM signin_throttle WHERE key = 'acct:ann@example.com') + (SELECT COUNT(*) FROM account_requests)`); err != nil || left != 0 {
			t.Fatalf("rows left after deletion: %d (%v)", left, err)
		}
		if e.me(g.AccessToken) {
			t.Fatal("the access token of a deleted account still works")
		}
		if resp, _ := e.signinStatus(ann, pw3); resp.StatusCode != http.StatusUnauthorized {
			t.Fatal("a deleted account signs in")
		}
		ev, _ := db.Events(context.Background(), "user_deleted")
		if len(ev) != 1 || ev[0].IP != nil || strings.Contains(ev[0].Detail, "@") {
			t.Fatalf("user_deleted event: %+v", ev)
		}
		for _, typ := range []string{"signup", "email_verified", "password_reset_requested", "password_reset", "password_changed",
			"password_change_failed", "email_change_requested", "email_changed", "email_change_cancelled", "user_delete_failed", "signin_unverified"} {
			if ev, _ := db.Events(context.Background(), typ); len(ev) == 0 {
				t.Errorf("no %s audit event", typ)
			}
		}
	})
}

// TestMailSurvivesSMTPOutage stops the mail server between the sign-up and
// the delivery: the message waits in the outbox, is retried with backoff,
// and is delivered once the server is back.
func TestMailSurvivesSMTPOutage(t *testing.T) {
	mp := mailpittest.Start(t)
	e := newEnv(t, storetest.Open(t, store.SQLite), withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupOpen, MailSender: smtpTo(t, mp)}))
	mp.Stop()
	e.signup("ann@example.com", "correct horse battery")
	if n := e.pump(); n != 0 {
		t.Fatalf("sent %d with the server down", n)
	}
	m := e.scrape()
	if m[`signet_mail_deliveries_total{outcome="retry"}`] != 1 {
		t.Fatalf("retries: %v", m[`signet_mail_deliveries_total{outcome="retry"}`])
	}
	out, _ := e.db.Outbox(context.Background())
	if len(out) != 1 || out[0].Sent || out[0].LastError == "" {
		t.Fatalf("outbox after a failed attempt: %+v", out)
	}
	mp.Restart()
	if n := e.pump(); n != 0 {
		t.Fatal("retried before the backoff elapsed")
	}
	e.clock.Advance(5 * time.Second) // the first backoff
	msg := e.mail(mp, "ann@example.com", "Confirm your email address")
	linkToken(t, msg, issuer.PathVerifyEmail)
	e.pump()
	if got := len(mp.To("ann@example.com")); got != 1 {
		t.Fatalf("%d messages delivered, want exactly 1", got)
	}
	if out, _ := e.db.Outbox(context.Background()); !out[0].Sent {
		t.Fatalf("not marked sent: %+v", out)
	}
}

// captureSender keeps messages in memory.
type captureSender struct {
	mu   sync.Mutex
	msgs []issuer.Mail
}

func (c *captureSender) Send(_ context.Context, m issuer.Mail) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return nil
}

func (c *captureSender) to(addr string, kind issuer.MailKind) []issuer.Mail {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []issuer.Mail
	for _, m := range c.msgs {
		if m.To == addr && m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

var tokenRE = regexp.MustCompile(`token=(sgt_[a-z]{2}_[A-Za-z0-9_-]{43})`)

// tokenOf is the token of a message's link.
func tokenOf(t testing.TB, m issuer.Mail) string {
	t.Helper()
	s := tokenRE.FindStringSubmatch(m.Text)
	if s == nil {
		t.Fatalf("no token in %s:\n%s", m.Kind, m.Text)
	}
	return s[1]
}

// TestSignupModes: open answers 201/409, private always 202 {} (the owner
// of a registered address is told instead), closed 403.
func TestSignupModes(t *testing.T) {
	body := map[string]string{"email": "ann@example.com", "password": "correct horse battery"}
	t.Run("open", func(t *testing.T) {
		mail := &captureSender{}
		e := newEnv(t, storetest.Open(t, store.SQLite), withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupOpen, MailSender: mail}))
		resp, b := e.do("POST", "/v1/signup", body)
		wantStatus(t, resp, b, http.StatusCreated)
		if !strings.Contains(string(b), `"email_verified":false`) {
			t.Fatalf("open sign-up: %s", b)
		}
		resp, b = e.do("POST", "/v1/signup", body)
		wantError(t, resp, b, http.StatusConflict, "email_taken")
		e.pump()
		if len(mail.to("ann@example.com", issuer.MailVerifyEmail)) != 1 {
			t.Fatal("no confirmation message in open mode")
		}
	})
	t.Run("private", func(t *testing.T) {
		mail := &captureSender{}
		e := newEnv(t, storetest.Open(t, store.SQLite), withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupPrivate, MailSender: mail}))
		for range 2 {
			resp, b := e.do("POST", "/v1/signup", body)
			wantStatus(t, resp, b, http.StatusAccepted)
			e.pump()
		}
		if len(mail.to("ann@example.com", issuer.MailVerifyEmail)) != 1 || len(mail.to("ann@example.com", issuer.MailAccountExists)) != 1 {
			t.Fatalf("private sign-up twice: %+v", mail.msgs)
		}
		exists := mail.to("ann@example.com", issuer.MailAccountExists)[0]
		if !strings.Contains(exists.Text, siteURL+issuer.PathForgotPassword) || strings.Contains(exists.Text, "token=") {
			t.Fatalf("account-exists message:\n%s", exists.Text)
		}
		// The second sign-up changed nothing: the first password stands.
		resp, b := e.do("POST", "/v1/verify", map[string]string{"token": tokenOf(t, mail.to("ann@example.com", issuer.MailVerifyEmail)[0])})
		wantStatus(t, resp, b, http.StatusOK)
		e.signin("ann@example.com", "correct horse battery")
		// Malformed input is still refused at once: it says nothing about
		// any account.
		resp, b = e.do("POST", "/v1/signup", map[string]string{"email": "ann@example.com", "password": "ann@example.com"})
		wantError(t, resp, b, http.StatusBadRequest, "invalid_request")
	})
	t.Run("closed", func(t *testing.T) {
		e := newEnv(t, storetest.Open(t, store.SQLite), withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupClosed}))
		resp, b := e.do("POST", "/v1/signup", body)
		wantError(t, resp, b, http.StatusForbidden, "signup_closed")
	})
}

// TestRecipientLimit: however many reset requests name an address, it is
// sent at most RecipientLimit messages (5 an hour), and every request is
// still answered 202.
func TestRecipientLimit(t *testing.T) {
	mail := &captureSender{}
	e := newEnv(t, storetest.Open(t, store.SQLite), withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupOpen, MailSender: mail,
		MailRequestLimit: issuer.RateLimit{Burst: -1}}))
	e.signup("ann@example.com", "correct horse battery")
	for range 8 {
		resp, b := e.do("POST", "/v1/password/forgot", map[string]string{"email": "ann@example.com"})
		wantStatus(t, resp, b, http.StatusAccepted)
	}
	e.pump()
	// The sign-up's confirmation counts too: 1 + 4 resets.
	if n := len(mail.to("ann@example.com", issuer.MailPasswordReset)); n != 4 {
		t.Fatalf("%d reset messages, want 4", n)
	}
	// Only the newest reset link works.
	resets := mail.to("ann@example.com", issuer.MailPasswordReset)
	resp, b := e.do("POST", "/v1/password/reset", map[string]string{"token": tokenOf(t, resets[0]), "password": "staple battery horse"})
	wantError(t, resp, b, http.StatusBadRequest, "invalid_grant")
	e.clock.Advance(time.Hour)
	e.do("POST", "/v1/password/forgot", map[string]string{"email": "ann@example.com"})
	e.pump()
	if n := len(mail.to("ann@example.com", issuer.MailPasswordReset)); n != 5 {
		t.Fatalf("after an hour: %d reset messages, want 5", n)
	}
}

// TestResetTokenRules: a reset link expires (30 minutes), dies when the
// password or the address changes, and is refused per address after too
// many bad ones.
func TestResetTokenRules(t *testing.T) {
	mail := &captureSender{}
	e := newEnv(t, storetest.Open(t, store.SQLite), withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupOpen, MailSender: mail,
		MailRequestLimit: issuer.RateLimit{Burst: -1}}))
	e.signup("ann@example.com", "correct horse battery")
	forgot := func() string {
		e.do("POST", "/v1/password/forgot", map[string]string{"email": "ann@example.com"})
		e.pump()
		r := mail.to("ann@example.com", issuer.MailPasswordReset)
		return tokenOf(t, r[len(r)-1])
	}
	tok := forgot()
	e.clock.Advance(30*time.Minute + time.Second)
	resp, b := e.do("POST", "/v1/password/reset", map[string]string{"token": tok, "password": "staple battery horse"})
	wantError(t, resp, b, http.StatusBadRequest, "invalid_grant")

	tok = forgot()
	a := e.signin("ann@example.com", "correct horse battery")
	resp, b = e.do("POST", "/v1/password", map[string]string{"current_password": "correct horse battery", "new_password": "staple battery horse"}, bearer(a)...)
	wantStatus(t, resp, b, http.StatusNoContent)
	resp, b = e.do("POST", "/v1/password/reset", map[string]string{"token": tok, "password": "another good phrase"})
	wantError(t, resp, b, http.StatusBadRequest, "invalid_grant")

	// A link mailed to the account's old address dies when the address
	// changes.
	tok = forgot()
	b2 := e.signin("ann@example.com", "staple battery horse")
	resp, b = e.do("POST", "/v1/email", map[string]string{"email": "ann@example.org", "password": "staple battery horse"}, bearer(b2)...)
	wantStatus(t, resp, b, http.StatusAccepted)
	e.pump()
	resp, b = e.do("POST", "/v1/email/confirm", map[string]string{"token": tokenOf(t, mail.to("ann@example.org", issuer.MailEmailChangeConfirm)[0])})
	wantStatus(t, resp, b, http.StatusOK)
	resp, b = e.do("POST", "/v1/password/reset", map[string]string{"token": tok, "password": "another good phrase"})
	wantError(t, resp, b, http.StatusBadRequest, "invalid_grant")

	// A token of another purpose, or of the right form but unknown, is
	// the same refusal; 30 a minute per address, then 429.
	verify := tokenOf(t, mail.to("ann@example.com", issuer.MailVerifyEmail)[0])
	resp, b = e.do("POST", "/v1/password/reset", map[string]string{"token": verify, "password": "another good phrase"})
	wantError(t, resp, b, http.StatusBadRequest, "invalid_grant")
	for range 30 {
		e.do("POST", "/v1/verify", map[string]string{"token": "sgt_ev_" + strings.Repeat("A", 43)})
	}
	resp, b = e.do("POST", "/v1/verify", map[string]string{"token": verify})
	wantError(t, resp, b, http.StatusTooManyRequests, "too_many_requests")
}

// TestPasswordChangeIsThrottled: wrong current passwords count as failed
// sign-ins; once the account is blocked, even the right one waits.
func TestPasswordChangeIsThrottled(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupOpen, MailSender: &captureSender{}}))
	e.signup("ann@example.com", "correct horse battery")
	a := e.signin("ann@example.com", "correct horse battery")
	for range 6 {
		e.do("POST", "/v1/password", map[string]string{"current_password": "guess guess guess", "new_password": "staple battery horse"}, bearer(a)...)
	}
	resp, b := e.do("POST", "/v1/password", map[string]string{"current_password": "correct horse battery", "new_password": "staple battery horse"}, bearer(a)...)
	wantError(t, resp, b, http.StatusTooManyRequests, "too_many_requests")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

// TestUnverifiedSignInIsAllowedWhenNotRequired: with
// RequireVerifiedEmail off, an unconfirmed account signs in and its token
// says email_verified: false.
func TestUnverifiedSignInIsAllowedWhenNotRequired(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupOpen, MailSender: &captureSender{}}))
	e.signup("ann@example.com", "correct horse battery")
	a := e.signin("ann@example.com", "correct horse battery")
	if claimsOf(t, a.AccessToken)["email_verified"] != false {
		t.Fatalf("claims: %v", claimsOf(t, a.AccessToken))
	}
}

// TestLifecycleForBrowsers: a listed origin may call the lifecycle
// endpoints, DELETE /v1/me included (preflight), and the requests are
// counted by action and outcome.
func TestLifecycleForBrowsers(t *testing.T) {
	const app = "http://app.test"
	e := newEnv(t, storetest.Open(t, store.SQLite), withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupOpen, MailSender: &captureSender{}}),
		func(s *settings, _ *keys.Policy) { s.CORSOrigins = []string{app} })
	resp, _ := e.do("OPTIONS", "/v1/me", nil, "Origin", app, "Access-Control-Request-Method", "DELETE",
		"Access-Control-Request-Headers", "authorization, content-type")
	if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "DELETE") {
		t.Fatalf("DELETE preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := e.do("POST", "/v1/password/forgot", map[string]string{"email": "ann@example.com"}, "Origin", app, "X-Signet-CSRF", "1")
	wantStatus(t, resp, body, http.StatusAccepted)
	if resp.Header.Get("Access-Control-Allow-Origin") != app || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers: %v", resp.Header)
	}
	e.do("POST", "/v1/verify", map[string]string{"token": "sgt_ev_nope"})
	m := e.scrape()
	if m[`signet_account_actions_total{action="password_forgot",outcome="ok"}`] != 1 || m[`signet_account_actions_total{action="verify",outcome="refused"}`] != 1 {
		t.Fatalf("account action metrics: %v", m)
	}
}

// TestEmailChangeRecipientLimit: a signed-in user cannot mail a stranger's
// address without end by asking to move to it.
func TestEmailChangeRecipientLimit(t *testing.T) {
	mail := &captureSender{}
	e := newEnv(t, storetest.Open(t, store.SQLite), withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupOpen, MailSender: mail}))
	e.signup("ann@example.com", "correct horse battery")
	a := e.signin("ann@example.com", "correct horse battery")
	for range 5 {
		resp, b := e.do("POST", "/v1/email", map[string]string{"email": "victim@example.org", "password": "correct horse battery"}, bearer(a)...)
		wantStatus(t, resp, b, http.StatusAccepted)
	}
	resp, b := e.do("POST", "/v1/email", map[string]string{"email": "victim@example.org", "password": "correct horse battery"}, bearer(a)...)
	wantError(t, resp, b, http.StatusTooManyRequests, "too_many_requests")
	e.pump()
	if n := len(mail.to("victim@example.org", issuer.MailEmailChangeConfirm)); n != 5 {
		t.Fatalf("%d messages to the new address, want 5", n)
	}
}

package httpapi_test

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/mailer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// TestNoSecretsInLogs exercises every endpoint, failures included, and
// then searches the server's debug-level log for every password and token
// it handled. It also checks that each audit event was written.
func TestNoSecretsInLogs(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	e := newEnv(t, db)
	pw, wrong := "correct horse", "wrong horse battery"
	e.signup("ann@example.com", pw)
	secrets := []string{pw, wrong}
	keep := func(tk tokens) tokens {
		secrets = append(secrets, tk.AccessToken, tk.RefreshToken)
		return tk
	}
	a := keep(e.signin("ann@example.com", pw))
	b := keep(e.signin("ann@example.com", pw))
	c := keep(e.signin("ann@example.com", pw))
	for range 7 {
		e.signinStatus("ann@example.com", wrong)
	}
	e.clock.Advance(time.Hour)
	a2 := keep(e.mustRefresh(a.RefreshToken))
	e.mustRefresh(a.RefreshToken) // grace repeat
	e.refresh("sgt_rt_" + strings.Repeat("A", 75))
	e.refresh(a.AccessToken)
	e.do("GET", "/v1/me", nil, "Authorization", "Bearer "+a2.AccessToken)
	e.do("GET", "/v1/me", nil, "Authorization", "Bearer "+a2.AccessToken+"x")
	e.do("POST", "/v1/signout?scope=bogus", nil, "Authorization", "Bearer "+b.AccessToken)
	e.do("POST", "/v1/signout", nil, "Authorization", "Bearer "+b.AccessToken)
	e.do("POST", "/v1/signout?scope=others", nil, "Authorization", "Bearer "+a2.AccessToken)
	e.do("POST", "/v1/signout?scope=global", nil, "Authorization", "Bearer "+a2.AccessToken)
	e.form("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {wrong}})
	e.clock.Advance(time.Hour)
	e.form("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {pw}})
	e.form("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.RefreshToken}})
	e.form("/oauth/revoke", url.Values{"token": {c.RefreshToken}})
	d := keep(e.signin("ann@example.com", pw))
	d2 := keep(e.mustRefresh(d.RefreshToken))
	e.clock.Advance(time.Minute)
	e.mustRefresh(d.RefreshToken) // a retry after the grace: d2 again
	keep(e.mustRefresh(d2.RefreshToken))
	e.refresh(d.RefreshToken) // two rotations old: theft
	e.form("/oauth/revoke", url.Values{"token": {d2.AccessToken}})

	logs := e.logs.String()
	if !strings.Contains(logs, `"msg":"refresh token rejected"`) || !strings.Contains(logs, `"msg":"audit"`) {
		t.Fatalf("the log does not have the expected lines:\n%s", logs)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Fatalf("the log contains a secret (%.12s...)", s)
		}
		// Refresh tokens' secret part alone must not appear either.
		if strings.HasPrefix(s, "sgt_rt") && strings.Contains(logs, s[len(s)-43:]) {
			t.Fatal("the log contains a refresh token's MAC")
		}
	}
	for _, typ := range []string{"signup", "signin", "signin_failed", "signin_blocked", "refresh_token_retried", "refresh_token_reused", "session_revoked"} {
		ev, err := db.Events(context.Background(), typ)
		if err != nil || len(ev) == 0 {
			t.Fatalf("no %s audit event (%v)", typ, err)
		}
		for _, x := range ev {
			if x.IP == nil || *x.IP == "" {
				t.Fatalf("%s event without an IP: %+v", typ, x)
			}
			if strings.Contains(x.Detail, pw) || strings.Contains(x.Detail, "sgt_rt") {
				t.Fatalf("%s event detail holds a secret: %s", typ, x.Detail)
			}
		}
		if typ != "signin_failed" && (ev[0].UserID == nil || *ev[0].UserID == "") {
			t.Fatalf("%s event without a user: %+v", typ, ev[0])
		}
	}
}

// TestAccessLogLevels: API requests are logged at info; successful reads of
// the public documents and probes only at debug, their failures at info.
func TestAccessLogLevels(t *testing.T) {
	logs := &syncBuffer{}
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	e.signup("ann@example.com", "correct horse")
	e.do("GET", "/.well-known/jwks.json", nil)
	e.do("GET", "/.well-known/openid-configuration", nil)
	e.do("GET", "/healthz", nil)
	e.do("GET", "/metrics", nil)
	e.do("POST", "/.well-known/jwks.json", nil)
	for _, tc := range []struct {
		line   string
		logged bool
	}{
		{`"route":"/v1/signup","path":"/v1/signup","status":201`, true},
		{`"route":"unmatched","path":"/.well-known/jwks.json","status":405`, true},
		{`"status":200`, false},
		{`"route":"/healthz"`, false},
		{`"route":"/metrics"`, false},
	} {
		if got := strings.Contains(logs.String(), tc.line); got != tc.logged {
			t.Errorf("%s logged: %v, want %v\n%s", tc.line, got, tc.logged, logs)
		}
	}
}

// teeSender hands each message to every sender.
type teeSender []issuer.MailSender

func (t teeSender) Send(ctx context.Context, m issuer.Mail) error {
	for _, s := range t {
		if err := s.Send(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// TestNoSecretsInLifecycleLogs does the same for the account-lifecycle
// endpoints and the outbox (messages written as .eml files, whose log
// lines name the file): no emailed token, password, access or refresh
// token appears in the log, successes and failures alike.
func TestNoSecretsInLifecycleLogs(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	mail := &captureSender{}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir, err := mailer.NewDir(filepath.Join(t.TempDir(), "mail"), "Signet <signet@issuer.test>", log)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, db, withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupPrivate, RequireVerifiedEmail: true,
		MailSender: teeSender{dir, mail}}), func(s *settings, _ *keys.Policy) { s.Logger = log })
	e.logs = logs
	const ann, pw, pw2, pw3 = "ann@example.com", "correct horse battery", "staple battery horse", "a new pass phrase"
	secrets := []string{pw, pw2, pw3, "wrong horse battery", "password1"}
	mailToken := func(kind issuer.MailKind, to string) string {
		e.pump()
		ms := mail.to(to, kind)
		if len(ms) == 0 {
			t.Fatalf("no %s message to %s", kind, to)
		}
		tok := tokenOf(t, ms[len(ms)-1])
		secrets = append(secrets, tok)
		return tok
	}
	keep := func(tk tokens) tokens {
		secrets = append(secrets, tk.AccessToken, tk.RefreshToken)
		return tk
	}
	e.do("POST", "/v1/signup", map[string]string{"email": ann, "password": pw})
	e.do("POST", "/v1/signup", map[string]string{"email": ann, "password": "wrong horse battery"})
	e.do("POST", "/v1/signup", map[string]string{"email": "bob@example.com", "password": "password1"})
	e.do("POST", "/v1/signin", map[string]string{"email": ann, "password": pw})
	e.do("POST", "/v1/verify/resend", map[string]string{"email": ann})
	e.do("POST", "/v1/verify/resend", map[string]string{"email": "nobody@example.com"})
	v := mailToken(issuer.MailVerifyEmail, ann)
	e.do("POST", "/v1/verify", map[string]string{"token": v})
	e.do("POST", "/v1/verify", map[string]string{"token": v})
	e.do("POST", "/v1/verify", map[string]string{"token": v + "x"})
	a := keep(e.signin(ann, pw))
	e.do("POST", "/v1/password/forgot", map[string]string{"email": ann})
	e.do("POST", "/v1/password/forgot", map[string]string{"email": "nobody@example.com"})
	r := mailToken(issuer.MailPasswordReset, ann)
	e.do("POST", "/v1/password/reset", map[string]string{"token": r, "password": "password1"})
	e.do("POST", "/v1/password/reset", map[string]string{"token": r, "password": pw2})
	e.do("POST", "/v1/password/reset", map[string]string{"token": r, "password": pw2})
	b := keep(e.signin(ann, pw2))
	e.do("POST", "/v1/password", map[string]string{"current_password": pw, "new_password": pw3}, bearer(b)...)
	e.do("POST", "/v1/password", map[string]string{"current_password": pw2, "new_password": pw3}, bearer(b)...)
	e.do("POST", "/v1/email", map[string]string{"email": "ann@example.org", "password": pw}, bearer(b)...)
	e.do("POST", "/v1/email", map[string]string{"email": "ann@example.org", "password": pw3}, bearer(b)...)
	c := mailToken(issuer.MailEmailChangeConfirm, "ann@example.org")
	x := mailToken(issuer.MailEmailChangeNotice, ann)
	e.do("POST", "/v1/email/confirm", map[string]string{"token": c})
	e.do("POST", "/v1/email/confirm", map[string]string{"token": c})
	e.do("POST", "/v1/email/cancel", map[string]string{"token": x})
	e.do("POST", "/v1/email/cancel", map[string]string{"token": x})
	d := keep(e.signin(ann, pw3))
	e.do("DELETE", "/v1/me", map[string]string{"password": pw}, bearer(d)...)
	e.do("DELETE", "/v1/me", map[string]string{"password": pw3}, bearer(d)...)
	e.do("DELETE", "/v1/me", map[string]string{"password": pw3}, bearer(a)...)
	e.pump()

	out := logs.String()
	for _, want := range []string{`"msg":"mail written"`, `"msg":"outbox: mail sent"`, `"route":"/v1/password/reset"`, `"event":"user_deleted"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("the log has no %s line:\n%s", want, out)
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Fatalf("the log contains a secret (%.10s...)", s)
		}
		if strings.HasPrefix(s, "sgt_") && strings.Contains(out, s[7:]) {
			t.Fatalf("the log contains the body of an emailed token (%.10s...)", s)
		}
	}
	if strings.Contains(out, "token=") {
		t.Fatal("the log contains a link with a token")
	}
	files, _ := os.ReadDir(dir.Path())
	if len(files) == 0 {
		t.Fatal("no .eml files written")
	}
}

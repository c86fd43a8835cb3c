package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// TestDisabledAccount: disabling ends every session with revocation
// events (a subject event too) that the feed serves; the right password
// then gets 403 account_disabled on /v1/signin and 400 invalid_grant on
// the password grant, a wrong one the usual 401 after the same work;
// refresh and introspection refuse the old tokens; a password reset is
// allowed and does not enable the account; enabling lets the user in.
func TestDisabledAccount(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		mail := &captureSender{}
		e := newEnv(t, db, func(s *settings, p *keys.Policy) {
			withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupOpen, MailSender: mail})(s, p)
			s.IntrospectionToken = introspectionToken
		})
		ctx := context.Background()
		auth := []string{"Authorization", "Bearer " + introspectionToken}
		const ann, bob, pw = "ann@example.com", "bob@example.com", "correct horse"
		e.signup(ann, pw)
		e.signup(bob, pw)
		tk1, tk2 := e.signin(ann, pw), e.signin(ann, pw)
		if _, body := e.introspect(tk1.AccessToken, auth...); body["active"] != true {
			t.Fatalf("introspection before: %v", body)
		}
		_, body := e.do("GET", "/v1/revocations", nil)
		var before feedAnswer
		if err := json.Unmarshal(body, &before); err != nil {
			t.Fatal(err)
		}

		d, err := e.iss.Accounts.DisableUser(ctx, issuer.Caller{}, "Ann@Example.com")
		if err != nil || !d.Changed || d.SessionsRevoked != 2 || d.User.ID != tk1.User.ID || !d.User.Disabled() {
			t.Fatalf("disable: %+v %v", d, err)
		}
		if d, err := e.iss.Accounts.DisableUser(ctx, issuer.Caller{}, tk1.User.ID); err != nil || d.Changed {
			t.Fatalf("disable twice: %+v %v", d, err)
		}

		// The feed: both sessions and the subject, as salted hashes.
		resp, body := e.do("GET", "/v1/revocations?after="+before.Cursor, nil)
		var got feedAnswer
		if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("feed: %d %s", resp.StatusCode, body)
		}
		want := map[string]string{
			feedHash(t, got.Salt, claimsOf(t, tk1.AccessToken)["sid"].(string)): "sid",
			feedHash(t, got.Salt, claimsOf(t, tk2.AccessToken)["sid"].(string)): "sid",
			feedHash(t, got.Salt, tk1.User.ID):                                  "sub",
		}
		if len(got.Events) != 3 {
			t.Fatalf("feed after the disabling: %s", body)
		}
		for _, ev := range got.Events {
			if want[ev.Hash] != ev.Kind {
				t.Fatalf("unexpected event %+v in %s", ev, body)
			}
		}

		// The right password: 403 account_disabled; a wrong one: the
		// answer and the work of a wrong password for an enabled account.
		w0 := e.work()
		resp, body = e.do("POST", "/v1/signin", map[string]string{"email": ann, "password": pw})
		if desc := wantError(t, resp, body, http.StatusForbidden, "account_disabled"); !strings.Contains(desc, "disabled") {
			t.Fatalf("description %q", desc)
		}
		w1 := e.work()
		resp, body = e.do("POST", "/v1/signin", map[string]string{"email": ann, "password": "wrong horse"})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
		wrongDisabled, w2 := answer(resp, body), e.work()
		resp, body = e.do("POST", "/v1/signin", map[string]string{"email": bob, "password": "wrong horse"})
		wrongEnabled, w3 := answer(resp, body), e.work()
		if wrongDisabled != wrongEnabled {
			t.Fatalf("a wrong password tells a disabled account apart:\n%s\n%s", wrongDisabled, wrongEnabled)
		}
		if r, w, b := w1.minus(w0), w2.minus(w1), w3.minus(w2); r.bcrypts != 1 || w != b {
			t.Fatalf("work: right password %+v, wrong for the disabled account %+v, wrong for another %+v", r, w, b)
		}
		resp, body = e.form("/oauth/token", url.Values{"grant_type": {"password"}, "username": {ann}, "password": {pw}})
		if desc := wantError(t, resp, body, http.StatusBadRequest, "invalid_grant"); !strings.Contains(desc, "disabled") {
			t.Fatalf("password grant: description %q", desc)
		}
		resp, body = e.do("POST", "/v1/token/refresh", map[string]string{"refresh_token": tk2.RefreshToken})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
		if _, body := e.introspect(tk1.AccessToken, auth...); body["active"] != false || len(body) != 1 {
			t.Fatalf("introspection after: %v", body)
		}
		resp, body = e.do("GET", "/v1/me", nil, "Authorization", "Bearer "+tk1.AccessToken)
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_token")

		// A password reset is allowed; the account stays disabled.
		if resp, body := e.do("POST", "/v1/password/forgot", map[string]string{"email": ann}); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("forgot: %d %s", resp.StatusCode, body)
		}
		e.pump()
		msgs := mail.to(ann, issuer.MailPasswordReset)
		if len(msgs) != 1 {
			t.Fatalf("%d reset messages", len(msgs))
		}
		const pw2 = "staple battery horse"
		if resp, body := e.do("POST", "/v1/password/reset", map[string]string{"token": tokenOf(t, msgs[0]), "password": pw2}); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("reset: %d %s", resp.StatusCode, body)
		}
		resp, body = e.do("POST", "/v1/signin", map[string]string{"email": ann, "password": pw2})
		wantError(t, resp, body, http.StatusForbidden, "account_disabled")

		evs, err := db.Events(ctx, "user_disabled")
		if err != nil || len(evs) != 1 || evs[0].UserID == nil || *evs[0].UserID != tk1.User.ID || !strings.Contains(evs[0].Detail, `"sessions_revoked":"2"`) {
			t.Fatalf("user_disabled events: %+v %v", evs, err)
		}
		if evs, err := db.Events(ctx, "signin_disabled"); err != nil || len(evs) != 3 {
			t.Fatalf("signin_disabled events: %+v %v", evs, err)
		}

		// Enabled again: sign-in works; the ended sessions stay ended.
		if d, err := e.iss.Accounts.EnableUser(ctx, issuer.Caller{}, ann); err != nil || !d.Changed || d.User.Disabled() {
			t.Fatalf("enable: %+v %v", d, err)
		}
		tk3 := e.signin(ann, pw2)
		if _, body := e.introspect(tk3.AccessToken, auth...); body["active"] != true {
			t.Fatalf("introspection after enabling: %v", body)
		}
		resp, body = e.do("POST", "/v1/token/refresh", map[string]string{"refresh_token": tk2.RefreshToken})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
		if evs, err := db.Events(ctx, "user_enabled"); err != nil || len(evs) != 1 {
			t.Fatalf("user_enabled events: %+v %v", evs, err)
		}
		if _, err := e.iss.Accounts.DisableUser(ctx, issuer.Caller{}, "nobody@example.com"); !errors.Is(err, issuer.ErrNotFound) {
			t.Fatalf("disable an unknown user: %v", err)
		}
	})
}

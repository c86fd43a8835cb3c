package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

func (e *env) form(path string, v url.Values) (*http.Response, []byte) {
	e.t.Helper()
	return e.do("POST", path, v.Encode(), "Content-Type", "application/x-www-form-urlencoded")
}

// TestOAuthWithGoClient drives /oauth/token with golang.org/x/oauth2.
func TestOAuthWithGoClient(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		conf := &oauth2.Config{
			ClientID: "ignored-client",
			Endpoint: oauth2.Endpoint{TokenURL: e.srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		}
		ctx := context.Background()
		tok, err := conf.PasswordCredentialsToken(ctx, "ann@example.com", "correct horse")
		if err != nil {
			t.Fatal(err)
		}
		if tok.TokenType != "Bearer" || tok.AccessToken == "" || !strings.HasPrefix(tok.RefreshToken, "sgt_rt2_") ||
			tok.ExpiresIn != 900 || tok.Extra("refresh_expires_in") == nil {
			t.Fatalf("token = %+v", tok)
		}
		if !e.me(tok.AccessToken) {
			t.Fatal("the OAuth access token does not work on /v1/me")
		}

		// The client refreshes a token it believes expired (its clock is
		// the real one); the issuer's clock moves past the access token.
		e.clock.Advance(16 * time.Minute)
		stale := *tok
		stale.Expiry = time.Now().Add(-time.Minute)
		fresh, err := conf.TokenSource(ctx, &stale).Token()
		if err != nil {
			t.Fatal(err)
		}
		if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken || !e.me(fresh.AccessToken) {
			t.Fatalf("refreshed token = %+v", fresh)
		}

		// Once its successor has been used, the spent refresh token is an
		// RFC 6749 §5.2 invalid_grant (400) and ends the session.
		e.clock.Advance(11 * time.Second)
		fresh.Expiry = time.Now().Add(-time.Minute)
		if _, err := conf.TokenSource(ctx, fresh).Token(); err != nil {
			t.Fatal(err)
		}
		_, err = conf.TokenSource(ctx, &stale).Token()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response.StatusCode != 400 || re.ErrorCode != "invalid_grant" || re.ErrorDescription == "" {
			t.Fatalf("reuse: %v", err)
		}
		if e.me(fresh.AccessToken) {
			t.Fatal("the session survived the reuse")
		}

		// Wrong password: invalid_grant, 400.
		_, err = conf.PasswordCredentialsToken(ctx, "ann@example.com", "wrong horse")
		if !errors.As(err, &re) || re.Response.StatusCode != 400 || re.ErrorCode != "invalid_grant" {
			t.Fatalf("wrong password: %v", err)
		}
	})
}

func TestOAuthTokenRequests(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	e.signup("ann@example.com", "correct horse")
	cases := []struct {
		name string
		body string
		ct   string
		code string
	}{
		{"no grant_type", "username=ann%40example.com&password=correct+horse", "", "invalid_request"},
		{"empty grant_type", "grant_type=&username=ann%40example.com&password=correct+horse", "", "invalid_request"},
		{"unknown grant", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code", "", "unsupported_grant_type"},
		{"repeated grant_type", "grant_type=password&grant_type=password&username=ann%40example.com&password=correct+horse", "", "invalid_request"},
		{"repeated password", "grant_type=password&username=ann%40example.com&password=a&password=correct+horse", "", "invalid_request"},
		{"no username", "grant_type=password&password=correct+horse", "", "invalid_request"},
		{"no password", "grant_type=password&username=ann%40example.com", "", "invalid_request"},
		{"no refresh_token", "grant_type=refresh_token", "", "invalid_request"},
		{"bad refresh_token", "grant_type=refresh_token&refresh_token=sgt_rt_nope", "", "invalid_grant"},
		{"wrong password", "grant_type=password&username=ann%40example.com&password=wrong+horse", "", "invalid_grant"},
		{"JSON body", `{"grant_type":"password"}`, "application/json", "invalid_request"},
		{"bad encoding", "grant_type=%zz", "", "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct := c.ct
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			resp, body := e.do("POST", "/oauth/token", c.body, "Content-Type", ct)
			wantError(t, resp, body, 400, c.code)
			if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
				t.Fatalf("headers %v", resp.Header)
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		resp, body := e.form("/oauth/token", url.Values{"grant_type": {"password"}, "x": {strings.Repeat("a", 20000)}})
		wantError(t, resp, body, 413, "request_too_large")
	})
	t.Run("success headers and scope", func(t *testing.T) {
		resp, body := e.form("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"},
			"password": {"correct horse"}, "scope": {"admin"}, "client_id": {"whatever"}})
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
			t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
		}
		if !strings.Contains(string(body), `"scope":""`) || strings.Contains(string(body), `"user"`) {
			t.Fatalf("body %s", body)
		}
	})
}

func TestOAuthRevoke(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		ok := func(v url.Values) {
			t.Helper()
			resp, body := e.form("/oauth/revoke", v)
			if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("revoke %v: %d %q", v, resp.StatusCode, body)
			}
		}
		a := e.signin("ann@example.com", "correct horse")
		b := e.signin("ann@example.com", "correct horse")
		ok(url.Values{"token": {a.RefreshToken}, "token_type_hint": {"refresh_token"}})
		if e.me(a.AccessToken) || e.refreshes(a.RefreshToken) {
			t.Fatal("revoked refresh token's session still works")
		}
		if !e.me(b.AccessToken) {
			t.Fatal("revoking one session ended another")
		}
		// Repeats, unknown and malformed tokens: 200, nothing happens.
		ok(url.Values{"token": {a.RefreshToken}})
		ok(url.Values{"token": {"sgt_rt_" + strings.Repeat("A", 75)}})
		ok(url.Values{"token": {"garbage"}, "token_type_hint": {"something_else"}})
		if !e.me(b.AccessToken) {
			t.Fatal("an invalid token revoked something")
		}
		// An access token revokes its session too.
		ok(url.Values{"token": {b.AccessToken}, "token_type_hint": {"access_token"}})
		if e.me(b.AccessToken) {
			t.Fatal("revoked access token's session still works")
		}
		resp, body := e.form("/oauth/revoke", url.Values{"token_type_hint": {"refresh_token"}})
		wantError(t, resp, body, 400, "invalid_request")
		resp, body = e.form("/oauth/revoke", url.Values{"token": {"a", "b"}})
		wantError(t, resp, body, 400, "invalid_request")
		ev, _ := db.Events(context.Background(), "session_revoked")
		if len(ev) != 2 || !strings.Contains(ev[0].Detail, "oauth_revoke") {
			t.Fatalf("session_revoked events %+v", ev)
		}
	})
}

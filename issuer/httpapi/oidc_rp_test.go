package httpapi_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// TestRelyingPartyGoOIDC: an off-the-shelf relying party (coreos/go-oidc
// with golang.org/x/oauth2) signs a user in against the issuer served on
// a loopback port: discovery, the code flow with PKCE S256 through the
// issuer's sign-in page, the ID token verified by go-oidc (signature,
// issuer, audience, expiry, nonce, at_hash) with RS256 and with EdDSA,
// and UserInfo.
func TestRelyingPartyGoOIDC(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		issuerURL := "http://" + ln.Addr().String()
		e, secret := newOIDCEnv(t, db, func(s *settings, _ *keys.Policy) {
			s.IssuerURL, s.Audience = issuerURL, []string{issuerURL}
		})
		srv := httptest.NewUnstartedServer(e.server.Handler())
		srv.Listener.Close()
		srv.Listener = ln
		srv.Start()
		t.Cleanup(srv.Close)
		e.srv = srv
		// go-oidc checks expiry against the real clock.
		e.clock.Set(time.Now().UTC().Truncate(time.Second))

		ctx := context.Background()
		provider, err := oidc.NewProvider(ctx, issuerURL)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		for _, tc := range []struct {
			client, redirect, alg string
			auth                  oauth2.AuthStyle
			secret                string
		}{
			{"app", appRedirect, oidc.RS256, oauth2.AuthStyleInParams, ""},
			{"web", webRedirect, oidc.EdDSA, oauth2.AuthStyleInHeader, secret},
		} {
			conf := oauth2.Config{
				ClientID: tc.client, ClientSecret: tc.secret, RedirectURL: tc.redirect,
				Endpoint: oauth2.Endpoint{AuthURL: provider.Endpoint().AuthURL, TokenURL: provider.Endpoint().TokenURL, AuthStyle: tc.auth},
				Scopes:   []string{oidc.ScopeOpenID, "email", "profile"},
			}
			pkce := oauth2.GenerateVerifier()
			authURL := conf.AuthCodeURL("rp-state", oidc.Nonce("rp-nonce-"+tc.client), oauth2.S256ChallengeOption(pkce))
			u, _ := url.Parse(authURL)
			b := newBrowser(t, e)
			resp, page := b.get(u.RequestURI())
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: authorize: %d %s", tc.client, resp.StatusCode, page)
			}
			resp, body := b.signIn(page, "ann@example.com", testPassword)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("%s: sign-in: %d %s", tc.client, resp.StatusCode, body)
			}
			back, _ := url.Parse(resp.Header.Get("Location"))
			q := back.Query()
			if q.Get("state") != "rp-state" || q.Get("iss") != issuerURL {
				t.Fatalf("%s: authorization response %s", tc.client, back)
			}
			tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pkce))
			if err != nil {
				t.Fatalf("%s: exchange: %v", tc.client, err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := provider.Verifier(&oidc.Config{ClientID: tc.client, SupportedSigningAlgs: []string{tc.alg}}).Verify(ctx, raw)
			if err != nil {
				t.Fatalf("%s: go-oidc refused the ID token: %v", tc.client, err)
			}
			if idt.Nonce != "rp-nonce-"+tc.client {
				t.Errorf("%s: nonce %q", tc.client, idt.Nonce)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("%s: at_hash: %v", tc.client, err)
			}
			var claims struct {
				Email         string `json:"email"`
				EmailVerified *bool  `json:"email_verified"`
			}
			if err := idt.Claims(&claims); err != nil || claims.Email != "ann@example.com" || claims.EmailVerified == nil {
				t.Errorf("%s: claims %+v %v", tc.client, claims, err)
			}
			info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil || info.Subject != idt.Subject || info.Email != "ann@example.com" {
				t.Fatalf("%s: userinfo %+v %v", tc.client, info, err)
			}
			// Another audience is refused by the relying party.
			if _, err := provider.Verifier(&oidc.Config{ClientID: "someone-else", SupportedSigningAlgs: []string{tc.alg}}).Verify(ctx, raw); err == nil {
				t.Errorf("%s: go-oidc accepted the ID token for another client", tc.client)
			}
		}
	})
}

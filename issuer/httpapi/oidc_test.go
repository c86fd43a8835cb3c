package httpapi_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/verifier"
)

// verifyIDToken checks an ID token's signature against the issuer's JWK
// set and returns its claims.
func verifyIDToken(t *testing.T, e *env, tok string) map[string]any {
	t.Helper()
	set, err := jwk.Parse(e.ring.JWKS().Body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify([]byte(tok), jws.WithKeySet(set, jws.WithInferAlgorithmFromKey(true))); err != nil {
		t.Fatalf("ID token signature: %v", err)
	}
	_, c := jwtParts(t, tok)
	return c
}

// TestAuthorizationCodeFlow: sign-in on the issuer's page, a code to the
// registered redirect URI with state and iss, redeemed by a public client
// with PKCE: an access token for the default resource, an RS256 ID token
// (typ JWT) with the OpenID Connect claims, the nonce, at_hash, sid and
// email; no refresh token without offline_access, one with it; UserInfo
// answers with the token; the ID token is no access token.
func TestAuthorizationCodeFlow(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db)
		b := newBrowser(t, e)

		resp, page := b.get(authorizePath("login_hint", "ann@example.com"))
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `value="ann@example.com"`) || !strings.Contains(page, "The App") {
			t.Fatalf("sign-in page: %d\n%s", resp.StatusCode, page)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self' https://app.example"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		for _, want := range []string{`<label for="email">`, `<label for="password">`, `autocomplete="current-password"`} {
			if !strings.Contains(page, want) {
				t.Errorf("sign-in page lacks %s", want)
			}
		}
		resp, body := b.signIn(page, "ann@example.com", testPassword)
		q := redirected(t, resp, body, appRedirect)
		if q.Get("state") != "st-1" || len(q.Get("code")) < 43 {
			t.Fatalf("authorization response %v", q)
		}
		for _, ev := range []string{`"authorization_code_issued"`, `"via":"page"`} {
			if !strings.Contains(e.logs.String(), ev) {
				t.Errorf("no audit event %s", ev)
			}
		}
		if metricValue(t, e, `signet_authorizations_total{outcome="login"}`) != 1 || metricValue(t, e, `signet_authorizations_total{outcome="code"}`) != 1 {
			t.Error("authorization metrics do not count the page and the code")
		}
		tk := e.redeemOK(q.Get("code"))
		if tk.TokenType != "Bearer" || tk.RefreshToken != "" || tk.Scope != "email openid" || tk.ExpiresIn != 900 {
			t.Fatalf("token response %+v", tk)
		}
		h, _ := jwtParts(t, tk.IDToken)
		if h["typ"] != "JWT" || h["alg"] != "RS256" {
			t.Fatalf("ID token header %v", h)
		}
		c := verifyIDToken(t, e, tk.IDToken)
		at := accessClaims(t, tk.AccessToken)
		sum := sha256.Sum256([]byte(tk.AccessToken))
		now := float64(e.clock.Now().Unix())
		for k, want := range map[string]any{
			"iss": "http://issuer.test", "aud": "app", "azp": "app", "nonce": "n-1", "email": "ann@example.com",
			"email_verified": false, "sub": at["sub"], "sid": at["sid"], "at_hash": base64.RawURLEncoding.EncodeToString(sum[:16]),
			"iat": now, "exp": now + 900, "auth_time": now,
		} {
			if c[k] != want {
				t.Errorf("ID token %s = %v, want %v", k, c[k], want)
			}
		}
		if at["aud"].([]any)[0] != "http://issuer.test" || at["client_id"] != "app" {
			t.Errorf("access token %v", at)
		}

		resp, ui := e.do("GET", "/oauth/userinfo", nil, "Authorization", "Bearer "+tk.AccessToken)
		if resp.StatusCode != http.StatusOK || string(ui) != `{"email":"ann@example.com","email_verified":false,"sub":"`+at["sub"].(string)+`"}` {
			t.Fatalf("userinfo: %d %s", resp.StatusCode, ui)
		}
		// The ID token is refused where an access token is wanted: by the
		// issuer's own endpoints and by the verifier (typ).
		resp, body2 := e.do("GET", "/oauth/userinfo", nil, "Authorization", "Bearer "+tk.IDToken)
		wantError(t, resp, body2, http.StatusUnauthorized, "invalid_token")
		if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
		}
		resp, body2 = e.do("GET", "/v1/me", nil, "Authorization", "Bearer "+tk.IDToken)
		wantError(t, resp, body2, http.StatusUnauthorized, "invalid_token")
		v, err := verifier.New(context.Background(), verifier.Config{Issuer: "http://issuer.test", Audience: "app", StaticJWKS: e.ring.JWKS().Body, Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), tk.IDToken); !errors.Is(err, verifier.ErrMalformed) || !strings.Contains(err.Error(), "typ is not at+jwt") {
			t.Fatalf("verifier on an ID token: %v, want ErrMalformed for its typ", err)
		}

		// offline_access, for a client allowed refresh: a refresh token,
		// which refreshes.
		code := b.login(authorizePath("scope", "openid offline_access"))
		tk2 := e.redeemOK(code)
		if tk2.RefreshToken == "" || tk2.Scope != "offline_access openid" {
			t.Fatalf("with offline_access: %+v", tk2)
		}
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk2.RefreshToken}, "client_id": {"app"}, "scope": {"openid"}}
		resp, body2 = e.do("POST", "/oauth/token", f.Encode(), "Content-Type", "application/x-www-form-urlencoded")
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body2), `"scope":"openid"`) {
			t.Fatalf("refresh: %d %s", resp.StatusCode, body2)
		}

		// Without the email scope, UserInfo gives sub alone; without
		// openid, it refuses with 403 insufficient_scope.
		tk3 := e.redeemOK(b.login(authorizePath("scope", "openid")))
		if _, c := jwtParts(t, tk3.IDToken); c["email"] != nil {
			t.Errorf("email in the ID token without the email scope: %v", c)
		}
		_, ui = e.do("GET", "/oauth/userinfo", nil, "Authorization", "Bearer "+tk3.AccessToken)
		if string(ui) != `{"sub":"`+at["sub"].(string)+`"}` {
			t.Fatalf("userinfo without email: %s", ui)
		}
		tk4 := e.redeemOK(b.login(authorizePath("scope", "")))
		if tk4.IDToken != "" {
			t.Fatal("an ID token without the openid scope")
		}
		resp, body2 = e.do("POST", "/oauth/userinfo", nil, "Authorization", "Bearer "+tk4.AccessToken)
		wantError(t, resp, body2, http.StatusForbidden, "insufficient_scope")
		if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
		}
		// A revoked session's token no longer gets UserInfo.
		e.do("POST", "/v1/signout", nil, "Authorization", "Bearer "+tk.AccessToken)
		resp, body2 = e.do("GET", "/oauth/userinfo", nil, "Authorization", "Bearer "+tk.AccessToken)
		wantError(t, resp, body2, http.StatusUnauthorized, "invalid_token")
	})
}

// TestAuthorizeRefusals: what cannot be trusted (unknown client, a
// redirect URI not registered) gets the error page and no redirect;
// the rest goes to the client with the exact error, state and iss.
func TestAuthorizeRefusals(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db)
		b := newBrowser(t, e)
		for _, tc := range []struct {
			name string
			path string
			code string
		}{
			{"unknown client", authorizePath("client_id", "nobody"), "invalid_client"},
			{"no client", authorizePath("client_id", ""), "invalid_request"},
			{"unregistered redirect", authorizePath("redirect_uri", "https://evil.example/cb"), "invalid_request"},
			{"redirect with another path", authorizePath("redirect_uri", appRedirect+"/x"), "invalid_request"},
			{"redirect with a query added", authorizePath("redirect_uri", appRedirect+"?x=1"), "invalid_request"},
			{"no redirect", authorizePath("redirect_uri", ""), "invalid_request"},
			{"loopback port for a confidential client", authorizePath("client_id", "web", "redirect_uri", "http://127.0.0.1:8765/web"), "invalid_request"},
			{"repeated client_id", authorizePath() + "&client_id=app", "invalid_request"},
		} {
			resp, page := b.get(tc.path)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(page, "<code>"+tc.code+"</code>") {
				t.Errorf("%s: %d Location=%q, want the error page with %s:\n%s", tc.name, resp.StatusCode, resp.Header.Get("Location"), tc.code, page)
			}
		}
		for _, tc := range []struct {
			name, path, code, desc string
		}{
			{"no PKCE", authorizePath("code_challenge", "", "code_challenge_method", ""), "invalid_request", "code_challenge is required (PKCE with S256)"},
			{"plain PKCE", authorizePath("code_challenge_method", "plain"), "invalid_request", "code_challenge_method must be S256"},
			{"no PKCE method", authorizePath("code_challenge_method", ""), "invalid_request", "code_challenge_method must be S256"},
			{"short challenge", authorizePath("code_challenge", "abc"), "invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)"},
			{"challenge outside base64url", authorizePath("code_challenge", strings.Repeat("~", 42)+"."), "invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)"},
			{"implicit", authorizePath("response_type", "token"), "unsupported_response_type", "response_type must be code"},
			{"hybrid", authorizePath("response_type", "code id_token"), "unsupported_response_type", "response_type must be code"},
			{"fragment mode", authorizePath("response_mode", "fragment"), "invalid_request", "response_mode must be query"},
			{"request object", authorizePath("request", "eyJ.x.y"), "request_not_supported", "request objects are not supported"},
			{"unknown resource", authorizePath("resource", "https://unknown.example/"), "invalid_target", "unknown resource"},
			{"malformed scope", authorizePath("scope", "openid \"x"), "invalid_scope", "scope is malformed"},
			{"prompt consent", authorizePath("prompt", "consent"), "invalid_request", "prompt must be none or login"},
			{"bad max_age", authorizePath("max_age", "-1"), "invalid_request", "max_age must be a number of seconds"},
			{"prompt=none without a session", authorizePath("prompt", "none"), "login_required", "the user must sign in"},
			{"repeated scope", authorizePath() + "&scope=openid", "invalid_request", "parameter scope is repeated"},
		} {
			resp, body := b.get(tc.path)
			q := redirected(t, resp, body, appRedirect)
			if q.Get("error") != tc.code || q.Get("error_description") != tc.desc || q.Get("state") != "st-1" || q.Get("code") != "" {
				t.Errorf("%s: %v, want error %s %q", tc.name, q, tc.code, tc.desc)
			}
		}
		// A client not allowed the code grant.
		ctx := context.Background()
		if _, _, err := e.iss.Registry.CreateClient(ctx, issuer.Caller{}, issuer.Client{ID: "pw", Type: issuer.ClientPublic,
			GrantTypes: []string{issuer.GrantPassword}, RedirectURIs: []string{appRedirect}}); err != nil {
			t.Fatal(err)
		}
		// Registration refuses what the flow could not use safely.
		for _, c := range []issuer.Client{
			{ID: "c1", Type: issuer.ClientPublic, GrantTypes: []string{issuer.GrantAuthorizationCode}},
			{ID: "c2", Type: issuer.ClientPublic, GrantTypes: []string{issuer.GrantAuthorizationCode}, RedirectURIs: []string{"http://app.example/cb"}},
			{ID: "c3", Type: issuer.ClientPublic, GrantTypes: []string{issuer.GrantAuthorizationCode}, RedirectURIs: []string{appRedirect}, PostLogoutRedirectURIs: []string{"https://app.example/#x"}},
		} {
			if _, _, err := e.iss.Registry.CreateClient(ctx, issuer.Caller{}, c); issuer.KindOf(err) != issuer.KindInvalid {
				t.Errorf("client %s registered: %v", c.ID, err)
			}
		}
		resp, body := b.get(authorizePath("client_id", "pw"))
		if q := redirected(t, resp, body, appRedirect); q.Get("error") != "unauthorized_client" {
			t.Errorf("client without the code grant: %v", q)
		}
	})
}

// TestLoopbackRedirect: a public (native) client's loopback redirect URI
// takes any port (RFC 8252 §7.3), nothing else about it changes.
func TestLoopbackRedirect(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db)
		b := newBrowser(t, e)
		resp, page := b.get(authorizePath("redirect_uri", "http://127.0.0.1:51234/native"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("loopback with a port: %d %s", resp.StatusCode, page)
		}
		resp, body := b.signIn(page, "ann@example.com", testPassword)
		q := redirected(t, resp, body, "http://127.0.0.1:51234/native")
		// The code is bound to the redirect URI with its port.
		resp2, body2 := e.redeem(q.Get("code"), "redirect_uri", "http://127.0.0.1:51235/native")
		wantError(t, resp2, body2, http.StatusBadRequest, "invalid_grant")
		for _, bad := range []string{"http://127.0.0.1:51234/other", "http://localhost:51234/native", "https://127.0.0.1:51234/native"} {
			if resp, _ := b.get(authorizePath("redirect_uri", bad)); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d, want the error page", bad, resp.StatusCode)
			}
		}
	})
}

// TestCodeRedemptionRefusals: each wrong code grant gets its exact
// error, and a replayed code revokes what its first redemption issued.
func TestCodeRedemptionRefusals(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, secret := newOIDCEnv(t, db)
		b := newBrowser(t, e)
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("web:"+url.QueryEscape(secret)))

		for _, tc := range []struct {
			name   string
			kv     []string
			status int
			code   string
		}{
			{"wrong verifier", []string{"code_verifier", strings.Repeat("a", 43)}, 400, "invalid_grant"},
			{"no verifier", []string{"code_verifier", ""}, 400, "invalid_request"},
			{"short verifier", []string{"code_verifier", "abc"}, 400, "invalid_request"},
			{"other redirect_uri", []string{"redirect_uri", appLoopback}, 400, "invalid_grant"},
			{"code for another client", []string{"client_id", "", "Authorization", basic, "redirect_uri", appRedirect}, 400, "invalid_grant"},
		} {
			code := b.login(authorizePath())
			resp, body := e.redeem(code, tc.kv...)
			wantError(t, resp, body, tc.status, tc.code)
			if tc.code == "invalid_grant" {
				// The refused attempt spent the code.
				resp, body = e.redeem(code)
				wantError(t, resp, body, 400, "invalid_grant")
			}
		}

		// A confidential client must authenticate.
		// (The browser is signed in: single sign-on.)
		path := authorizePath("client_id", "web", "redirect_uri", webRedirect)
		resp, body := b.get(path)
		webCode := redirected(t, resp, body, webRedirect).Get("code")
		resp2, body2 := e.redeem(webCode, "client_id", "web", "redirect_uri", webRedirect)
		wantError(t, resp2, body2, http.StatusUnauthorized, "invalid_client")
		resp, body = b.get(path)
		webCode = redirected(t, resp, body, webRedirect).Get("code")
		tk := e.redeemOK(webCode, "client_id", "", "Authorization", basic, "redirect_uri", webRedirect)
		if h, _ := jwtParts(t, tk.IDToken); h["alg"] != "EdDSA" {
			t.Fatalf("web registered EdDSA ID tokens: header %v", h)
		} else {
			c := verifyIDToken(t, e, tk.IDToken)
			sum := sha512.Sum512([]byte(tk.AccessToken))
			if c["at_hash"] != base64.RawURLEncoding.EncodeToString(sum[:32]) {
				t.Errorf("EdDSA at_hash %v", c["at_hash"])
			}
		}

		// Expired: 60 seconds.
		code := b.login(authorizePath())
		e.clock.Advance(61 * time.Second)
		resp, bodyb := e.redeem(code)
		wantError(t, resp, bodyb, 400, "invalid_grant")

		// Replayed: refused, and the first redemption's tokens revoked,
		// in the revocation feed and the audit log.
		code = b.login(authorizePath("scope", "openid offline_access"))
		first := e.redeemOK(code)
		resp, bodyb = e.redeem(code)
		wantError(t, resp, bodyb, 400, "invalid_grant")
		resp, bodyb = e.do("GET", "/oauth/userinfo", nil, "Authorization", "Bearer "+first.AccessToken)
		wantError(t, resp, bodyb, http.StatusUnauthorized, "invalid_token")
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {"app"}}
		resp, bodyb = e.do("POST", "/oauth/token", f.Encode(), "Content-Type", "application/x-www-form-urlencoded")
		wantError(t, resp, bodyb, 400, "invalid_grant")
		events, err := db.Events(context.Background(), "authorization_code_replayed")
		// One for each code the refusals above spent and presented again
		// (nothing issued), and this one.
		if err != nil || len(events) != 4 || !strings.Contains(events[3].Detail, `"session_revoked":"true"`) || strings.Contains(events[0].Detail, "session_revoked") {
			t.Fatalf("audit events: %+v %v", events, err)
		}
		revs, err := db.RevocationsAfter(context.Background(), 0, e.clock.Now(), 100)
		if err != nil || len(revs) == 0 {
			t.Fatalf("revocation feed: %v %v", revs, err)
		}
		if got := metricValue(t, e, `signet_authorization_code_grants_total{outcome="replayed"}`); got != 4 {
			t.Errorf("replayed metric = %v", got)
		}
		// Garbage codes.
		for _, bad := range []string{"x", "sgt_ac_" + strings.Repeat("A", 43), strings.Repeat("A", 50)} {
			resp, bodyb = e.redeem(bad)
			wantError(t, resp, bodyb, 400, "invalid_grant")
		}
	})
}

// TestSingleSignOn: once signed in at the page, the next authorization
// request (another client too) gets a code without the password;
// prompt=login and an exceeded max_age show the sign-in page again;
// prompt=none with a session gets a code; the session ends with global
// sign-out.
func TestSingleSignOn(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db)
		b := newBrowser(t, e)
		b.login(authorizePath())
		t0 := e.clock.Now()

		e.clock.Advance(10 * time.Second)
		resp, body := b.get(authorizePath("nonce", "n-2", "state", "st-2"))
		q := redirected(t, resp, body, appRedirect)
		if q.Get("code") == "" || q.Get("state") != "st-2" {
			t.Fatalf("SSO: %v", q)
		}
		tk := e.redeemOK(q.Get("code"))
		if _, c := jwtParts(t, tk.IDToken); c["auth_time"] != float64(t0.Unix()) || c["nonce"] != "n-2" {
			t.Fatalf("SSO ID token: auth_time %v nonce %v, want %d n-2", c["auth_time"], c["nonce"], t0.Unix())
		}
		resp, body = b.get(authorizePath("client_id", "web", "redirect_uri", webRedirect))
		redirected(t, resp, body, webRedirect)
		resp, body = b.get(authorizePath("prompt", "none"))
		if q := redirected(t, resp, body, appRedirect); q.Get("code") == "" {
			t.Fatalf("prompt=none with a session: %v", q)
		}
		resp, body = b.get(authorizePath("max_age", "60"))
		if q := redirected(t, resp, body, appRedirect); q.Get("code") == "" {
			t.Fatalf("max_age not exceeded: %v", q)
		}
		resp, body = b.get(authorizePath("max_age", "5"))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="password"`) || !strings.Contains(body, `value="ann@example.com"`) {
			t.Fatalf("max_age exceeded: %d %s", resp.StatusCode, body)
		}
		resp, body = b.get(authorizePath("max_age", "5", "prompt", "none"))
		if q := redirected(t, resp, body, appRedirect); q.Get("error") != "login_required" {
			t.Fatalf("max_age exceeded with prompt=none: %v", q)
		}
		resp, page := b.get(authorizePath("prompt", "login"))
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
			t.Fatalf("prompt=login: %d", resp.StatusCode)
		}
		// The new sign-in gives a new auth_time, and prompt=login does not
		// loop.
		resp, body = b.signIn(page, "ann@example.com", testPassword)
		tk = e.redeemOK(redirected(t, resp, body, appRedirect).Get("code"))
		if _, c := jwtParts(t, tk.IDToken); c["auth_time"] != float64(e.clock.Now().Unix()) {
			t.Fatalf("auth_time after prompt=login: %v", c["auth_time"])
		}

		// Global sign-out ends the browser session.
		resp, bodyb := e.do("POST", "/v1/signout?scope=global", nil, "Authorization", "Bearer "+tk.AccessToken)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("signout: %d %s", resp.StatusCode, bodyb)
		}
		resp, body = b.get(authorizePath("prompt", "none"))
		if q := redirected(t, resp, body, appRedirect); q.Get("error") != "login_required" {
			t.Fatalf("after global sign-out: %v", q)
		}
	})
}

// TestPageCSRF: the sign-in form is refused (403, the error page, no
// password checked) without the CSRF token, with a wrong one, or with a
// token of another browser's cookie.
func TestPageCSRF(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db)
		b := newBrowser(t, e)
		_, page := b.get(authorizePath())
		f := formFields(t, page)
		f.Set("email", "ann@example.com")
		f.Set("password", testPassword)
		other := newBrowser(t, e)
		_, otherPage := other.get(authorizePath())
		for _, tc := range []struct {
			name  string
			token string
		}{{"missing", ""}, {"wrong", strings.Repeat("x", 43)}, {"another browser's", formFields(t, otherPage).Get("csrf_token")}} {
			g := url.Values{}
			for k, v := range f {
				g[k] = v
			}
			if tc.token == "" {
				g.Del("csrf_token")
			} else {
				g.Set("csrf_token", tc.token)
			}
			resp, body := b.post("/ui/signin", g)
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" || !strings.Contains(body, "the form has expired or was not sent from this site") {
				t.Errorf("%s token: %d %s", tc.name, resp.StatusCode, body)
			}
		}
		// Without the cookie.
		bare := newBrowser(t, e)
		resp, _ := bare.post("/ui/signin", f)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("no cookie: %d", resp.StatusCode)
		}
		if strings.Contains(e.logs.String(), `"signin_failed"`) || strings.Contains(e.logs.String(), `"via":"page"`) {
			t.Error("a refused form reached the password check")
		}
		resp, body := b.post("/ui/signin", f)
		redirected(t, resp, body, appRedirect)
	})
}

// TestPageSignInThrottle: the page signs in through the same throttle as
// /v1/signin: wrong passwords show the same refusal on the page (401),
// then 429 with Retry-After, and the account's block holds /v1/signin
// too.
func TestPageSignInThrottle(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db)
		b := newBrowser(t, e)
		_, page := b.get(authorizePath())
		var resp *http.Response
		var body string
		for i := range 10 {
			resp, body = b.signIn(page, "ann@example.com", "wrong password "+strconv.Itoa(i))
			if resp.StatusCode == http.StatusTooManyRequests {
				break
			}
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "The email address or password is not right.") {
				t.Fatalf("attempt %d: %d %s", i, resp.StatusCode, body)
			}
			page = body
		}
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, `role="alert"`) {
			t.Fatalf("after repeated failures: %d Retry-After=%q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		r2, b2 := e.do("POST", "/v1/signin", map[string]string{"email": "ann@example.com", "password": testPassword})
		wantError(t, r2, b2, http.StatusTooManyRequests, "too_many_requests")
		if !strings.Contains(e.logs.String(), `"signin_failed"`) {
			t.Error("no signin_failed audit event from the page")
		}
	})
}

// TestLogout: RP-initiated logout with an id_token_hint of the signed-in
// user ends the browser session and returns to the registered
// post-logout URI with state; without a hint it asks first, and only
// the CSRF-protected POST ends it; an unregistered post-logout URI is
// refused on the error page.
func TestLogout(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db)
		b := newBrowser(t, e)
		tk := e.redeemOK(b.login(authorizePath()))

		resp, body := b.get("/oauth/logout?" + url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode())
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("unregistered post-logout URI: %d %s", resp.StatusCode, body)
		}
		// A bare GET asks.
		resp, page := b.get("/oauth/logout?" + url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {appLogout}, "state": {"bye-1"}}.Encode())
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/oauth/logout"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "form-action 'self' https://app.example") {
			t.Fatalf("logout without a hint: %d %s", resp.StatusCode, page)
		}
		resp, body = b.get(authorizePath("prompt", "none"))
		if q := redirected(t, resp, body, appRedirect); q.Get("code") == "" {
			t.Fatal("the confirmation page ended the session")
		}
		f := formFields(t, page)
		bad := url.Values{"csrf_token": {"nope"}, "client_id": f["client_id"]}
		if resp, _ := b.post("/oauth/logout", bad); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("logout POST with a bad token: %d", resp.StatusCode)
		}
		resp, _ = b.post("/oauth/logout", f)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != appLogout+"?state=bye-1" {
			t.Fatalf("confirmed logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, body = b.get(authorizePath("prompt", "none"))
		if q := redirected(t, resp, body, appRedirect); q.Get("error") != "login_required" {
			t.Fatalf("after logout: %v", q)
		}

		// With the hint: at once.
		tk = e.redeemOK(b.login(authorizePath()))
		resp, _ = b.get("/oauth/logout?" + url.Values{"id_token_hint": {tk.IDToken}, "post_logout_redirect_uri": {appLogout}, "state": {"bye-2"}}.Encode())
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != appLogout+"?state=bye-2" {
			t.Fatalf("logout with a hint: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, body = b.get(authorizePath("prompt", "none"))
		if q := redirected(t, resp, body, appRedirect); q.Get("error") != "login_required" {
			t.Fatalf("after logout with a hint: %v", q)
		}
		if !strings.Contains(e.logs.String(), `"logout"`) {
			t.Error("no logout audit event")
		}
		for outcome, want := range map[string]float64{"confirm": 1, "ended": 2} {
			if got := metricValue(t, e, `signet_logouts_total{outcome="`+outcome+`"}`); got != want {
				t.Errorf("logouts %s = %v, want %v", outcome, got, want)
			}
		}
		// A hint that is no ID token of this issuer: the error page.
		resp, _ = b.get("/oauth/logout?" + url.Values{"id_token_hint": {tk.AccessToken}}.Encode())
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("an access token as hint: %d", resp.StatusCode)
		}
	})
}

// TestPasswordGrantPerClient: the password grant is a per-client setting
// (the first-party client keeps it); a confidential client must
// authenticate on the password and refresh grants.
func TestPasswordGrantPerClient(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, _ := newOIDCEnv(t, db)
		form := func(kv ...string) string {
			f := url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {testPassword}}
			for i := 0; i+1 < len(kv); i += 2 {
				f.Set(kv[i], kv[i+1])
			}
			return f.Encode()
		}
		ct := []string{"Content-Type", "application/x-www-form-urlencoded"}
		resp, body := e.do("POST", "/oauth/token", form(), ct...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("first-party password grant: %d %s", resp.StatusCode, body)
		}
		resp, body = e.do("POST", "/oauth/token", form("client_id", "app"), ct...)
		wantError(t, resp, body, http.StatusBadRequest, "unauthorized_client")
		ctx := context.Background()
		registerDemo(t, e)
		_, secret, err := e.iss.Registry.CreateClient(ctx, issuer.Caller{}, issuer.Client{ID: "legacy", Type: issuer.ClientConfidential,
			AuthMethod: issuer.AuthClientSecretBasic, GrantTypes: []string{issuer.GrantPassword, issuer.GrantRefreshToken}, Resources: []string{videoURI}})
		if err != nil {
			t.Fatal(err)
		}
		resp, body = e.do("POST", "/oauth/token", form("client_id", "legacy"), ct...)
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("legacy:wrong"))
		resp, body = e.do("POST", "/oauth/token", form(), append(ct, "Authorization", basic)...)
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
		basic = "Basic " + base64.StdEncoding.EncodeToString([]byte("legacy:"+url.QueryEscape(secret)))
		resp, body = e.do("POST", "/oauth/token", form(), append(ct, "Authorization", basic)...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("authenticated confidential password grant: %d %s", resp.StatusCode, body)
		}
		var tk tokens
		_ = json.Unmarshal(body, &tk)
		rf := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}, "client_id": {"legacy"}}.Encode()
		resp, body = e.do("POST", "/oauth/token", rf, ct...)
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
		resp, body = e.do("POST", "/oauth/token", rf, append(ct, "Authorization", basic)...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("authenticated confidential refresh: %d %s", resp.StatusCode, body)
		}
	})
}

// TestOIDCDiscoveryMatchesBehaviour: what discovery advertises is what
// the server does: its endpoints answer, every grant type is accepted by
// name, the only response type and PKCE method work and others are
// refused, every ID-token algorithm signs, and the ID token and UserInfo
// carry only advertised claims.
func TestOIDCDiscoveryMatchesBehaviour(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e, secret := newOIDCEnv(t, db)
		resp, body := e.do("GET", "/.well-known/openid-configuration", nil)
		var d struct {
			Issuer, AuthorizationEndpoint, TokenEndpoint, UserinfoEndpoint, EndSessionEndpoint, JWKSURI string
			ResponseTypes                                                                               []string `json:"response_types_supported"`
			ResponseModes                                                                               []string `json:"response_modes_supported"`
			GrantTypes                                                                                  []string `json:"grant_types_supported"`
			PKCE                                                                                        []string `json:"code_challenge_methods_supported"`
			Scopes                                                                                      []string `json:"scopes_supported"`
			Subjects                                                                                    []string `json:"subject_types_supported"`
			IDAlgs                                                                                      []string `json:"id_token_signing_alg_values_supported"`
			AccessAlgs                                                                                  []string `json:"access_token_signing_alg_values_supported"`
			AuthMethods                                                                                 []string `json:"token_endpoint_auth_methods_supported"`
			Claims                                                                                      []string `json:"claims_supported"`
			ISS                                                                                         bool     `json:"authorization_response_iss_parameter_supported"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &d) != nil {
			t.Fatal(resp.StatusCode, string(body))
		}
		var raw map[string]any
		_ = json.Unmarshal(body, &raw)
		for k, want := range map[string]string{"authorization_endpoint": "/oauth/authorize", "token_endpoint": "/oauth/token",
			"userinfo_endpoint": "/oauth/userinfo", "end_session_endpoint": "/oauth/logout", "jwks_uri": "/.well-known/jwks.json"} {
			if raw[k] != "http://issuer.test"+want {
				t.Errorf("%s = %v", k, raw[k])
			}
		}
		if !slices.Equal(d.ResponseTypes, []string{"code"}) || !slices.Equal(d.ResponseModes, []string{"query"}) || !slices.Equal(d.PKCE, []string{"S256"}) ||
			!slices.Equal(d.Subjects, []string{"public"}) || !d.ISS || !slices.Equal(d.IDAlgs, []string{"RS256", "EdDSA"}) ||
			!slices.Equal(d.Scopes, []string{"openid", "profile", "email", "offline_access"}) {
			t.Errorf("discovery: %s", body)
		}
		for _, g := range d.GrantTypes {
			resp, body := e.do("POST", "/oauth/token", url.Values{"grant_type": {g}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
			if strings.Contains(string(body), "unsupported_grant_type") || resp.StatusCode == http.StatusOK {
				t.Errorf("advertised grant %s: %d %s", g, resp.StatusCode, body)
			}
		}
		if !slices.Contains(d.GrantTypes, "authorization_code") {
			t.Error("authorization_code not advertised")
		}
		b := newBrowser(t, e)
		// Every advertised scope is accepted.
		tk := e.redeemOK(b.login(authorizePath("scope", strings.Join(d.Scopes, " "))))
		_, c := jwtParts(t, tk.IDToken)
		_, ui := e.do("GET", "/oauth/userinfo", nil, "Authorization", "Bearer "+tk.AccessToken)
		var info map[string]any
		_ = json.Unmarshal(ui, &info)
		var seen []string
		for _, m := range []map[string]any{c, info} {
			for k := range m {
				if !slices.Contains(d.Claims, k) {
					t.Errorf("claim %s is issued but not in claims_supported", k)
				}
				seen = append(seen, k)
			}
		}
		for _, k := range oidcClaimNames {
			if !slices.Contains(seen, k) {
				t.Errorf("claim %s listed for ID tokens but not issued", k)
			}
		}
		// Each advertised ID-token algorithm signs (web registered EdDSA).
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("web:"+url.QueryEscape(secret)))
		resp, body2 := b.get(authorizePath("client_id", "web", "redirect_uri", webRedirect))
		wt := e.redeemOK(redirected(t, resp, body2, webRedirect).Get("code"), "client_id", "", "Authorization", basic, "redirect_uri", webRedirect)
		algs := []string{}
		for _, tok := range []string{tk.IDToken, wt.IDToken} {
			h, _ := jwtParts(t, tok)
			algs = append(algs, h["alg"].(string))
		}
		if !slices.Equal(algs, d.IDAlgs) {
			t.Errorf("ID tokens signed with %v, advertised %v", algs, d.IDAlgs)
		}
		// Access tokens are signed with the one configured algorithm; the
		// key kept for ID tokens signs none.
		for _, at := range []string{tk.AccessToken, wt.AccessToken} {
			if h, _ := jwtParts(t, at); !slices.Equal(d.AccessAlgs, []string{h["alg"].(string)}) {
				t.Errorf("access token signed with %v, advertised %v", h["alg"], d.AccessAlgs)
			}
		}
		// Every advertised auth method is one the token endpoint takes:
		// none (app above), client_secret_basic (web above);
		// private_key_jwt is TestClientCredentialsPrivateKeyJWT's.
		for _, m := range []string{"none", "client_secret_basic", "private_key_jwt"} {
			if !slices.Contains(d.AuthMethods, m) {
				t.Errorf("auth method %s not advertised", m)
			}
		}
	})
}

// metricValue reads one sample of /metrics.
func metricValue(t *testing.T, e *env, series string) float64 {
	t.Helper()
	_, body := e.do("GET", "/metrics", nil)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", series)
	return 0
}

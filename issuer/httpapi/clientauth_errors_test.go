package httpapi_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// TestBasicAuthFailureChallenge: RFC 6749 §5.2 — a client that
// authenticated with HTTP Basic and failed gets 401 invalid_client with
// WWW-Authenticate: Basic realm="signet"; a failed client assertion gets
// 401 without a Basic challenge (it did not use that scheme); a success
// carries no challenge.
func TestBasicAuthFailureChallenge(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		registerDemo(t, e)
		ctx := context.Background()
		_, secret, err := e.iss.Registry.CreateClient(ctx, issuer.Caller{}, issuer.Client{ID: "billing", GrantTypes: []string{issuer.GrantClientCredentials},
			AuthMethod: issuer.AuthClientSecretBasic, Resources: []string{shopURI}, Scopes: []string{"shop:read"}})
		if err != nil {
			t.Fatal(err)
		}
		priv, pub := serviceKey(t)
		if _, _, err := e.iss.Registry.CreateClient(ctx, issuer.Caller{}, issuer.Client{ID: "shop-api", GrantTypes: []string{issuer.GrantClientCredentials},
			Resources: []string{videoURI}, JWKS: pub}); err != nil {
			t.Fatal(err)
		}
		basic := func(auth string) (*http.Response, []byte) {
			return e.do("POST", "/oauth/token", url.Values{"grant_type": {"client_credentials"}}.Encode(),
				"Content-Type", "application/x-www-form-urlencoded", "Authorization", auth)
		}
		enc := func(id, secret string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
		}
		for name, auth := range map[string]string{
			"wrong secret":       enc("billing", secret+"x"),
			"unknown client":     enc("nobody", secret),
			"not base64":         "Basic !!!",
			"no colon":           "Basic " + base64.StdEncoding.EncodeToString([]byte("billing")),
			"lower-case scheme":  "basic " + base64.StdEncoding.EncodeToString([]byte("billing:wrong")),
			"assertion client":   enc("shop-api", secret),
			"empty secret":       enc("billing", ""),
			"percent-bad secret": "Basic " + base64.StdEncoding.EncodeToString([]byte("billing:%zz")),
		} {
			t.Run(name, func(t *testing.T) {
				resp, body := basic(auth)
				wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
				if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="signet"` {
					t.Fatalf("WWW-Authenticate %q, want Basic realm=\"signet\"", got)
				}
			})
		}
		resp, body := basic(enc("billing", secret))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("WWW-Authenticate") != "" {
			t.Fatalf("good secret: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}

		// A failed assertion: 401, and no Basic challenge.
		other, _ := serviceKey(t)
		resp, body = e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {issuer.JWTBearerAssertion},
			"client_assertion": {assertion(t, other, "shop-api", "http://issuer.test", e.clock.Now(), time.Minute)}})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
		if got := resp.Header.Get("WWW-Authenticate"); got != "" {
			t.Fatalf("assertion failure WWW-Authenticate %q, want none", got)
		}
		resp, _ = e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {issuer.JWTBearerAssertion},
			"client_assertion": {assertion(t, priv, "shop-api", "http://issuer.test", e.clock.Now(), time.Minute)}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("good assertion: %d", resp.StatusCode)
		}
	})
}

// TestRepeatedResource: RFC 8707 §2 lets a client send resource more than
// once; Signet issues a token for one resource, so that is 400
// invalid_target on every grant, before any credential is checked. Other
// repeated parameters stay invalid_request.
func TestRepeatedResource(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		registerDemo(t, e)
		e.signup("ann@example.com", "correct horse")
		for name, body := range map[string]string{
			"password":           "grant_type=password&username=ann%40example.com&password=correct+horse&resource=" + url.QueryEscape(shopURI) + "&resource=" + url.QueryEscape(videoURI),
			"same twice":         "grant_type=password&username=ann%40example.com&password=correct+horse&resource=" + url.QueryEscape(shopURI) + "&resource=" + url.QueryEscape(shopURI),
			"client_credentials": "grant_type=client_credentials&resource=" + url.QueryEscape(shopURI) + "&resource=" + url.QueryEscape(videoURI),
			"refresh_token":      "grant_type=refresh_token&refresh_token=x&resource=a&resource=b",
			"token exchange":     "grant_type=" + url.QueryEscape(issuer.GrantTokenExchange) + "&subject_token=x&resource=a&resource=b",
		} {
			t.Run(name, func(t *testing.T) {
				resp, b := e.do("POST", "/oauth/token", body, "Content-Type", "application/x-www-form-urlencoded")
				wantError(t, resp, b, http.StatusBadRequest, "invalid_target")
			})
		}
		resp, b := e.do("POST", "/oauth/token", "grant_type=password&username=ann%40example.com&password=correct+horse&scope=a&scope=b",
			"Content-Type", "application/x-www-form-urlencoded")
		wantError(t, resp, b, http.StatusBadRequest, "invalid_request")
		// One resource is fine.
		resp, b = e.form("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {"correct horse"}, "resource": {shopURI}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("one resource: %d %s", resp.StatusCode, b)
		}
	})
}

// TestRevokeAuthenticatesConfidentialClient: RFC 7009 §2.1 — revocation
// checks a confidential client's credentials first. A wrong secret, or a
// confidential client named without any, is refused with 401
// invalid_client and revokes nothing; the right secret revokes.
func TestRevokeAuthenticatesConfidentialClient(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		_, secret, err := e.iss.Registry.CreateClient(context.Background(), issuer.Caller{}, issuer.Client{ID: "web",
			GrantTypes: []string{issuer.GrantRefreshToken}, AuthMethod: issuer.AuthClientSecretBasic})
		if err != nil {
			t.Fatal(err)
		}
		e.signup("ann@example.com", "correct horse")
		rt := e.signin("ann@example.com", "correct horse").RefreshToken
		enc := func(id, secret string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
		}
		revoke := func(form url.Values, auth ...string) (*http.Response, []byte) {
			form.Set("token", rt)
			return e.do("POST", "/oauth/revoke", form.Encode(), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, auth...)...)
		}
		resp, body := revoke(url.Values{}, "Authorization", enc("web", secret+"x"))
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
		if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="signet"` {
			t.Fatalf("WWW-Authenticate %q", got)
		}
		resp, body = revoke(url.Values{"client_id": {"web"}})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
		rt = e.mustRefresh(rt).RefreshToken // neither refusal revoked anything

		resp, body = revoke(url.Values{}, "Authorization", enc("web", secret))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke with the right secret: %d %s", resp.StatusCode, body)
		}
		resp, body = e.refresh(rt)
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
	})
}

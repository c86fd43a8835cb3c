package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// serviceKey makes a service's key pair and returns the private key with
// its public JWK (JSON), the only part the issuer stores.
func serviceKey(t *testing.T) (ed25519.PrivateKey, json.RawMessage) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.FromRaw(pub)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(k)
	return priv, b
}

// assertion builds an RFC 7523 client assertion.
func assertion(t *testing.T, priv ed25519.PrivateKey, clientID, aud string, now time.Time, life time.Duration) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Issuer(clientID).Subject(clientID).Audience([]string{aud}).
		IssuedAt(now).Expiration(now.Add(life)).JwtID(base64.RawURLEncoding.EncodeToString(priv[:8]) + now.String() + life.String()).Build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, priv))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestClientCredentialsPrivateKeyJWT: a service signs in with its own key
// through golang.org/x/oauth2/clientcredentials and a client assertion; it
// gets a token for its resource with its scopes, sub and client_id its id,
// no refresh token; a replayed assertion, a long-lived one, one for
// another audience, one signed by another key, an unknown client and a
// wrong client secret are each 401 invalid_client.
func TestClientCredentialsPrivateKeyJWT(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		registerDemo(t, e)
		ctx := context.Background()
		priv, pub := serviceKey(t)
		if _, _, err := e.iss.Registry.CreateClient(ctx, issuer.Caller{}, issuer.Client{ID: "shop-api", GrantTypes: []string{issuer.GrantClientCredentials},
			Resources: []string{videoURI}, Scopes: []string{"video:read"}, JWKS: pub}); err != nil {
			t.Fatal(err)
		}
		now := e.clock.Now()
		a := assertion(t, priv, "shop-api", "http://issuer.test", now, time.Minute)
		conf := clientcredentials.Config{
			ClientID: "shop-api", TokenURL: e.srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams,
			Scopes:         []string{"video:read", "video:write"},
			EndpointParams: url.Values{"client_assertion_type": {issuer.JWTBearerAssertion}, "client_assertion": {a}, "resource": {videoURI}},
		}
		tok, err := conf.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c := accessClaims(t, tok.AccessToken)
		if audOf(c) != videoURI || c["scope"] != "video:read" || c["sub"] != "shop-api" || c["client_id"] != "shop-api" || tok.RefreshToken != "" || c["sid"] != nil {
			t.Fatalf("client credentials token: %v %+v", c, tok)
		}
		// The same assertion again: replay.
		if _, err := conf.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("replayed assertion: %v", err)
		}

		form := func(a string) url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {issuer.JWTBearerAssertion}, "client_assertion": {a}, "resource": {videoURI}}
		}
		other, _ := serviceKey(t)
		for name, bad := range map[string]string{
			"long-lived": assertion(t, priv, "shop-api", "http://issuer.test", now.Add(time.Second), time.Hour),
			"wrong aud":  assertion(t, priv, "shop-api", "https://elsewhere.example", now.Add(2*time.Second), time.Minute),
			"other key":  assertion(t, other, "shop-api", "http://issuer.test", now.Add(3*time.Second), time.Minute),
			"unknown":    assertion(t, priv, "nobody", "http://issuer.test", now.Add(4*time.Second), time.Minute),
			"expired":    assertion(t, priv, "shop-api", "http://issuer.test", now.Add(-10*time.Minute), time.Minute),
			"not a JWT":  "abc.def.ghi",
		} {
			t.Run(name, func(t *testing.T) {
				resp, body := e.form("/oauth/token", form(bad))
				wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
			})
		}
		// The token endpoint is also an accepted audience.
		resp, body := e.form("/oauth/token", form(assertion(t, priv, "shop-api", "http://issuer.test/oauth/token", now.Add(5*time.Second), time.Minute)))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("aud = token endpoint: %d %s", resp.StatusCode, body)
		}
		// A resource the client may not ask for.
		resp, body = e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {issuer.JWTBearerAssertion},
			"client_assertion": {assertion(t, priv, "shop-api", "http://issuer.test", now.Add(6*time.Second), time.Minute)}, "resource": {shopURI}})
		wantError(t, resp, body, http.StatusBadRequest, "invalid_target")
		// No authentication at all.
		resp, body = e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"shop-api"}})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")

		// client_secret_basic, when the client was registered with it.
		_, secret, err := e.iss.Registry.CreateClient(ctx, issuer.Caller{}, issuer.Client{ID: "billing", GrantTypes: []string{issuer.GrantClientCredentials},
			AuthMethod: issuer.AuthClientSecretBasic, Resources: []string{shopURI}, Scopes: []string{"shop:read"}})
		if err != nil {
			t.Fatal(err)
		}
		basic := func(id, secret string) (*http.Response, []byte) {
			return e.do("POST", "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"shop:read"}}.Encode(),
				"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
		}
		resp, body = basic("billing", secret)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("client_secret_basic: %d %s", resp.StatusCode, body)
		}
		resp, body = basic("billing", secret+"x")
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
		resp, body = basic("shop-api", secret)
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
		if strings.Contains(e.logs.String(), secret) || strings.Contains(e.logs.String(), a) {
			t.Fatal("a client secret or assertion is in the log")
		}
	})
}

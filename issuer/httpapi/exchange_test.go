package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/verifier"
)

// exchangeSetup registers shop-api as a client that receives shop tokens
// and may act toward video, signs ann in for the shop, and returns a
// function that exchanges a subject token with a fresh assertion.
func exchangeSetup(t *testing.T, e *env) (shopToken string, exchange func(subject, resource, scope string) (*http.Response, []byte)) {
	t.Helper()
	registerDemo(t, e)
	priv, pub := serviceKey(t)
	if _, _, err := e.iss.Registry.CreateClient(context.Background(), issuer.Caller{}, issuer.Client{ID: "shop-api",
		GrantTypes: []string{issuer.GrantTokenExchange}, Resources: []string{shopURI}, ActToward: []string{videoURI},
		Scopes: []string{"video:read", "shop:read"}, JWKS: pub}); err != nil {
		t.Fatal(err)
	}
	e.signup("ann@example.com", "correct horse")
	resp, body := e.do("POST", "/v1/signin", map[string]string{"email": "ann@example.com", "password": "correct horse", "resource": shopURI, "scope": "shop:read"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signin: %d %s", resp.StatusCode, body)
	}
	var tk tokens
	json.Unmarshal(body, &tk)
	n := 0
	return tk.AccessToken, func(subject, resource, scope string) (*http.Response, []byte) {
		n++
		a := assertion(t, priv, "shop-api", "http://issuer.test", e.clock.Now().Add(time.Duration(n)*time.Millisecond), time.Minute)
		return e.form("/oauth/token", url.Values{"grant_type": {issuer.GrantTokenExchange}, "subject_token": {subject},
			"subject_token_type": {issuer.TokenTypeAccessToken}, "resource": {resource}, "scope": {scope},
			"client_assertion_type": {issuer.JWTBearerAssertion}, "client_assertion": {a}})
	}
}

// TestTokenExchange: shop-api trades ann's shop token for a video token
// (RFC 8693): same user and session, aud video, act naming shop-api, the
// scopes shop-api may ask, no later expiry; a video verifier accepts it and
// refuses the shop token (wrong audience). A resource shop-api may not act
// toward, a token not meant for shop-api, and a revoked session are
// refused.
func TestTokenExchange(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		shopToken, exchange := exchangeSetup(t, e)
		e.clock.Advance(time.Minute)
		resp, body := exchange(shopToken, videoURI, "video:read video:write")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("exchange: %d %s", resp.StatusCode, body)
		}
		var out struct {
			AccessToken     string `json:"access_token"`
			IssuedTokenType string `json:"issued_token_type"`
			Scope           string `json:"scope"`
			RefreshToken    string `json:"refresh_token"`
		}
		json.Unmarshal(body, &out)
		if out.IssuedTokenType != issuer.TokenTypeAccessToken || out.Scope != "video:read" || out.RefreshToken != "" {
			t.Fatalf("exchange response: %s", body)
		}
		ctx := context.Background()
		video, err := verifier.New(ctx, verifier.Config{Issuer: "http://issuer.test", Audience: videoURI, StaticJWKS: e.ring.JWKS().Body, Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := video.Verify(ctx, shopToken); !errors.Is(err, verifier.ErrWrongAudience) {
			t.Fatalf("video accepted the shop token: %v", err)
		}
		c, err := video.Verify(ctx, out.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		shop := accessClaims(t, shopToken)
		if c.Actor == nil || c.Actor.Subject != "shop-api" || c.Subject != shop["sub"] || c.SessionID != shop["sid"] ||
			c.ClientID != "shop-api" || c.Expiry.Unix() > int64(shop["exp"].(float64)) || c.Scope != "video:read" {
			t.Fatalf("exchanged claims: %+v (actor %+v)", c, c.Actor)
		}

		resp, body = exchange(shopToken, shopURI, "shop:read")
		wantError(t, resp, body, http.StatusBadRequest, "invalid_target")
		resp, body = exchange(out.AccessToken, videoURI, "video:read") // meant for video, not shop-api
		wantError(t, resp, body, http.StatusBadRequest, "invalid_grant")
		resp, body = e.form("/oauth/token", url.Values{"grant_type": {issuer.GrantTokenExchange}, "subject_token": {shopToken},
			"subject_token_type": {issuer.TokenTypeAccessToken}, "resource": {videoURI}})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")

		if ok, err := db.RevokeSession(ctx, c.SessionID, e.clock.Now(), "test"); !ok || err != nil {
			t.Fatalf("revoke: %v %v", ok, err)
		}
		resp, body = exchange(shopToken, videoURI, "video:read")
		wantError(t, resp, body, http.StatusBadRequest, "invalid_grant")
	})
}

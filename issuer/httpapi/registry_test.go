package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/verifier"
)

const (
	shopURI  = "https://shop.example"
	videoURI = "https://video.example"
)

// registerDemo registers the shop and video resources: video:write is
// for editors only.
func registerDemo(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	for _, r := range []issuer.Resource{
		{URI: shopURI, Scopes: []string{"shop:read", "shop:write"}},
		{URI: videoURI, Scopes: []string{"video:read", "video:write"}, RoleScopes: map[string][]string{"editor": {"video:write"}}},
	} {
		if _, err := e.iss.Registry.CreateResource(ctx, issuer.Caller{}, r); err != nil {
			t.Fatal(err)
		}
	}
}

// accessClaims decodes an access token's payload (the issuer's own: no
// need to verify it here).
func accessClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func audOf(m map[string]any) string {
	aud, _ := m["aud"].([]any)
	parts := make([]string, len(aud))
	for i, a := range aud {
		parts[i], _ = a.(string)
	}
	return strings.Join(parts, ",")
}

// TestAudienceRestrictedTokens: a token asked for one resource names it
// alone in aud, carries the scopes asked that the resource defines, the
// client may ask and the user's roles allow, and client_id; one session
// mints tokens for several resources; a token for one resource is refused
// by a verifier of another; unknown resources and scopes get
// invalid_target and invalid_scope on /v1 and /oauth/token.
func TestAudienceRestrictedTokens(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		registerDemo(t, e)
		e.signup("ann@example.com", "correct horse")
		ctx := context.Background()
		creds := map[string]string{"email": "ann@example.com", "password": "correct horse", "resource": videoURI, "scope": "video:read video:write"}
		resp, body := e.do("POST", "/v1/signin", creds)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("signin for video: %d %s", resp.StatusCode, body)
		}
		var tk struct {
			tokens
			Scope string `json:"scope"`
		}
		json.Unmarshal(body, &tk)
		c := accessClaims(t, tk.AccessToken)
		if audOf(c) != videoURI || c["scope"] != "video:read" || tk.Scope != "video:read" || c["client_id"] != "signet" || c["roles"] != nil {
			t.Fatalf("video token without the editor role: %v (response scope %q)", c, tk.Scope)
		}

		// The same session, refreshed for the shop, then for video again
		// with the editor role.
		resp, body = e.do("POST", "/v1/token/refresh", map[string]string{"refresh_token": tk.RefreshToken, "resource": shopURI, "scope": "shop:read"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh for shop: %d %s", resp.StatusCode, body)
		}
		json.Unmarshal(body, &tk)
		c = accessClaims(t, tk.AccessToken)
		if audOf(c) != shopURI || c["scope"] != "shop:read" {
			t.Fatalf("shop token: %v", c)
		}
		shopToken := tk.AccessToken
		if _, err := db.AddUserRole(ctx, tk.User.ID, "editor", 1); err != nil {
			t.Fatal(err)
		}
		resp, body = e.form("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken},
			"resource": {videoURI}, "scope": {"video:write video:read"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("oauth refresh for video: %d %s", resp.StatusCode, body)
		}
		json.Unmarshal(body, &tk)
		c = accessClaims(t, tk.AccessToken)
		if audOf(c) != videoURI || c["scope"] != "video:read video:write" || tk.Scope != "video:read video:write" {
			t.Fatalf("video token of an editor: %v %s", c, body)
		}
		if roles, _ := c["roles"].([]any); len(roles) != 1 || roles[0] != "editor" {
			t.Fatalf("roles claim: %v", c["roles"])
		}

		// A video verifier refuses the shop token, a shop verifier the
		// video token.
		for _, x := range []struct{ aud, tok string }{{videoURI, shopToken}, {shopURI, tk.AccessToken}} {
			v, err := verifier.New(ctx, verifier.Config{Issuer: "http://issuer.test", Audience: x.aud, StaticJWKS: e.ring.JWKS().Body, Now: e.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(ctx, x.tok); !errors.Is(err, verifier.ErrWrongAudience) {
				t.Fatalf("a token for another resource at %s: %v, want wrong audience", x.aud, err)
			}
		}

		// Errors.
		for _, bad := range []struct{ resource, scope, code string }{
			{"https://unknown.example", "", "invalid_target"},
			{"not a uri", "", "invalid_target"},
			{videoURI + "#x", "", "invalid_target"},
			{videoURI, "video:delete", "invalid_scope"},
			{videoURI, "bad\\scope", "invalid_scope"},
		} {
			resp, body := e.do("POST", "/v1/signin", map[string]string{"email": "ann@example.com", "password": "correct horse", "resource": bad.resource, "scope": bad.scope})
			wantError(t, resp, body, http.StatusBadRequest, bad.code)
			resp, body = e.form("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {"correct horse"},
				"resource": {bad.resource}, "scope": {bad.scope}})
			wantError(t, resp, body, http.StatusBadRequest, bad.code)
		}

		// A registered public client gets only its resources and scopes,
		// and its id in client_id.
		if _, _, err := e.iss.Registry.CreateClient(ctx, issuer.Caller{}, issuer.Client{ID: "shop-web", Type: issuer.ClientPublic,
			GrantTypes: []string{issuer.GrantPassword, issuer.GrantRefreshToken}, Resources: []string{shopURI}, Scopes: []string{"shop:read"}}); err != nil {
			t.Fatal(err)
		}
		password := url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {"correct horse"}, "client_id": {"shop-web"}}
		withParams := func(kv ...string) url.Values {
			v := url.Values{}
			for k, x := range password {
				v[k] = x
			}
			for i := 0; i < len(kv); i += 2 {
				v.Set(kv[i], kv[i+1])
			}
			return v
		}
		resp, body = e.form("/oauth/token", withParams("resource", videoURI))
		wantError(t, resp, body, http.StatusBadRequest, "invalid_target")
		resp, body = e.form("/oauth/token", withParams("scope", "shop:read shop:write"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("shop-web: %d %s", resp.StatusCode, body)
		}
		json.Unmarshal(body, &tk)
		c = accessClaims(t, tk.AccessToken)
		if audOf(c) != shopURI || c["scope"] != "shop:read" || c["client_id"] != "shop-web" {
			t.Fatalf("shop-web token: %v", c)
		}

		// A confidential client cannot use a grant without authenticating.
		if _, _, err := e.iss.Registry.CreateClient(ctx, issuer.Caller{}, issuer.Client{ID: "backend", Type: issuer.ClientConfidential,
			GrantTypes: []string{issuer.GrantPassword}, AuthMethod: issuer.AuthClientSecretBasic}); err != nil {
			t.Fatal(err)
		}
		password.Set("client_id", "backend")
		resp, body = e.form("/oauth/token", password)
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
		password.Set("client_id", "shop-web")
		password.Set("grant_type", "refresh_token")
		resp, body = e.form("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}, "client_id": {"backend"}})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
	})
}

// TestNoResourceNoScopeAsBefore: a request with neither resource nor scope
// gets every configured audience and an empty scope, as before the
// registry, even when resources are registered.
func TestNoResourceNoScopeAsBefore(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	registerDemo(t, e)
	e.signup("ann@example.com", "correct horse")
	tk := e.signin("ann@example.com", "correct horse")
	c := accessClaims(t, tk.AccessToken)
	if audOf(c) != "http://issuer.test" || c["scope"] != "" || c["client_id"] != "signet" {
		t.Fatalf("default token: %v", c)
	}
}

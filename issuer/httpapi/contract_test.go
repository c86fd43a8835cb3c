package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/verifier"
)

// TestClaimsTheSignerWritesAreRead: every claim in an issued access token
// is one of the contract's (verifier.ClaimNames), is read back by package
// verifier with the value that was written, and is listed in discovery's
// claims_supported, which lists nothing else. The token is the one that
// carries every claim: a user with a role, exchanged by a resource server
// (act).
func TestClaimsTheSignerWritesAreRead(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	e := newEnv(t, db)
	shopToken, exchange := exchangeSetup(t, e)
	u, err := db.UserByEmail(context.Background(), "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddUserRole(context.Background(), u.ID, "editor", 1); err != nil {
		t.Fatal(err)
	}
	resp, body := exchange(shopToken, videoURI, "video:read")
	var tk tokens
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tk) != nil {
		t.Fatalf("exchange: %d %s", resp.StatusCode, body)
	}
	tk.User = u

	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tk.AccessToken, ".")[1])
	for _, want := range []string{`"roles":["editor"]`, `"client_id":"shop-api"`, `"act":{"sub":"shop-api"}`, `"scope":"video:read"`} {
		if !strings.Contains(string(payload), want) {
			t.Errorf("token claims %s: no %s", payload, want)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	var written map[string]json.RawMessage
	if err := json.Unmarshal(payload, &written); err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range written {
		if !slices.Contains(verifier.ClaimNames(), n) {
			t.Errorf("the token carries %q, which is not in the contract", n)
		}
		names = append(names, n)
	}

	resp, body = e.do("GET", "/.well-known/openid-configuration", nil)
	var doc struct {
		Claims []string `json:"claims_supported"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("discovery: %d %s", resp.StatusCode, body)
	}
	// claims_supported is what the access tokens carry and what the ID
	// tokens and UserInfo carry (TestOIDCDiscoveryMatchesBehaviour reads
	// those from real ones).
	names = append(names, oidcClaimNames...)
	slices.Sort(names)
	names = slices.Compact(names)
	advertised := slices.Sorted(slices.Values(doc.Claims))
	if !reflect.DeepEqual(names, advertised) {
		t.Errorf("token claims %v, discovery advertises %v", names, advertised)
	}

	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer: "http://issuer.test", Audience: videoURI,
		StaticJWKS: e.ring.JWKS().Body, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tk.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	// Each written claim, read back, writes the same JSON.
	again, err := c.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	var reread map[string]json.RawMessage
	if err := json.Unmarshal(again, &reread); err != nil {
		t.Fatal(err)
	}
	for n, raw := range written {
		if string(reread[n]) != string(raw) {
			t.Errorf("claim %s: signed %s, read back as %s", n, raw, reread[n])
		}
	}
	if c.Subject != tk.User.ID || c.Email != "ann@example.com" || c.Expiry.Sub(c.IssuedAt) != 15*time.Minute {
		t.Errorf("claims read back: %+v", c)
	}
}

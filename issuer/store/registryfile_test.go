package store_test

import (
	"context"
	"testing"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// TestRegistryFileApply: a registry file creates what is missing, a
// second application changes nothing, a changed entry is updated, and
// what the file no longer names stays unless it says prune.
func TestRegistryFileApply(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		reg, err := issuer.NewRegistry(issuer.Config{IssuerURL: "https://issuer.example", Audience: []string{"https://api.example"}, BcryptCost: 4}, db)
		if err != nil {
			t.Fatal(err)
		}
		doc := `{"resources":[{"uri":"https://video.example","scopes":["video:write","video:read"],"role_scopes":{"editor":["video:write"]}},
			{"uri":"https://shop.example","scopes":["shop:read"]}],
			"clients":[{"client_id":"shop-api","grant_types":["client_credentials"],"resources":["https://video.example"],"scopes":["video:read"],
			"jwks":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}]}`
		apply := func(doc string) issuer.ApplyResult {
			t.Helper()
			f, err := issuer.ParseRegistryFile([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			res, err := reg.Apply(ctx, issuer.Caller{}, f)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		if res := apply(doc); res != (issuer.ApplyResult{Created: 3}) {
			t.Fatalf("first apply: %+v", res)
		}
		if res := apply(doc); res != (issuer.ApplyResult{Unchanged: 3}) {
			t.Fatalf("second apply: %+v", res)
		}
		smaller := `{"resources":[{"uri":"https://video.example","scopes":["video:read"]}]}`
		if res := apply(smaller); res != (issuer.ApplyResult{Updated: 1}) {
			t.Fatalf("without prune: %+v", res)
		}
		if res := apply(`{"prune":true,"resources":[{"uri":"https://video.example","scopes":["video:read"]}]}`); res != (issuer.ApplyResult{Unchanged: 1, Deleted: 2}) {
			t.Fatalf("prune: %+v", res)
		}
		if _, err := issuer.ParseRegistryFile([]byte(`{"resourcez":[]}`)); err == nil {
			t.Fatal("an unknown field was accepted")
		}
		events, _ := db.Events(ctx, "registry.resource.delete")
		if len(events) != 1 {
			t.Fatalf("%d resource deletions audited", len(events))
		}
	})
}

package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

func TestRegistryStore(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_123).UTC()
		r := issuer.Resource{URI: "https://video.example", Name: "video", Scopes: []string{"video:read", "video:write"},
			RoleScopes: map[string][]string{"editor": {"video:write"}}, CreatedAt: now, UpdatedAt: now}
		if err := db.CreateResource(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateResource(ctx, r); !errors.Is(err, issuer.ErrExists) {
			t.Fatalf("create twice: %v, want ErrExists", err)
		}
		got, err := db.Resource(ctx, r.URI)
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("Resource = %+v, %v; want %+v", got, err, r)
		}
		r.Scopes, r.RoleScopes = []string{"video:read"}, nil
		if err := db.UpdateResource(ctx, r); err != nil {
			t.Fatal(err)
		}
		list, err := db.ListResources(ctx)
		if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], r) {
			t.Fatalf("ListResources = %+v, %v", list, err)
		}

		c := issuer.Client{ID: "shop-api", Type: issuer.ClientConfidential, GrantTypes: []string{issuer.GrantClientCredentials},
			Resources: []string{r.URI}, Scopes: []string{"video:read"}, AuthMethod: issuer.AuthPrivateKeyJWT,
			JWKS: json.RawMessage(`{"keys":[]}`), CreatedAt: now, UpdatedAt: now}
		if err := db.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateClient(ctx, c); !errors.Is(err, issuer.ErrExists) {
			t.Fatalf("create client twice: %v", err)
		}
		gc, err := db.Client(ctx, "shop-api")
		if err != nil || !reflect.DeepEqual(gc, c) {
			t.Fatalf("Client = %+v, %v; want %+v", gc, err, c)
		}
		c.AuthMethod, c.JWKS, c.SecretHash, c.HasSecret = issuer.AuthClientSecretBasic, nil, []byte{1, 2, 3}, true
		if err := db.UpdateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		cs, err := db.ListClients(ctx)
		if err != nil || len(cs) != 1 || !reflect.DeepEqual(cs[0], c) {
			t.Fatalf("ListClients = %+v, %v", cs, err)
		}
		if err := db.DeleteClient(ctx, "shop-api"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteClient(ctx, "shop-api"); !errors.Is(err, issuer.ErrNotFound) {
			t.Fatalf("delete client twice: %v", err)
		}
		if _, err := db.Client(ctx, "shop-api"); !errors.Is(err, issuer.ErrNotFound) {
			t.Fatalf("deleted client: %v", err)
		}
		if err := db.UpdateResource(ctx, issuer.Resource{URI: "https://none.example"}); !errors.Is(err, issuer.ErrNotFound) {
			t.Fatalf("update unknown resource: %v", err)
		}
		if err := db.DeleteResource(ctx, r.URI); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Resource(ctx, r.URI); !errors.Is(err, issuer.ErrNotFound) {
			t.Fatalf("deleted resource: %v", err)
		}
	})
}

package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

func TestUpdatePasswordHashAndMaxCost(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		if c, err := db.MaxPasswordHashCost(ctx); err != nil || c != 0 {
			t.Fatalf("empty store: max cost %d, %v; want 0", c, err)
		}
		for id, h := range map[string]string{"a": "$2a$04$abc", "b": "$2b$11$abc", "c": "not bcrypt", "d": "$2y$09$abc"} {
			if err := db.CreateUser(ctx, issuer.User{ID: id, Email: id + "@example.com", PasswordHash: h, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		if c, err := db.MaxPasswordHashCost(ctx); err != nil || c != 11 {
			t.Fatalf("max cost %d, %v; want 11", c, err)
		}
		if ok, err := db.UpdatePasswordHash(ctx, "a", "stale", "$2a$12$new", now); err != nil || ok {
			t.Fatalf("update from a stale hash: %v, %v; want false", ok, err)
		}
		if ok, err := db.UpdatePasswordHash(ctx, "a", "$2a$04$abc", "$2a$12$new", now); err != nil || !ok {
			t.Fatalf("update: %v, %v; want true", ok, err)
		}
		if u, _ := db.UserByID(ctx, "a"); u.PasswordHash != "$2a$12$new" {
			t.Fatalf("hash after update: %q", u.PasswordHash)
		}
		if c, _ := db.MaxPasswordHashCost(ctx); c != 12 {
			t.Fatalf("max cost after update %d, want 12", c)
		}
	})
}

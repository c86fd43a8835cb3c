package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// A look-alike of a registered address is refused by the unique index on
// the skeleton, like a duplicate.
func TestCreateUserRefusesLookAlike(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		if err := db.CreateUser(ctx, issuer.User{ID: "u1", Email: "admin@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		for i, alike := range []string{"\u0430dmin@example.com", "adrnin@example.com", "admin@xn--exmple-4nf.com"} {
			err := db.CreateUser(ctx, issuer.User{ID: "alike" + string(rune('a'+i)), Email: alike, PasswordHash: "h", CreatedAt: now})
			if !errors.Is(err, issuer.ErrEmailTaken) {
				t.Errorf("CreateUser(%+q) = %v, want ErrEmailTaken", alike, err)
			}
		}
		if err := db.CreateUser(ctx, issuer.User{ID: "u2", Email: "bob@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatalf("an unrelated address: %v", err)
		}
	})
}

// Rows written before migration 000004 get their skeleton when the store
// migrates; of two look-alikes, the older keeps it and the other is left
// for the report.
func TestMigrateFillsEmailSkeletons(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for i, email := range []string{"ann@example.com", "\u0430nn@example.com", "bob@example.com"} {
			if _, err := db.SQL().ExecContext(ctx, db.SQL().Rebind(
				`INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES (?, ?, 'h', ?, ?)`),
				"legacy"+string(rune('1'+i)), email, 1000+i, 1000+i); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.MigrateUp(); err != nil {
			t.Fatal(err)
		}
		recs, err := db.EmailRecords(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"legacy1": issuer.EmailSkeleton("ann@example.com"),
			"legacy2": "", // collides with legacy1
			"legacy3": issuer.EmailSkeleton("bob@example.com"),
		}
		if len(recs) != len(want) {
			t.Fatalf("EmailRecords = %+v", recs)
		}
		for _, r := range recs {
			if r.Skeleton != want[r.ID] {
				t.Errorf("%s (%+q): skeleton %+q, want %+q", r.ID, r.Email, r.Skeleton, want[r.ID])
			}
		}
		if n, err := db.FillEmailSkeletons(ctx); err != nil || n != 0 {
			t.Fatalf("second fill: %d, %v; want nothing left to fill", n, err)
		}
	})
}

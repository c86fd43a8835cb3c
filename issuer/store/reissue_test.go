package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// TestReissueRefresh: marking the current token as handed out again is a
// compare-and-swap on the counter, refused once the counter has moved or
// the session is revoked.
func TestReissueRefresh(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		if err := db.CreateUser(ctx, issuer.User{ID: "u1", Email: "u1@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateSession(ctx, issuer.Session{ID: "s1", UserID: "u1", RefreshSecret: []byte{1}, CreatedAt: now, RotatedAt: now,
			IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		reissued := func() uint64 {
			t.Helper()
			s, _, err := db.SessionWithUser(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			return s.ReissuedCounter
		}
		if got := reissued(); got != 0 {
			t.Fatalf("a new session has ReissuedCounter %d", got)
		}
		if ok, _ := db.RotateRefresh(ctx, "s1", 0, now, now.Add(time.Hour)); !ok {
			t.Fatal("rotate 0->1 failed")
		}
		if ok, _ := db.ReissueRefresh(ctx, "s1", 0); ok {
			t.Fatal("a stale counter was marked")
		}
		for range 2 { // idempotent: a retry may come more than once
			if ok, err := db.ReissueRefresh(ctx, "s1", 1); err != nil || !ok {
				t.Fatalf("reissue 1: %v %v", ok, err)
			}
		}
		if got := reissued(); got != 1 {
			t.Fatalf("ReissuedCounter %d, want 1", got)
		}
		// A rotation keeps the mark: it now speaks of the previous token.
		if ok, _ := db.RotateRefresh(ctx, "s1", 1, now, now.Add(time.Hour)); !ok {
			t.Fatal("rotate 1->2 failed")
		}
		if got := reissued(); got != 1 {
			t.Fatalf("after a rotation ReissuedCounter %d, want 1", got)
		}
		if _, err := db.RevokeSession(ctx, "s1", now, "signout"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := db.ReissueRefresh(ctx, "s1", 2); ok {
			t.Fatal("a revoked session was marked")
		}
	})
}

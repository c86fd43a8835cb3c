package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

func TestSessions(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		for _, id := range []string{"u1", "u2"} {
			if err := db.CreateUser(ctx, issuer.User{ID: id, Email: id + "@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		mk := func(id, user string) issuer.Session {
			return issuer.Session{
				ID: id, UserID: user, RefreshSecret: []byte{1, 2, 3, 0, 255}, CreatedAt: now, RotatedAt: now,
				IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour),
				UserAgent: "test-agent", IP: "192.0.2.1",
			}
		}
		s1 := mk("s1", "u1")
		for _, s := range []issuer.Session{s1, mk("s2", "u1"), mk("s3", "u1"), mk("s4", "u2")} {
			if err := db.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		got, u, err := db.SessionWithUser(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != "u1" || u.Email != "u1@example.com" || !u.CreatedAt.Equal(now) {
			t.Fatalf("user = %+v", u)
		}
		if got.ID != "s1" || got.UserID != "u1" || string(got.RefreshSecret) != string(s1.RefreshSecret) ||
			got.RefreshCounter != 0 || !got.IdleExpiresAt.Equal(s1.IdleExpiresAt) || !got.AbsoluteExpiresAt.Equal(s1.AbsoluteExpiresAt) ||
			got.Revoked() || got.UserAgent != "test-agent" || got.IP != "192.0.2.1" {
			t.Fatalf("session = %+v", got)
		}
		if _, _, err := db.SessionWithUser(ctx, "nope"); !errors.Is(err, issuer.ErrNotFound) {
			t.Fatalf("unknown session: %v", err)
		}

		// Compare-and-swap: only the holder of the current counter moves it.
		later := now.Add(time.Minute)
		if ok, err := db.RotateRefresh(ctx, "s1", 0, later, later.Add(time.Hour)); err != nil || !ok {
			t.Fatalf("rotate 0->1: %v %v", ok, err)
		}
		if ok, _ := db.RotateRefresh(ctx, "s1", 0, later, later.Add(time.Hour)); ok {
			t.Fatal("a stale counter rotated")
		}
		got, _, _ = db.SessionWithUser(ctx, "s1")
		if got.RefreshCounter != 1 || !got.RotatedAt.Equal(later) || !got.IdleExpiresAt.Equal(later.Add(time.Hour)) {
			t.Fatalf("after rotation: %+v", got)
		}

		if ok, err := db.RevokeSession(ctx, "s1", later, "signout"); err != nil || !ok {
			t.Fatalf("revoke: %v %v", ok, err)
		}
		if ok, _ := db.RevokeSession(ctx, "s1", later, "signout"); ok {
			t.Fatal("revoked twice")
		}
		if ok, _ := db.RotateRefresh(ctx, "s1", 1, later, later); ok {
			t.Fatal("a revoked session rotated")
		}
		got, _, _ = db.SessionWithUser(ctx, "s1")
		if !got.Revoked() || got.RevokedReason != "signout" || !got.RevokedAt.Equal(later) {
			t.Fatalf("revoked session: %+v", got)
		}

		// All but s2 of u1's live sessions; u2's are untouched.
		if n, err := db.RevokeUserSessions(ctx, "u1", "s2", later, "signout_others"); err != nil || n != 1 {
			t.Fatalf("revoke others: %d %v", n, err)
		}
		if n, _ := db.RevokeUserSessions(ctx, "u1", "", later, "signout_global"); n != 1 {
			t.Fatalf("revoke global: %d, want 1 (s2)", n)
		}
		list, _ := db.SessionsByUser(ctx, "u1")
		for _, s := range list {
			if !s.Revoked() {
				t.Fatalf("u1 session %s still live", s.ID)
			}
		}
		if s4, _, _ := db.SessionWithUser(ctx, "s4"); s4.Revoked() {
			t.Fatal("another user's session was revoked")
		}
		if n, err := db.DeleteEndedSessions(ctx, later.Add(time.Second)); err != nil || n != 3 {
			t.Fatalf("delete ended: %d %v", n, err)
		}
	})
}

// TestRotateRefreshRace checks that exactly one of many concurrent
// compare-and-swaps on one counter wins.
func TestRotateRefreshRace(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		_ = db.CreateUser(ctx, issuer.User{ID: "u1", Email: "a@example.com", PasswordHash: "h", CreatedAt: now})
		s := issuer.Session{ID: "s1", UserID: "u1", RefreshSecret: []byte{1}, CreatedAt: now, IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour)}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := db.RotateRefresh(ctx, "s1", 0, now, now.Add(time.Hour))
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d winners, want 1", wins.Load())
		}
	})
}

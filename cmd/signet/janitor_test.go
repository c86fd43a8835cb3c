package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

func TestJanitorSweep(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := db.CreateUser(ctx, issuer.User{ID: "u1", Email: "a@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		session := func(id string, idleEnd time.Time) {
			err := db.CreateSession(ctx, issuer.Session{ID: id, UserID: "u1", RefreshSecret: []byte("sealed"),
				CreatedAt: idleEnd.Add(-time.Hour), IdleExpiresAt: idleEnd, AbsoluteExpiresAt: idleEnd.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
		}
		session("live", now.Add(time.Hour))
		session("ended-yesterday", now.Add(-24*time.Hour))
		session("ended-long-ago", now.Add(-8*24*time.Hour))
		if _, err := db.RevokeSession(ctx, "live", now.Add(-store.DefaultRevocationLifetime-time.Second), "signout"); err != nil {
			t.Fatal(err)
		}
		sweep(ctx, db, slog.New(slog.DiscardHandler), now, 24*time.Hour)
		var events int
		if err := db.SQL().GetContext(ctx, &events, `SELECT COUNT(*) FROM revocation_events`); err != nil || events != 0 {
			t.Errorf("revocation events past their lifetime left: %d (%v)", events, err)
		}
		for id, want := range map[string]bool{"live": true, "ended-yesterday": true, "ended-long-ago": false} {
			_, _, err := db.SessionWithUser(ctx, id)
			if got := err == nil; got != want {
				t.Errorf("session %s kept = %v, want %v (%v)", id, got, want, err)
			}
		}
	})
}

// TestJanitorUsesThrottleReset: sign-in failure counts are deleted once
// they are older than the configured throttle reset, not a fixed 24 h.
func TestJanitorUsesThrottleReset(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		for key, age := range map[string]time.Duration{"acct:old@example.com": 3 * time.Hour, "acct:new@example.com": time.Hour} {
			at := now.Add(-age)
			if _, _, err := db.FailSignin(ctx, key, at, at.Add(-time.Hour), func(int) time.Duration { return 0 }); err != nil {
				t.Fatal(err)
			}
		}
		sweep(ctx, db, slog.New(slog.DiscardHandler), now, 2*time.Hour)
		var keys []string
		if err := db.SQL().SelectContext(ctx, &keys, `SELECT key FROM signin_throttle ORDER BY key`); err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || keys[0] != "acct:new@example.com" {
			t.Fatalf("after a sweep with a 2h reset the counts left are %v, want only the one an hour old", keys)
		}
	})
}

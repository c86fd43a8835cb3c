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
		sweep(ctx, db, slog.New(slog.DiscardHandler), now)
		for id, want := range map[string]bool{"live": true, "ended-yesterday": true, "ended-long-ago": false} {
			_, _, err := db.SessionWithUser(ctx, id)
			if got := err == nil; got != want {
				t.Errorf("session %s kept = %v, want %v (%v)", id, got, want, err)
			}
		}
	})
}

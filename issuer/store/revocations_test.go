package store_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// Every revocation writes its events in its own transaction: one per
// ended session (none when nothing was live), one per deleted subject,
// live for the revocation lifetime, in commit order.
func TestRevocationEvents(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		for _, id := range []string{"u1", "u2"} {
			if err := db.CreateUser(ctx, issuer.User{ID: id, Email: id + "@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range [][2]string{{"s1", "u1"}, {"s2", "u1"}, {"s3", "u1"}, {"s4", "u2"}, {"s5", "u2"}} {
			if err := db.CreateSession(ctx, issuer.Session{ID: s[0], UserID: s[1], RefreshSecret: []byte{1}, CreatedAt: now, RotatedAt: now,
				IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		changed := db.RevocationsChanged()
		if ok, err := db.RevokeSession(ctx, "s1", now, "signout"); err != nil || !ok {
			t.Fatalf("revoke s1: %v %v", ok, err)
		}
		select {
		case <-changed:
		default:
			t.Fatal("a committed revocation did not wake the feed")
		}
		if ok, err := db.RevokeSession(ctx, "s1", now, "signout"); err != nil || ok {
			t.Fatalf("revoke s1 again: %v %v", ok, err)
		}
		if n, err := db.RevokeUserSessions(ctx, "u1", "s3", now, "signout_others"); err != nil || n != 1 {
			t.Fatalf("revoke u1 but s3: %d %v", n, err)
		}
		err := db.AccountTx(ctx, func(tx issuer.AccountTx) error {
			_, err := tx.RevokeUserSessions(ctx, "u2", "", now, "password_reset")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteUser(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
		evs, err := db.RevocationsAfter(ctx, 0, now, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"sid:s1", "sid:s2", "sid:s4", "sid:s5", "sub:u1"}
		if len(evs) != len(want) {
			t.Fatalf("events = %+v, want %v", evs, want)
		}
		for i, e := range evs {
			if got := string(e.Kind) + ":" + e.Subject; got != want[i] && !(i >= 2 && i <= 3 && (got == "sid:s4" || got == "sid:s5")) {
				t.Fatalf("event %d = %s, want %s", i, got, want[i])
			}
			if i > 0 && e.Seq <= evs[i-1].Seq {
				t.Fatalf("seq not increasing: %+v", evs)
			}
			if e.Kind == issuer.RevokedSession && (!e.RevokedAt.Equal(now) || !e.ExpiresAt.Equal(now.Add(store.DefaultRevocationLifetime))) {
				t.Fatalf("event %d times = %v %v", i, e.RevokedAt, e.ExpiresAt)
			}
		}
		// A cursor and a limit page through the feed.
		page, err := db.RevocationsAfter(ctx, evs[1].Seq, now, 2)
		if err != nil || len(page) != 2 || page[0].Seq != evs[2].Seq {
			t.Fatalf("page = %+v %v", page, err)
		}
		// A failed transaction leaves no event.
		if err := db.CreateUser(ctx, issuer.User{ID: "u3", Email: "u3@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateSession(ctx, issuer.Session{ID: "s6", UserID: "u3", RefreshSecret: []byte{1}, CreatedAt: now, RotatedAt: now,
			IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		_ = db.AccountTx(ctx, func(tx issuer.AccountTx) error {
			if _, err := tx.RevokeUserSessions(ctx, "u3", "", now, "password_reset"); err != nil {
				return err
			}
			return issuer.ErrNotFound
		})
		if after, _ := db.RevocationsAfter(ctx, evs[len(evs)-1].Seq, now, 100); len(after) != 0 {
			t.Fatalf("a rolled-back revocation left events: %+v", after)
		}

		// Past their lifetime, events leave the feed, then the table.
		late := now.Add(store.DefaultRevocationLifetime)
		if gone, _ := db.RevocationsAfter(ctx, 0, late, 100); len(gone) != 1 || gone[0].Kind != issuer.RevokedSubject {
			t.Fatalf("live after the lifetime: %+v", gone) // only the deletion, recorded at wall-clock time, is left
		}
		n, err := db.DeleteExpiredRevocations(ctx, late)
		if err != nil || n != 4 {
			t.Fatalf("pruned %d: %v", n, err)
		}

		// One salt per deployment.
		s1, err := db.RevocationSalt(ctx)
		if err != nil || len(s1) != 16 {
			t.Fatalf("salt %x %v", s1, err)
		}
		if s2, _ := db.RevocationSalt(ctx); !bytes.Equal(s1, s2) {
			t.Fatal("the salt changed")
		}
	})
}

// A revocation committed through one replica wakes the feed of another
// (Postgres NOTIFY).
func TestRevocationsWakeOtherReplica(t *testing.T) {
	u := storetest.URL(t, store.Postgres)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var dbs [2]*store.DB
	for i := range dbs {
		db, err := store.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	if err := dbs[0].MigrateUp(); err != nil {
		t.Fatal(err)
	}
	if err := dbs[1].ListenRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := dbs[0].CreateUser(ctx, issuer.User{ID: "u1", Email: "u1@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := dbs[0].CreateSession(ctx, issuer.Session{ID: "s1", UserID: "u1", RefreshSecret: []byte{1}, CreatedAt: now, RotatedAt: now,
		IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	woken := dbs[1].RevocationsChanged()
	if _, err := dbs[0].RevokeSession(ctx, "s1", now, "signout"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("the other replica was not woken")
	}
	evs, err := dbs[1].RevocationsAfter(ctx, 0, now, 10)
	if err != nil || len(evs) != 1 || evs[0].Subject != "s1" {
		t.Fatalf("events = %+v %v", evs, err)
	}
}

package store_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

func TestSigninThrottle(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		day := 24 * time.Hour
		lease := now.Add(time.Minute)
		const key, free = "acct:a@example.com", 3
		reserve := func(at time.Time) (bool, time.Time) {
			t.Helper()
			ok, until, err := db.ReserveSignin(ctx, key, at, at.Add(-day), at.Add(time.Minute), free)
			if err != nil {
				t.Fatal(err)
			}
			return ok, until
		}
		noDelay := func(int) time.Duration { return 0 }
		// Three may run at once; the fourth would be the one that can
		// start a block, so it waits for them.
		for i := range free {
			if ok, _ := reserve(now); !ok {
				t.Fatalf("reservation %d refused", i+1)
			}
		}
		if ok, until := reserve(now); ok || !until.IsZero() {
			t.Fatalf("fourth reservation with three in flight: %v %v", ok, until)
		}
		// Two succeed in one way or another, one fails: then two slots.
		for range 2 {
			if err := db.ReleaseSignin(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
		if n, until, err := db.FailSignin(ctx, key, now, now.Add(-day), noDelay); err != nil || n != 1 || !until.IsZero() {
			t.Fatalf("fail: %d %v %v", n, until, err)
		}
		reserve(now)
		reserve(now)
		if ok, _ := reserve(now); ok {
			t.Fatal("a third reservation beside one failure")
		}
		for range 2 {
			db.FailSignin(ctx, key, now, now.Add(-day), noDelay)
		}
		// Three failures: one at a time now, and a failure blocks.
		if ok, _ := reserve(now); !ok {
			t.Fatal("the one attempt at a time was refused")
		}
		if ok, _ := reserve(now); ok {
			t.Fatal("two attempts at a time past the free failures")
		}
		n, until, err := db.FailSignin(ctx, key, now, now.Add(-day), func(n int) time.Duration {
			return time.Duration(n) * time.Second
		})
		if err != nil || n != 4 || !until.Equal(now.Add(4*time.Second)) {
			t.Fatalf("blocking failure: %d %v %v", n, until, err)
		}
		if ok, until := reserve(now.Add(3 * time.Second)); ok || !until.Equal(now.Add(4*time.Second)) {
			t.Fatalf("while blocked: %v %v", ok, until)
		}
		// A late, shorter block never lowers it.
		db.ReserveSignin(ctx, key, now.Add(4*time.Second), now.Add(-day), lease, free)
		if _, until, _ := db.FailSignin(ctx, key, now, now.Add(-day), func(int) time.Duration { return time.Second }); !until.Equal(now.Add(time.Second)) {
			t.Fatalf("late block: %v", until)
		}
		if ok, _ := reserve(now.Add(3 * time.Second)); ok {
			t.Fatal("a late short block lowered the long one")
		}
		// A reservation never settled (its replica died) lapses.
		later := now.Add(10 * time.Second)
		if ok, _ := reserve(later); !ok {
			t.Fatal("refused after the block")
		}
		if ok, _ := reserve(later); ok {
			t.Fatal("second attempt beside one in flight")
		}
		if ok, _ := reserve(later.Add(time.Minute)); !ok {
			t.Fatal("a lapsed reservation still stands in the way")
		}
		// A day after the last failure the count starts over.
		next := later.Add(day + time.Minute)
		for i := range free {
			if ok, _ := reserve(next); !ok {
				t.Fatalf("after the reset window: reservation %d refused", i+1)
			}
		}
		if n, _, _ := db.FailSignin(ctx, key, next, next.Add(-day), noDelay); n != 1 {
			t.Fatalf("after the reset window: count %d, want 1", n)
		}
		if err := db.ClearSigninFailures(ctx, key); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := db.FailSignin(ctx, key, next, next.Add(-day), noDelay); n != 1 {
			t.Fatalf("after clear: %d, want 1", n)
		}
		// The janitor removes counts a day old that neither block nor hold
		// a reservation.
		db.ReserveSignin(ctx, "ip:192.0.2.1", now, now.Add(-day), lease, 20)
		db.ReserveSignin(ctx, "ip:192.0.2.2", next, next.Add(-day), next.Add(time.Minute), 20)
		if n, err := db.DeleteStaleSigninFailures(ctx, next, next); err != nil || n != 1 {
			t.Fatalf("delete stale: %d %v (want the first ip row only)", n, err)
		}
	})
}

// TestSigninReservationsRace: concurrent attempts, through two
// connection pools (two replicas), get exactly the reservations the rule
// allows.
func TestSigninReservationsRace(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			u := storetest.URL(t, dialect)
			var dbs [2]*store.DB
			for i := range dbs {
				db, err := store.Open(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				if err := db.MigrateUp(); err != nil {
					t.Fatal(err)
				}
				dbs[i] = db
			}
			ctx := context.Background()
			now := time.UnixMilli(1_700_000_000_000).UTC()
			const key, free = "acct:race@example.com", 5
			burst := func() int64 {
				var granted atomic.Int64
				var wg sync.WaitGroup
				for i := range 40 {
					wg.Go(func() {
						ok, _, err := dbs[i%2].ReserveSignin(ctx, key, now, now.Add(-time.Hour), now.Add(time.Minute), free)
						if err != nil {
							t.Error(err)
						}
						if ok {
							granted.Add(1)
						}
					})
				}
				wg.Wait()
				return granted.Load()
			}
			if n := burst(); n != free {
				t.Fatalf("fresh key: %d reservations, want %d", n, free)
			}
			for range free {
				dbs[0].FailSignin(ctx, key, now, now.Add(-time.Hour), func(int) time.Duration { return 0 })
			}
			if n := burst(); n != 1 {
				t.Fatalf("out of free failures: %d reservations, want 1", n)
			}
		})
	}
}

func TestDeleteAuditEvents(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		for i := range 5 {
			db.RecordEvent(ctx, issuer.AuditEvent{At: now.Add(-time.Duration(i+1) * time.Hour), Type: "signin_failed"})
		}
		db.RecordEvent(ctx, issuer.AuditEvent{At: now.Add(-time.Hour), Type: "signin"})
		db.RecordEvent(ctx, issuer.AuditEvent{At: now, Type: "signin_failed"})
		for _, want := range []int64{2, 2, 1, 0} {
			n, err := db.DeleteAuditEvents(ctx, []string{"signin_failed", "signin_blocked"}, now, 2)
			if err != nil || n != want {
				t.Fatalf("deleted %d, %v; want %d", n, err, want)
			}
		}
		if ev, _ := db.Events(ctx, ""); len(ev) != 2 {
			t.Fatalf("%d events left, want the signin and the recent failure", len(ev))
		}
	})
}

// TestResealIssuerSecrets: re-sealing under a new key-encryption key
// covers the issuer's own secrets (the device-token key), so that the old
// key can be dropped without turning every device token anonymous.
func TestResealIssuerSecrets(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		old, ring, newOnly := kekSealer(t, 1), kekSealer(t, 2, 1), kekSealer(t, 2)
		secret := []byte("0123456789abcdef0123456789abcdef")
		if _, err := db.SealedSecret(ctx, "device_token_key", old.Seal("device_token_key", secret), time.Now()); err != nil {
			t.Fatal(err)
		}
		counts, err := db.ResealSecrets(ctx, 10, ring.Reseal, nil)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := db.SealedSecret(ctx, "device_token_key", []byte("ignored: a secret is stored"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got, err := newOnly.Open("device_token_key", sealed); err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("after re-sealing the new key alone opens %q, %v (counts %+v)", got, err, counts)
		}
	})
}

package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// skewedKeys stores, around the database's clock t: an active key a, a next
// key b due at t+1m and a retired key r to be removed at t+1m.
func skewedKeys(t *testing.T, db *store.DB) (dbNow time.Time, a, b, r keys.Key) {
	t.Helper()
	ctx := context.Background()
	dbNow, err := db.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := testSealer(t)
	gen := func(state keys.State, created, activates time.Time) keys.Key {
		k, err := keys.Generate(keys.EdDSA, 0, state, created, activates, s)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a = gen(keys.StateActive, dbNow.Add(-2*time.Hour), dbNow.Add(-2*time.Hour))
	b = gen(keys.StateNext, dbNow.Add(-10*time.Minute), dbNow.Add(time.Minute))
	r = gen(keys.StateRetired, dbNow.Add(-3*time.Hour), dbNow.Add(-3*time.Hour))
	r.RetiresAt, r.RemoveAt = dbNow.Add(-2*time.Hour), dbNow.Add(time.Minute)
	err = db.UpdateKeys(ctx, func(tx keys.KeyTx) error {
		for _, k := range []keys.Key{a, b, r} {
			if err := tx.InsertKey(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dbNow, a, b, r
}

func stateOf(t *testing.T, db *store.DB, kid string) keys.Key {
	t.Helper()
	ks, err := db.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.KID == kid {
			return k
		}
	}
	t.Fatalf("no key %s", kid)
	return keys.Key{}
}

// TestSkewedReplicaFollowsTheDatabaseClock: a replica whose clock runs two
// minutes fast neither activates a next key due in a minute nor removes a
// retired key due in a minute, by the database's clock; on its own clock
// it would have done both. A replica two minutes slow acts once the
// database's clock says so, and dates the changes by it.
func TestSkewedReplicaFollowsTheDatabaseClock(t *testing.T) {
	ctx := context.Background()
	local := func(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		_, _, b, r := skewedKeys(t, db)
		fast := &keys.Rotator{Store: db, Sealer: testSealer(t), Policy: testPolicy(), Now: local(2 * time.Minute), Clock: keys.StoreClock}
		if changed, err := fast.Pass(ctx); err != nil || changed {
			t.Fatalf("fast replica: changed %v, %v", changed, err)
		}
		if k := stateOf(t, db, b.KID); k.State != keys.StateNext {
			t.Fatalf("the next key activated early: %s", k.State)
		}
		if k := stateOf(t, db, r.KID); k.State != keys.StateRetired || k.PrivateKey == nil {
			t.Fatalf("the retired key was removed early: %s", k.State)
		}

		// Make both due by the database's clock; the slow replica's own
		// clock says they are not.
		dbNow, err := db.Now(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b.ActivatesAt, r.RemoveAt = dbNow.Add(-time.Second), dbNow.Add(-time.Second)
		if err := db.UpdateKeys(ctx, func(tx keys.KeyTx) error {
			if err := tx.UpdateKey(ctx, b); err != nil {
				return err
			}
			return tx.UpdateKey(ctx, r)
		}); err != nil {
			t.Fatal(err)
		}
		slow := &keys.Rotator{Store: db, Sealer: testSealer(t), Policy: testPolicy(), Now: local(-2 * time.Minute), Clock: keys.StoreClock}
		if _, err := slow.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		after, err := db.Now(ctx)
		if err != nil {
			t.Fatal(err)
		}
		kb := stateOf(t, db, b.KID)
		if kb.State != keys.StateActive || kb.ActivatesAt.Before(dbNow) || kb.ActivatesAt.After(after) {
			t.Fatalf("next key: %s at %s, want active, dated between %s and %s by the database", kb.State, kb.ActivatesAt, dbNow, after)
		}
		if kr := stateOf(t, db, r.KID); kr.State != keys.StateRemoved || kr.RemovedAt.Before(dbNow) {
			t.Fatalf("retired key: %s at %s", kr.State, kr.RemovedAt)
		}
	})
}

// TestSkewedReplicaOnItsOwnClock shows what the database's clock prevents:
// the same fast replica timing changes by its own clock activates the next
// key and removes the retired one a minute early.
func TestSkewedReplicaOnItsOwnClock(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		_, _, b, r := skewedKeys(t, db)
		fast := &keys.Rotator{Store: db, Sealer: testSealer(t), Policy: testPolicy(),
			Now: func() time.Time { return time.Now().Add(2 * time.Minute) }, Clock: keys.LocalClock}
		if _, err := fast.Pass(context.Background()); err != nil {
			t.Fatal(err)
		}
		if stateOf(t, db, b.KID).State != keys.StateActive || stateOf(t, db, r.KID).State != keys.StateRemoved {
			t.Fatal("the local clock made no early change: the test above proves nothing")
		}
	})
}

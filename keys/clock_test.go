package keys_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/keys"
)

// skewed returns a replica clock off by d from clk.
func skewed(clk *clock, d time.Duration) func() time.Time {
	return func() time.Time { return clk.Now().Add(d) }
}

// TestSkewedReplicasFollowTheStoreClock: with the store's clock at the
// times below, a replica whose clock runs two minutes fast neither
// activates the next key nor removes the retired one early, and one whose
// clock runs two minutes slow does both on time and dates them by the
// store's clock (lead 5m10s, retention 20m40s, rotation 1h).
func TestSkewedReplicasFollowTheStoreClock(t *testing.T) {
	ctx := context.Background()
	db := newClock() // the store's clock, 2026-01-01 00:00:00
	st := &memStore{now: db.Now}
	p := testPolicy()
	sealer := testSealer(t)
	fast := &keys.Rotator{Store: st, Sealer: sealer, Policy: p, Now: skewed(db, 2*time.Minute), Clock: keys.StoreClock}
	slow := &keys.Rotator{Store: st, Sealer: sealer, Policy: p, Now: skewed(db, -2*time.Minute), Clock: keys.StoreClock}
	s := &schedule{replica: &replica{t: t, store: st, clock: db, ring: keys.NewKeyring(st, sealer, p, db.Now)}, t: t}
	passAt := func(r *keys.Rotator, clock string) {
		t.Helper()
		db.Set(at(t, clock))
		if _, err := r.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}

	passAt(fast, "00:00:00.000")
	a := s.only(keys.StateActive)
	s.times(a, keys.StateActive, "00:00:00.000", "00:00:00.000", "", "")

	// The fast replica reads 00:54:50 at 00:52:50: not yet.
	passAt(fast, "00:52:50.000")
	if n := len(byState(t, st)[keys.StateNext]); n != 0 {
		t.Fatal("the fast replica published the next key two minutes early")
	}
	passAt(slow, "00:54:50.000")
	b := s.only(keys.StateNext)
	s.times(b, keys.StateNext, "00:54:50.000", "01:00:00.000", "", "")

	// The fast replica reads 01:00:30 at 00:58:30: b must not sign yet.
	passAt(fast, "00:58:30.000")
	s.times(b, keys.StateNext, "00:54:50.000", "01:00:00.000", "", "")
	passAt(slow, "01:00:00.000")
	s.times(b, keys.StateActive, "00:54:50.000", "01:00:00.000", "", "")
	s.times(a, keys.StateRetired, "00:00:00.000", "00:00:00.000", "01:00:00.000", "01:20:40.000")

	// The fast replica reads 01:20:41 at 01:18:41: a stays published.
	passAt(fast, "01:18:41.000")
	s.times(a, keys.StateRetired, "00:00:00.000", "00:00:00.000", "01:00:00.000", "01:20:40.000")
	passAt(slow, "01:20:40.000")
	if k := s.key(a); k.State != keys.StateRemoved || !k.RemovedAt.Equal(at(t, "01:20:40.000")) {
		t.Fatalf("retired key at 01:20:40 by the store's clock: %+v", k)
	}

	// rotate --now from the fast replica is dated by the store, so the
	// retired key's removal is 20m40s after the store's 01:30:00.
	db.Set(at(t, "01:30:00.000"))
	c, err := fast.Rotate(ctx, keys.EdDSA, true)
	if err != nil {
		t.Fatal(err)
	}
	s.times(c.KID, keys.StateActive, "01:30:00.000", "01:30:00.000", "", "")
	s.times(b, keys.StateRetired, "00:54:50.000", "01:00:00.000", "01:30:00.000", "01:50:40.000")
}

// TestDefaultClock: without an injected clock the rotator follows the
// store's; with one, that clock (tests that move time on a real store).
func TestDefaultClock(t *testing.T) {
	ctx := context.Background()
	db := newClock() // 2026-01-01, far from the real clock
	st := &memStore{now: db.Now}
	if _, err := (&keys.Rotator{Store: st, Sealer: testSealer(t), Policy: testPolicy()}).Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if k := mustList(t, st)[0]; !k.CreatedAt.Equal(db.Now()) {
		t.Fatalf("Now unset: key created at %s, want the store's %s", k.CreatedAt, db.Now())
	}

	local := newClock()
	local.Advance(time.Hour)
	st = &memStore{now: db.Now}
	if _, err := (&keys.Rotator{Store: st, Sealer: testSealer(t), Policy: testPolicy(), Now: local.Now}).Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if k := mustList(t, st)[0]; !k.CreatedAt.Equal(local.Now()) {
		t.Fatalf("Now set: key created at %s, want %s", k.CreatedAt, local.Now())
	}
}

// counting is a key source that counts the keys it makes.
type counting struct {
	keys.SealedKeys
	mu      sync.Mutex
	created int
}

func (c *counting) Create(ctx context.Context, alg string) (keys.Key, error) {
	c.mu.Lock()
	c.created++
	c.mu.Unlock()
	return c.SealedKeys.Create(ctx, alg)
}

// TestSkewedReplicaMakesNoSpareKeys: a replica two minutes fast does not
// make a key ahead of the lock (RSA generation takes a while) on every
// pass of the two minutes its own clock says a key is due: its guess
// follows the store's clock too.
func TestSkewedReplicaMakesNoSpareKeys(t *testing.T) {
	ctx := context.Background()
	db := newClock()
	st := &memStore{now: db.Now}
	src := &counting{SealedKeys: keys.SealedKeys{Sealer: testSealer(t)}}
	fast := &keys.Rotator{Store: st, Source: src, Policy: testPolicy(), Now: skewed(db, 2*time.Minute), Clock: keys.StoreClock}
	if _, err := fast.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	db.Set(at(t, "00:52:50.000")) // 00:54:50 on the replica's clock
	for range 3 {
		if _, err := fast.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if src.created != 1 {
		t.Fatalf("%d keys made for one stored", src.created)
	}
}

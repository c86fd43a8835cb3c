package keys_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/signet-auth/signet/keys"
)

// replica is one issuer's view: a rotator and a keyring on a store.
type replica struct {
	t     *testing.T
	store keys.Store
	clock *clock
	rot   *keys.Rotator
	ring  *keys.Keyring
}

func newReplica(t *testing.T, st keys.Store, clk *clock, p keys.Policy) *replica {
	s := testSealer(t)
	return &replica{t: t, store: st, clock: clk,
		rot:  &keys.Rotator{Store: st, Sealer: s, Policy: p, Now: clk.Now},
		ring: keys.NewKeyring(st, s, p, clk.Now)}
}

// pass runs a rotation pass and reloads, as the Maintainer does.
func (r *replica) pass() {
	r.t.Helper()
	if _, err := r.rot.Pass(context.Background()); err != nil {
		r.t.Fatalf("pass at %s: %v", r.clock.Now(), err)
	}
	if err := r.ring.Reload(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *replica) reload() {
	r.t.Helper()
	if err := r.ring.Reload(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// published checks the JWK set's kids.
func (r *replica) published(want ...string) {
	r.t.Helper()
	if got := kids(r.t, r.ring.JWKS().Body); !slices.Equal(got, sorted(want...)) {
		r.t.Fatalf("at %s the JWK set has %v, want %v", r.clock.Now().Format(time.TimeOnly), got, sorted(want...))
	}
}

func (r *replica) signsWith(kid string) {
	r.t.Helper()
	_, got, err := r.ring.Sign(&keys.AccessClaims{Subject: "u"})
	if err != nil || got != kid {
		r.t.Fatalf("signs with %s (%v), want %s", got, err, kid)
	}
}

func (r *replica) key(kid string) keys.Key {
	r.t.Helper()
	ks, _ := r.store.ListKeys(context.Background())
	for _, k := range ks {
		if k.KID == kid {
			return k
		}
	}
	r.t.Fatalf("no key %s", kid)
	return keys.Key{}
}

func (r *replica) only(state keys.State) string {
	r.t.Helper()
	ks := byState(r.t, r.store)[state]
	if len(ks) != 1 {
		r.t.Fatalf("%s keys: %v, want exactly one", state, ks)
	}
	return ks[0]
}

// TestLifecycle walks keys through next, active, retired and removed, and
// through revoked, checking the JWK set at each step.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := &memStore{now: clk.Now}
	p := testPolicy() // rotation 1h, lead 5m10s, retention 20m40s
	r := newReplica(t, st, clk, p)
	t0 := clk.Now()

	// A new store: the first key signs at once.
	r.pass()
	a := r.only(keys.StateActive)
	r.published(a)
	r.signsWith(a)
	if got := r.ring.MaxAge(r.ring.JWKS()); got != 5*time.Minute {
		t.Fatalf("max-age = %s, want the 5m ceiling", got)
	}

	// A minute before the successor is due to be published, caches are
	// told to come back by then.
	clk.Set(t0.Add(time.Hour - p.PublishLead() - time.Minute))
	r.pass()
	r.published(a)
	if got := r.ring.MaxAge(r.ring.JWKS()); got != time.Minute {
		t.Fatalf("max-age before publication = %s, want 1m", got)
	}

	// Published a lead ahead: in the set, not signing.
	clk.Set(t0.Add(time.Hour - p.PublishLead()))
	r.pass()
	b := r.only(keys.StateNext)
	r.published(a, b)
	r.signsWith(a)
	if got := r.key(b).ActivatesAt; !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("next key activates at %s, want %s", got, t0.Add(time.Hour))
	}
	etag := r.ring.JWKS().ETag

	clk.Set(t0.Add(time.Hour - time.Second))
	r.pass()
	r.signsWith(a)

	// Due: b signs, a is retired but still published.
	clk.Set(t0.Add(time.Hour))
	r.pass()
	if r.only(keys.StateActive) != b || r.only(keys.StateRetired) != a {
		t.Fatalf("after promotion: %v", byState(t, st))
	}
	r.published(a, b)
	r.signsWith(b)
	if r.ring.JWKS().ETag != etag {
		t.Fatal("the ETag changed though the published set did not")
	}
	ka := r.key(a)
	if want := t0.Add(time.Hour + p.Retention()); !ka.RemoveAt.Equal(want) || ka.PrivateKey == nil {
		t.Fatalf("retired key: remove at %s (want %s), private part kept: %v", ka.RemoveAt, want, ka.PrivateKey != nil)
	}
	// The next scheduled change is a's removal, 20m40s away: the ceiling holds.
	if got := r.ring.MaxAge(r.ring.JWKS()); got != 5*time.Minute {
		t.Fatalf("max-age = %s", got)
	}
	clk.Set(ka.RemoveAt.Add(-90 * time.Second))
	if got := r.ring.MaxAge(r.ring.JWKS()); got != 90*time.Second {
		t.Fatalf("max-age before removal = %s, want 1m30s", got)
	}

	// Retention over: out of the set, private part destroyed.
	clk.Set(ka.RemoveAt)
	r.pass()
	r.published(b)
	if ka = r.key(a); ka.State != keys.StateRemoved || ka.PrivateKey != nil || !ka.RemovedAt.Equal(clk.Now()) {
		t.Fatalf("removed key: %+v", ka)
	}
	if r.ring.JWKS().ETag == etag {
		t.Fatal("the ETag did not change with the set")
	}

	// A routine rotation on demand publishes c a lead ahead; revoking it
	// takes it out at once.
	c, err := r.rot.Rotate(ctx, keys.EdDSA, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != keys.StateNext || !c.ActivatesAt.Equal(clk.Now().Add(p.PublishLead())) {
		t.Fatalf("rotate: %+v", c)
	}
	r.reload()
	r.published(b, c.KID)
	if _, _, err := r.rot.Revoke(ctx, c.KID, false); err != nil {
		t.Fatal(err)
	}
	r.reload()
	r.published(b)
	if kc := r.key(c.KID); kc.State != keys.StateRevoked || kc.PrivateKey != nil {
		t.Fatalf("revoked key: %+v", kc)
	}
	if _, _, err := r.rot.Revoke(ctx, c.KID, false); err == nil {
		t.Fatal("revoking twice succeeded")
	}

	// The only active key: refused without promote.
	if _, _, err := r.rot.Revoke(ctx, b, false); !errors.Is(err, keys.ErrOnlyActiveKey) {
		t.Fatalf("revoke active without promote: %v", err)
	}
	r.signsWith(b)
	revoked, promoted, err := r.rot.Revoke(ctx, b, true)
	if err != nil || promoted == nil || revoked.KID != b {
		t.Fatalf("revoke with promote: %v %v", promoted, err)
	}
	r.reload()
	r.published(promoted.KID)
	r.signsWith(promoted.KID)
	if _, _, err := r.rot.Revoke(ctx, "no-such-kid", true); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("unknown kid: %v", err)
	}

	// Every change is in the audit trail.
	var events []string
	for _, e := range st.Events() {
		events = append(events, e.Event)
	}
	want := []string{"key_created_active", "key_published", "key_retired", "key_activated", "key_removed",
		"key_published", "key_revoked", "key_published", "key_revoked", "key_activated"}
	if !slices.Equal(events, want) {
		t.Fatalf("events %v\nwant   %v", events, want)
	}
}

// TestEmergencyRotation: rotate --now makes a fresh key sign at once and
// retires the old one, which stays published for the retention.
func TestEmergencyRotation(t *testing.T) {
	clk := newClock()
	st := &memStore{now: clk.Now}
	r := newReplica(t, st, clk, testPolicy())
	r.pass()
	a := r.only(keys.StateActive)
	k, err := r.rot.Rotate(context.Background(), keys.EdDSA, true)
	if err != nil || k.State != keys.StateActive || k.KID == a {
		t.Fatalf("rotate --now: %+v %v", k, err)
	}
	r.reload()
	r.published(a, k.KID)
	r.signsWith(k.KID)
	if r.only(keys.StateRetired) != a {
		t.Fatal("old key not retired")
	}
	// The next pass leaves it alone: its successor is due a period later.
	clk.Advance(time.Minute)
	r.pass()
	if r.only(keys.StateActive) != k.KID || len(byState(t, st)[keys.StateNext]) != 0 {
		t.Fatalf("after a pass: %v", byState(t, st))
	}
}

// TestAlgorithmChange: switching the signing algorithm keeps signing with
// the old algorithm until the new one's key has been published for the
// lead, then retires the old algorithm's keys.
func TestAlgorithmChange(t *testing.T) {
	clk := newClock()
	st := &memStore{now: clk.Now}
	p := testPolicy()
	old := newReplica(t, st, clk, p)
	old.pass()
	ed := old.only(keys.StateActive)
	// An EdDSA next key is pending when the change happens.
	clk.Advance(time.Hour - p.PublishLead())
	old.pass()
	edNext := old.only(keys.StateNext)

	p.Alg = keys.RS256
	r := newReplica(t, st, clk, p)
	r.pass()
	var rs string
	for _, k := range mustList(t, st) {
		if k.Alg == keys.RS256 {
			rs = k.KID
			if k.State != keys.StateNext || !k.ActivatesAt.Equal(clk.Now().Add(p.PublishLead())) {
				t.Fatalf("RS256 key: %+v", k)
			}
		}
	}
	r.published(ed, edNext, rs)
	if !r.ring.Ready() {
		t.Fatal("not ready during the change of algorithm")
	}
	r.signsWith(ed) // the old algorithm signs until the new key is known everywhere

	clk.Advance(p.PublishLead() - time.Second)
	r.pass()
	r.signsWith(ed)
	clk.Advance(time.Second)
	r.pass()
	r.signsWith(rs)
	got := byState(t, st)
	if !slices.Equal(got[keys.StateActive], []string{rs}) || !slices.Equal(sorted(got[keys.StateRetired]...), sorted(ed, edNext)) {
		t.Fatalf("after the change: %v", got)
	}
	r.published(ed, edNext, rs)
	clk.Advance(p.Retention())
	r.pass()
	r.published(rs)
}

func mustList(t *testing.T, st keys.Store) []keys.Key {
	t.Helper()
	ks, err := st.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestReloadSkipsUnchangedSet: the set is serialised once per change.
func TestReloadSkipsUnchangedSet(t *testing.T) {
	clk := newClock()
	st := &memStore{now: clk.Now}
	r := newReplica(t, st, clk, testPolicy())
	r.pass()
	var calls int
	r.ring.OnSetChange(func(keys.JWKS) { calls++ })
	first := r.ring.JWKS()
	for range 3 {
		clk.Advance(time.Second)
		r.pass()
	}
	again := r.ring.JWKS()
	if &first.Body[0] != &again.Body[0] || calls != 1 {
		t.Fatalf("the set was rebuilt without a change (%d hook calls)", calls)
	}
}

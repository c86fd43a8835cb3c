package keys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/keys"
)

// otherSealer is a key-encryption key other than testSealer's.
func otherSealer(t testing.TB) *keys.Sealer {
	s, err := keys.NewSealer(bytes.Repeat([]byte{8}, keys.KEKSize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sneak stores keys as an older signet did, without any check: what a
// process with another key-encryption key could write before the guards.
func sneak(t *testing.T, st keys.Store, insert []keys.Key, update ...keys.Key) {
	t.Helper()
	ctx := context.Background()
	err := st.UpdateKeys(ctx, func(tx keys.KeyTx) error {
		for _, k := range update {
			if err := tx.UpdateKey(ctx, k); err != nil {
				return err
			}
		}
		for _, k := range insert {
			if err := tx.InsertKey(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func foreignKey(t *testing.T, state keys.State, now, activates time.Time) keys.Key {
	t.Helper()
	k, err := keys.Generate(keys.EdDSA, 0, state, now, activates, otherSealer(t))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestReloadOfAnActiveKeyItCannotOpen: an active key sealed under another
// key-encryption key makes the keyring unhealthy and counted, the JWK set
// still follows the store, and the previous key signs on for as long as
// its tokens can verify: retired at T, removed at T+20m40s, so it may sign
// until T+20m40s-15m-30s = T+5m10s.
func TestReloadOfAnActiveKeyItCannotOpen(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := &memStore{now: clk.Now}
	p := testPolicy()
	r := newReplica(t, st, clk, p)
	r.pass()
	a := r.key(r.only(keys.StateActive))
	if err := r.ring.Healthy(); err != nil || !r.ring.Ready() || r.ring.ReloadFailures() != 0 {
		t.Fatalf("healthy %v, ready %v, failures %d", err, r.ring.Ready(), r.ring.ReloadFailures())
	}

	clk.Advance(time.Minute)
	t0 := clk.Now()
	b := foreignKey(t, keys.StateActive, t0, t0)
	a.State, a.RetiresAt, a.RemoveAt = keys.StateRetired, t0, t0.Add(p.Retention())
	sneak(t, st, []keys.Key{b}, a)

	err := r.ring.Reload(ctx)
	if !errors.Is(err, keys.ErrDecrypt) || !strings.Contains(err.Error(), "active key "+b.KID) {
		t.Fatalf("reload: %v", err)
	}
	if h := r.ring.Healthy(); !errors.Is(h, keys.ErrDecrypt) || r.ring.Ready() {
		t.Fatalf("healthy = %v, ready %v", h, r.ring.Ready())
	}
	if n := r.ring.ReloadFailures(); n != 1 {
		t.Fatalf("ReloadFailures = %d, want 1", n)
	}
	r.published(a.KID, b.KID)
	r.signsWith(a.KID)
	clk.Set(t0.Add(5*time.Minute + 10*time.Second - time.Millisecond))
	r.signsWith(a.KID)
	clk.Set(t0.Add(5*time.Minute + 10*time.Second))
	if _, kid, err := r.ring.Sign(&keys.AccessClaims{Subject: "u"}); !errors.Is(err, keys.ErrNoActiveKey) {
		t.Fatalf("signed with %s (%v) when its tokens could outlive its publication", kid, err)
	}

	// Every reload tries again, and counts.
	if err := r.ring.Reload(ctx); err == nil || r.ring.ReloadFailures() != 2 {
		t.Fatalf("second reload: %v, failures %d", err, r.ring.ReloadFailures())
	}

	// The way out: revoke the key no one can open, with a replacement.
	if _, _, err := r.rot.Revoke(ctx, b.KID, true); err != nil {
		t.Fatal(err)
	}
	r.reload()
	if err := r.ring.Healthy(); err != nil {
		t.Fatalf("after revoking the foreign key: %v", err)
	}
	r.signsWith(r.only(keys.StateActive))
}

// TestNextKeyItCannotOpen: a next key sealed under another key-encryption
// key is reported as soon as it is published, and is never activated: the
// current key signs on past the rotation.
func TestNextKeyItCannotOpen(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := &memStore{now: clk.Now}
	p := testPolicy()
	r := newReplica(t, st, clk, p)
	r.pass()
	a := r.only(keys.StateActive)
	b := foreignKey(t, keys.StateNext, clk.Now(), clk.Now().Add(p.PublishLead()))
	sneak(t, st, []keys.Key{b})

	if err := r.ring.Reload(ctx); !errors.Is(err, keys.ErrDecrypt) || !strings.Contains(err.Error(), "next key "+b.KID) {
		t.Fatalf("reload: %v", err)
	}
	if r.ring.Ready() {
		t.Fatal("ready with a next key it cannot open")
	}
	r.published(a, b.KID)
	r.signsWith(a)

	clk.Advance(p.RotationPeriod)
	changed, err := r.rot.Pass(ctx)
	if !errors.Is(err, keys.ErrDecrypt) || !strings.Contains(err.Error(), "not activated") || changed {
		t.Fatalf("pass: changed %v, %v", changed, err)
	}
	if r.only(keys.StateActive) != a || r.only(keys.StateNext) != b.KID {
		t.Fatalf("states: %v", byState(t, st))
	}
	if _, _, err := r.rot.Revoke(ctx, b.KID, false); err != nil {
		t.Fatal(err)
	}
	r.pass()
	if err := r.ring.Healthy(); err != nil {
		t.Fatal(err)
	}
	if next := r.only(keys.StateNext); next == b.KID {
		t.Fatal("no fresh next key")
	}
}

// TestRotatorRefusesKeysOthersCannotOpen: a process whose key-encryption
// key does not open the active key writes nothing.
func TestRotatorRefusesKeysOthersCannotOpen(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := &memStore{now: clk.Now}
	p := testPolicy()
	r := newReplica(t, st, clk, p)
	r.pass()
	a := r.only(keys.StateActive)
	before := mustList(t, st)
	wrong := &keys.Rotator{Store: st, Sealer: otherSealer(t), Policy: p, Now: clk.Now}

	clk.Advance(p.RotationPeriod) // a successor is due
	_, passErr := wrong.Pass(ctx)
	_, rotErr := wrong.Rotate(ctx, keys.EdDSA, false)
	_, nowErr := wrong.Rotate(ctx, keys.EdDSA, true)
	_, genErr := wrong.Generate(ctx, keys.RS256)
	_, _, revErr := wrong.Revoke(ctx, a, true)
	for name, err := range map[string]error{"pass": passErr, "rotate": rotErr, "rotate --now": nowErr, "generate": genErr, "revoke --promote": revErr} {
		if !errors.Is(err, keys.ErrDecrypt) || !strings.Contains(err.Error(), "cannot open the active key "+a) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if after := mustList(t, st); !slices.EqualFunc(before, after, func(x, y keys.Key) bool { return x.KID == y.KID && x.State == y.State }) {
		t.Fatalf("the store changed: %v", byState(t, st))
	}
}

// watchStore is a memStore whose changes are announced on a channel the
// test controls, as Postgres notifications are.
type watchStore struct {
	*memStore
	ch chan struct{}
}

func (w *watchStore) WatchKeys(ctx context.Context) (<-chan struct{}, error) { return w.ch, nil }

// TestMaintainerLogsReloadFailures: the line an alert matches, with the
// error, and the counter.
func TestMaintainerLogsReloadFailures(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := newClock()
	st := &watchStore{&memStore{now: clk.Now}, make(chan struct{})}
	p := testPolicy()
	logs := &lockedBuffer{}
	ring := keys.NewKeyring(st, testSealer(t), p, clk.Now)
	m := &keys.Maintainer{
		Rotator: &keys.Rotator{Store: st, Sealer: testSealer(t), Policy: p, Now: clk.Now},
		Keyring: ring, PassInterval: time.Hour, ReloadInterval: time.Hour, Logger: jsonLogger(logs),
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sneak(t, st, []keys.Key{foreignKey(t, keys.StateNext, clk.Now(), clk.Now().Add(p.PublishLead()))})
	st.ch <- struct{}{}
	deadline := time.Now().Add(10 * time.Second)
	for ring.ReloadFailures() == 0 || !strings.Contains(logs.String(), "key reload failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload failure after the notification; logs:\n%s", logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var line struct {
		Level, Msg, Error string
	}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if err := json.Unmarshal([]byte(l), &line); err == nil && line.Msg == "key reload failed" {
			break
		}
	}
	if line.Level != "ERROR" || !strings.Contains(line.Error, "wrong key-encryption key") {
		t.Fatalf("log line %+v", line)
	}
}

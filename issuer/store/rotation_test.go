package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
	"github.com/signet-auth/signet/verifier"
)

// clock is a settable test clock shared by replicas.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testPolicy() keys.Policy {
	return keys.Policy{
		Alg: keys.EdDSA, RSABits: 2048, RotationPeriod: time.Hour, JWKSMaxAge: 5 * time.Minute,
		ReloadInterval: 10 * time.Second, AccessTokenTTL: 15 * time.Minute, Leeway: 30 * time.Second,
	}
}

func testSealer(t testing.TB) *keys.Sealer {
	s, err := keys.NewSealer(bytes.Repeat([]byte{7}, keys.KEKSize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// created collects the kids the rotators report creating.
type created struct {
	mu   sync.Mutex
	kids map[string]bool
}

func (c *created) onChange(event string, k keys.Key) {
	if event == "key_published" || event == "key_created_active" {
		c.mu.Lock()
		c.kids[k.KID] = true
		c.mu.Unlock()
	}
}

// TestReplicasRace runs many rotation passes, emergency rotations and
// revocations at once from several replicas (several pools on one
// database, several goroutines each) while the clock runs through many
// rotation periods. There is never a second active key of an algorithm, no
// operation fails for lack of serialisation, and every key created is
// accounted for.
func TestReplicasRace(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			u := storetest.URL(t, dialect)
			ctx := context.Background()
			const replicas, workers, passes = 2, 4, 50
			clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			made := &created{kids: map[string]bool{}}
			var dbs []*store.DB
			for i := range replicas {
				// Replicas hammering one SQLite file queue for its single
				// write lock; on a loaded machine that wait can pass the
				// default statement timeout. The outcome, not the wait, is
				// what this test checks.
				db, err := store.Open(ctx, u, store.StatementTimeout(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				if i == 0 {
					if err := db.MigrateUp(); err != nil {
						t.Fatal(err)
					}
				}
				dbs = append(dbs, db)
			}

			stop := make(chan struct{})
			checked := make(chan error, 1)
			go func() { // an observer: never two active keys of one algorithm
				defer close(checked)
				for {
					select {
					case <-stop:
						return
					default:
					}
					ks, err := dbs[0].ListKeys(ctx)
					if err != nil {
						checked <- err
						return
					}
					active := map[string]int{}
					for _, k := range ks {
						if k.State == keys.StateActive {
							active[k.Alg]++
						}
					}
					for alg, n := range active {
						if n > 1 {
							checked <- fmt.Errorf("%d active %s keys", n, alg)
							return
						}
					}
				}
			}()

			var wg sync.WaitGroup
			errs := make(chan error, replicas*workers*passes)
			for i := range replicas * workers {
				rot := &keys.Rotator{Store: dbs[i%replicas], Sealer: testSealer(t), Policy: testPolicy(), Now: clk.Now, OnChange: made.onChange}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := range passes {
						var err error
						switch {
						case n%17 == i:
							_, err = rot.Rotate(ctx, keys.EdDSA, true)
						case n%13 == i:
							var ks []keys.Key
							if ks, err = rot.Store.ListKeys(ctx); err == nil {
								for _, k := range ks {
									if k.State == keys.StateActive {
										_, _, err = rot.Revoke(ctx, k.KID, true)
										if errors.Is(err, keys.ErrKeyEnded) {
											err = nil // another replica got there first
										}
									}
								}
							}
						default:
							_, err = rot.Pass(ctx)
						}
						if err != nil {
							errs <- err
						}
						clk.Advance(45 * time.Second)
					}
				}()
			}
			wg.Wait()
			close(stop)
			if err := <-checked; err != nil {
				t.Fatal(err)
			}
			close(errs)
			for err := range errs {
				t.Errorf("operation failed: %v", err)
			}

			ks, err := dbs[1].ListKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			states := map[keys.State]int{}
			stored := map[string]bool{}
			for _, k := range ks {
				states[k.State]++
				stored[k.KID] = true
				if (k.State == keys.StateRemoved || k.State == keys.StateRevoked) != (k.PrivateKey == nil) {
					t.Errorf("key %s is %s with private part %v", k.KID, k.State, k.PrivateKey != nil)
				}
			}
			for kid := range made.kids {
				if !stored[kid] {
					t.Errorf("key %s was reported created but is not stored", kid)
				}
			}
			if len(ks) != len(made.kids) || states[keys.StateActive] != 1 {
				t.Fatalf("%d keys stored, %d reported created; states %v", len(ks), len(made.kids), states)
			}
			var evs []struct{ KID string }
			rows, _ := dbs[0].Events(ctx, "")
			for _, r := range rows {
				var d struct{ KID string }
				_ = json.Unmarshal([]byte(r.Detail), &d)
				if r.Type == "key_published" || r.Type == "key_created_active" {
					evs = append(evs, d)
				}
			}
			if len(evs) != len(ks) {
				t.Fatalf("%d creation events in the audit trail for %d keys", len(evs), len(ks))
			}
			t.Logf("%d keys, states %v, %d audit events", len(ks), states, len(rows))
		})
	}
}

// TestRevocationReachesReplicasAtOnce: on Postgres a revocation made by
// one replica leaves another replica's JWK set within a second, although
// that replica reloads only every minute: the notification does it.
func TestRevocationReachesReplicasAtOnce(t *testing.T) {
	u := storetest.URL(t, store.Postgres)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() *store.DB {
		db, err := store.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	dbA, dbB := open(), open()
	if err := dbA.MigrateUp(); err != nil {
		t.Fatal(err)
	}
	p := testPolicy()
	p.ReloadInterval = time.Minute
	rotA := &keys.Rotator{Store: dbA, Sealer: testSealer(t), Policy: p}
	ringB := keys.NewKeyring(dbB, testSealer(t), p, nil)
	m := &keys.Maintainer{
		Rotator: &keys.Rotator{Store: dbB, Sealer: testSealer(t), Policy: p},
		Keyring: ringB, PassInterval: time.Minute, ReloadInterval: time.Minute,
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	published := func(kid string) bool { return bytes.Contains(ringB.JWKS().Body, []byte(`"`+kid+`"`)) }
	within := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("replica B: %s not seen within a second", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	next, err := rotA.Rotate(ctx, keys.EdDSA, false)
	if err != nil {
		t.Fatal(err)
	}
	within("publication of "+next.KID, func() bool { return published(next.KID) })
	start := time.Now()
	if _, _, err := rotA.Revoke(ctx, next.KID, false); err != nil {
		t.Fatal(err)
	}
	within("revocation of "+next.KID, func() bool { return !published(next.KID) })
	t.Logf("revocation reached replica B after %s", time.Since(start))

	// The active key, revoked with a promotion: B signs with the new key.
	_, before, _ := ringB.Sign(&verifier.Claims{Issuer: "iss", Subject: "u", Audience: []string{"aud"}, IssuedAt: time.Now(), Expiry: time.Now().Add(time.Minute)})
	revoked, promoted, err := rotA.Revoke(ctx, before, true)
	if err != nil || revoked.KID != before {
		t.Fatal(err)
	}
	within("promotion of "+promoted.KID, func() bool {
		_, kid, _ := ringB.Sign(&verifier.Claims{Issuer: "iss", Subject: "u", Audience: []string{"aud"}, IssuedAt: time.Now(), Expiry: time.Now().Add(time.Minute)})
		return kid == promoted.KID && !published(before)
	})
}

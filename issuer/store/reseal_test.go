package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

func kekSealer(t *testing.T, b byte, previous ...byte) *keys.Sealer {
	t.Helper()
	var prev [][]byte
	for _, p := range previous {
		prev = append(prev, bytes.Repeat([]byte{p}, keys.KEKSize))
	}
	s, err := keys.NewSealer(bytes.Repeat([]byte{b}, keys.KEKSize), prev...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sealedStore fills db with secrets sealed under the key-encryption key
// old: an active and a next signing key, a revoked one (no private part),
// n sessions s00.., and one session "zz" sealed under a key no one has.
func sealedStore(t *testing.T, db *store.DB, old *keys.Sealer, n int) {
	t.Helper()
	ctx := context.Background()
	rot := &keys.Rotator{Store: db, Sealer: old, Policy: testPolicy()}
	if _, err := rot.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	gone, err := rot.Rotate(ctx, keys.EdDSA, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rot.Revoke(ctx, gone.KID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := rot.Rotate(ctx, keys.EdDSA, false); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := db.CreateUser(ctx, issuer.User{ID: "u", Email: "u@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	session := func(id string, s *keys.Sealer) {
		err := db.CreateSession(ctx, issuer.Session{ID: id, UserID: "u", RefreshSecret: s.Seal(id, []byte("secret of "+id)),
			CreatedAt: now, IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		session(fmt.Sprintf("s%02d", i), old)
	}
	session("zz", kekSealer(t, 9))
}

// secretsOpenedBy counts the stored secrets s opens, and reports whether
// each opens to what was sealed.
func secretsOpenedBy(t *testing.T, db *store.DB, s *keys.Sealer) (n int) {
	t.Helper()
	ctx := context.Background()
	for _, k := range mustListKeys(t, db) {
		if k.PrivateKey == nil {
			continue
		}
		if _, err := (keys.SealedKeys{Sealer: s}).Signer(ctx, k); err == nil {
			n++
		}
	}
	ss, err := db.SessionsByUser(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ss {
		if pt, err := s.Open(x.ID, x.RefreshSecret); err == nil {
			if string(pt) != "secret of "+x.ID {
				t.Fatalf("session %s opens to %q", x.ID, pt)
			}
			n++
		}
	}
	return n
}

// TestResealSecretsResumes: a run stopped part-way (here by an error in
// the middle of the second batch of sessions) keeps what it committed; a
// second run finishes, a third finds nothing to do. Afterwards the new key
// alone opens every secret and the old key none; the secret no key opens
// is reported and left as it is.
func TestResealSecretsResumes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		old, ring, newOnly := kekSealer(t, 1), kekSealer(t, 2, 1), kekSealer(t, 2)
		sealedStore(t, db, old, 25)
		if n := secretsOpenedBy(t, db, old); n != 2+25 {
			t.Fatalf("the old key opens %d secrets before, want 27", n)
		}

		calls := 0
		stop := errors.New("the operator pressed ^C")
		interrupted := func(label string, sealed []byte) ([]byte, error) {
			if calls++; calls == 2+15 {
				return nil, stop
			}
			return ring.Reseal(label, sealed)
		}
		var seen []store.ResealCount
		counts, err := db.ResealSecrets(ctx, 10, interrupted, func(c store.ResealCount) { seen = append(seen, c) })
		if !errors.Is(err, stop) {
			t.Fatalf("interrupted run: %v", err)
		}
		if counts[0].Resealed != 2 || counts[1].Resealed != 10 || len(seen) != 2 {
			t.Fatalf("committed before the stop: %+v (progress %+v)", counts, seen)
		}
		if n := secretsOpenedBy(t, db, newOnly); n != 2+10 {
			t.Fatalf("the new key opens %d secrets after the interrupted run, want 12", n)
		}

		counts, err = db.ResealSecrets(ctx, 10, ring.Reseal, nil)
		if err != nil {
			t.Fatal(err)
		}
		keysC, sessC := counts[0], counts[1]
		if keysC.Current != 2 || keysC.Resealed != 0 || sessC.Current != 10 || sessC.Resealed != 15 ||
			sessC.Unopened != 1 || len(sessC.UnopenedLabels) != 1 || sessC.UnopenedLabels[0] != "zz" {
			t.Fatalf("resumed run: %+v", counts)
		}
		if n := secretsOpenedBy(t, db, newOnly); n != 2+25 {
			t.Fatalf("the new key opens %d secrets, want 27", n)
		}
		if n := secretsOpenedBy(t, db, old); n != 0 {
			t.Fatalf("the old key still opens %d secrets", n)
		}
		if n := secretsOpenedBy(t, db, kekSealer(t, 9)); n != 1 {
			t.Fatal("the secret no key opened was changed")
		}

		counts, err = db.ResealSecrets(ctx, 10, ring.Reseal, nil)
		if err != nil || counts[0].Resealed+counts[1].Resealed != 0 || counts[1].Current != 25 {
			t.Fatalf("third run: %+v, %v", counts, err)
		}
	})
}

// TestResealLeavesDeletedSessions: a session deleted between the read of
// its batch and its update (the janitor, on Postgres, where writers run
// beside the batch) is counted as gone, and the run goes on.
func TestResealLeavesDeletedSessions(t *testing.T) {
	db := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	old, ring := kekSealer(t, 1), kekSealer(t, 2, 1)
	sealedStore(t, db, old, 3)
	deleted := false
	reseal := func(label string, sealed []byte) ([]byte, error) {
		if label == "s01" && !deleted {
			deleted = true
			if _, err := db.SQL().ExecContext(ctx, `DELETE FROM sessions WHERE id = 's01'`); err != nil {
				return nil, err
			}
		}
		return ring.Reseal(label, sealed)
	}
	counts, err := db.ResealSecrets(ctx, 10, reseal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := counts[1]; c.Gone != 1 || c.Resealed != 2 || c.Unopened != 1 {
		t.Fatalf("sessions: %+v", c)
	}
}

// TestResealRefreshMACKey: every refresh MAC key is re-sealed with the
// rest, so that retiring the old key-encryption key keeps refresh tokens
// valid whatever key MACed them; sessions with no secret of their own are
// passed over, neither re-sealed nor counted as unopened.
func TestResealRefreshMACKey(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		old, ring, newOnly := kekSealer(t, 1), kekSealer(t, 2, 1), kekSealer(t, 2)
		now := time.Now()
		secrets := map[uint32][]byte{1: bytes.Repeat([]byte{9}, 32), 2: bytes.Repeat([]byte{8}, 32)}
		for id := uint32(1); id <= 2; id++ {
			label := "refresh-mac-key:" + strconv.FormatUint(uint64(id), 10)
			if ok, err := db.CreateRefreshMACKey(ctx, issuer.RefreshMACKey{ID: id, Sealed: old.Seal(label, secrets[id]), CreatedAt: now}); err != nil || !ok {
				t.Fatal(ok, err)
			}
		}
		if err := db.CreateUser(ctx, issuer.User{ID: "u", Email: "u@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateSession(ctx, issuer.Session{ID: "keyless", UserID: "u", CreatedAt: now, RotatedAt: now,
			IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		counts, err := db.ResealSecrets(ctx, 10, ring.Reseal, nil)
		if err != nil || len(counts) != 4 || counts[3].Table != "refresh_mac_keys" || counts[3].Resealed != 2 {
			t.Fatalf("reseal: %+v %v", counts, err)
		}
		if counts[1].Table != "sessions" || counts[1].Resealed+counts[1].Current+counts[1].Unopened+counts[1].Gone != 0 {
			t.Fatalf("a session without a secret was touched: %+v", counts[1])
		}
		ks, err := db.RefreshMACKeys(ctx)
		if err != nil || len(ks) != 2 {
			t.Fatal(ks, err)
		}
		for _, k := range ks {
			got, err := newOnly.Open("refresh-mac-key:"+strconv.FormatUint(uint64(k.ID), 10), k.Sealed)
			if err != nil || !bytes.Equal(got, secrets[k.ID]) {
				t.Fatalf("the new key-encryption key does not open MAC key %d: %v", k.ID, err)
			}
		}
		counts, err = db.ResealSecrets(ctx, 10, ring.Reseal, nil)
		if err != nil || counts[3].Resealed != 0 || counts[3].Current != 2 {
			t.Fatalf("second run: %+v %v", counts, err)
		}
	})
}

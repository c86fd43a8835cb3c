package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

func TestUsers(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_123).UTC()
		u := issuer.User{ID: "u1", Email: "ann@example.com", PasswordHash: "$2a$04$x", CreatedAt: now}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		dup := issuer.User{ID: "u2", Email: "ANN@example.com", PasswordHash: "h", CreatedAt: now}
		if err := db.CreateUser(ctx, dup); !errors.Is(err, issuer.ErrEmailTaken) {
			t.Fatalf("duplicate email (other case): got %v, want ErrEmailTaken", err)
		}
		got, err := db.UserByEmail(ctx, "Ann@Example.com")
		if err != nil {
			t.Fatal(err)
		}
		if got != u {
			t.Fatalf("UserByEmail = %+v, want %+v", got, u)
		}
		if got, err = db.UserByID(ctx, "u1"); err != nil || got != u {
			t.Fatalf("UserByID = %+v, %v", got, err)
		}
		if _, err := db.UserByEmail(ctx, "bob@example.com"); !errors.Is(err, issuer.ErrNotFound) {
			t.Fatalf("unknown email: got %v, want ErrNotFound", err)
		}
		list, err := db.ListUsers(ctx, 10)
		if err != nil || len(list) != 1 {
			t.Fatalf("ListUsers = %v, %v", list, err)
		}
		if err := db.DeleteUser(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteUser(ctx, "u1"); !errors.Is(err, issuer.ErrNotFound) {
			t.Fatalf("delete twice: got %v, want ErrNotFound", err)
		}
	})
}

func TestAuditEvents(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := issuer.AuditEvent{At: time.Now(), Type: "signin", UserID: "u1", IP: "127.0.0.1", Detail: map[string]string{"k": "v"}}
		if err := db.RecordEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordEvent(ctx, issuer.AuditEvent{At: time.Now(), Type: "signup"}); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Events(ctx, "signin")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || *rows[0].UserID != "u1" || rows[0].Detail != `{"k":"v"}` || rows[0].SessionID != nil {
			t.Fatalf("Events(signin) = %+v", rows)
		}
		all, _ := db.Events(ctx, "")
		if len(all) != 2 {
			t.Fatalf("all events: %d, want 2", len(all))
		}
	})
}

func TestKeys(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		sealer, _ := keys.NewSealer(make([]byte, 32))
		now := time.UnixMilli(1_700_000_000_000).UTC()
		k1, err := keys.Generate(keys.EdDSA, 0, keys.StateActive, now, now, sealer)
		if err != nil {
			t.Fatal(err)
		}
		k2, _ := keys.Generate(keys.EdDSA, 0, keys.StateActive, now.Add(time.Second), now, sealer)
		err = db.UpdateKeys(ctx, func(tx keys.KeyTx) error {
			if err := tx.InsertKey(ctx, k1); err != nil {
				return err
			}
			return tx.RecordKeyEvent(ctx, now, "key_created_active", k1)
		})
		if err != nil {
			t.Fatal(err)
		}
		// A second active key of the same algorithm breaks the store's rule.
		err = db.UpdateKeys(ctx, func(tx keys.KeyTx) error { return tx.InsertKey(ctx, k2) })
		if err == nil {
			t.Fatal("two active EdDSA keys were accepted")
		}
		ks, err := db.ListKeys(ctx)
		if err != nil || len(ks) != 1 {
			t.Fatalf("ListKeys = %v, %v (the failed transaction must leave nothing)", ks, err)
		}
		got := ks[0]
		if got.KID != k1.KID || got.State != keys.StateActive || !got.CreatedAt.Equal(now) || string(got.PrivateKey) != string(k1.PrivateKey) {
			t.Fatalf("stored key = %+v", got)
		}
		got.State, got.RetiresAt, got.RemoveAt = keys.StateRetired, now, now.Add(time.Hour)
		if err := db.UpdateKeys(ctx, func(tx keys.KeyTx) error { return tx.UpdateKey(ctx, got) }); err != nil {
			t.Fatal(err)
		}
		ks, _ = db.ListKeys(ctx)
		if ks[0].State != keys.StateRetired || !ks[0].RemoveAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("after update: %+v", ks[0])
		}
		ev, _ := db.Events(ctx, "key_created_active")
		if len(ev) != 1 {
			t.Fatalf("key events = %d, want 1", len(ev))
		}
	})
}

func TestPrivateKeyIsCiphertextAtRest(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		kek := make([]byte, 32)
		kek[0] = 1
		sealer, _ := keys.NewSealer(kek)
		rot := &keys.Rotator{Store: db, Sealer: sealer, Policy: keys.Policy{Alg: keys.EdDSA, RotationPeriod: time.Hour, ReloadInterval: time.Second, AccessTokenTTL: time.Minute}}
		if _, err := rot.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		var raw []byte
		if err := db.SQL().GetContext(ctx, &raw, `SELECT private_key FROM signing_keys`); err != nil {
			t.Fatal(err)
		}
		// A PKCS#8 Ed25519 key is 48 bytes of DER starting 0x30 0x2e; the
		// stored form is version, nonce, ciphertext and tag.
		if len(raw) != 1+12+48+16 || raw[0] != 1 || raw[13] == 0x30 && raw[14] == 0x2e {
			t.Fatalf("stored private key does not look sealed: % x", raw)
		}
		wrong, _ := keys.NewSealer(make([]byte, 32))
		ring := keys.NewKeyring(db, wrong, rot.Policy, nil)
		err := ring.Reload(ctx)
		if !errors.Is(err, keys.ErrDecrypt) {
			t.Fatalf("reload with a wrong key-encryption key: got %v, want ErrDecrypt", err)
		}
		if got := err.Error(); got == "" || !containsAll(got, "wrong key-encryption key", "kid") {
			t.Fatalf("error does not say what is wrong: %q", got)
		}
		if err := keys.NewKeyring(db, sealer, rot.Policy, nil).Reload(ctx); err != nil {
			t.Fatalf("reload with the right key: %v", err)
		}
	})
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestMigrateDownAndUp(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		st, err := db.MigrationVersion()
		if err != nil || st.Version != st.Latest || st.Latest == 0 || st.Dirty {
			t.Fatalf("after up: %+v, %v", st, err)
		}
		if err := db.MigrateDown(0); err != nil {
			t.Fatal(err)
		}
		if st, _ := db.MigrationVersion(); st.Version != 0 {
			t.Fatalf("after down: version %d", st.Version)
		}
		if err := db.MigrateUp(); err != nil {
			t.Fatal(err)
		}
		if err := db.MigrateUp(); err != nil {
			t.Fatalf("second up must be a no-op: %v", err)
		}
	})
}

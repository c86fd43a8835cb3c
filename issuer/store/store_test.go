package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/conformance"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// TestConformance runs the suite every store passes, on each dialect.
func TestConformance(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			conformance.RunTests(t, func(t *testing.T) conformance.Store { return storetest.Open(t, d) })
		})
	}
}

// TestAdminQueries covers what the CLI and the janitor read and delete,
// beyond the services' interfaces.
func TestAdminQueries(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		for _, id := range []string{"u1", "u2"} {
			if err := db.CreateUser(ctx, issuer.User{ID: id, Email: id + "@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		if list, err := db.ListUsers(ctx, 10); err != nil || len(list) != 2 {
			t.Fatalf("ListUsers = %v, %v", list, err)
		}
		for _, id := range []string{"s1", "s2", "s3"} {
			s := issuer.Session{ID: id, UserID: "u1", RefreshSecret: []byte{1}, CreatedAt: now, RotatedAt: now,
				IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour)}
			if err := db.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		later := now.Add(time.Minute)
		if n, err := db.RevokeUserSessions(ctx, "u1", "s3", later, "signout_others"); err != nil || n != 2 {
			t.Fatalf("revoke: %d %v", n, err)
		}
		list, _ := db.SessionsByUser(ctx, "u1")
		if len(list) != 3 {
			t.Fatalf("SessionsByUser = %d sessions, want 3", len(list))
		}
		if n, err := db.DeleteEndedSessions(ctx, later.Add(time.Second)); err != nil || n != 2 {
			t.Fatalf("delete ended: %d %v", n, err)
		}
		sealer, _ := keys.NewSealer(make([]byte, 32))
		k, _ := keys.Generate(keys.EdDSA, 0, keys.StateActive, now, now, sealer)
		if err := db.UpdateKeys(ctx, func(tx keys.KeyTx) error {
			if err := tx.InsertKey(ctx, k); err != nil {
				return err
			}
			return tx.RecordKeyEvent(ctx, now, "key_created_active", k)
		}); err != nil {
			t.Fatal(err)
		}
		if ev, _ := db.Events(ctx, "key_created_active"); len(ev) != 1 {
			t.Fatalf("key events = %d, want 1", len(ev))
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

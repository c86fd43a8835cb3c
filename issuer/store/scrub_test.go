package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// sealedOf returns a key's sealed private part as stored.
func sealedOf(t *testing.T, db *store.DB, kid string) []byte {
	t.Helper()
	k := stateOf(t, db, kid)
	if len(k.PrivateKey) < 64 {
		t.Fatalf("key %s has no sealed private part", kid)
	}
	return k.PrivateKey
}

// atRest returns what a thief of the database's storage gets: the SQLite
// file and its write-ahead log, or the Postgres table's heap file once
// every buffer is flushed.
func atRest(t *testing.T, db *store.DB, sqlitePath string) []byte {
	t.Helper()
	ctx := context.Background()
	if db.Dialect() == store.SQLite {
		var out []byte
		for _, p := range []string{sqlitePath, sqlitePath + "-wal"} {
			b, err := os.ReadFile(p)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			out = append(out, b...)
		}
		return out
	}
	var file []byte
	_, err := db.SQL().ExecContext(ctx, `CHECKPOINT`)
	if err == nil {
		err = db.SQL().GetContext(ctx, &file, `SELECT pg_read_binary_file(pg_relation_filepath('signing_keys'))`)
	}
	if err != nil {
		// Reading the heap file takes a superuser (the test database's
		// default user is one).
		if os.Getenv("CI") == "true" {
			t.Fatalf("reading the signing_keys heap file: %v", err)
		}
		t.Skipf("cannot read the signing_keys heap file (needs a superuser): %v", err)
	}
	return file
}

// isolated opens a fresh, migrated store that no other test touches: on
// Postgres a throwaway database rather than a schema, since a snapshot
// held by any session of the database keeps old row versions alive.
func isolated(t *testing.T, dialect string) (db *store.DB, sqlitePath string) {
	t.Helper()
	ctx := context.Background()
	u := storetest.URL(t, dialect)
	if dialect == store.Postgres {
		admin, err := sql.Open("postgres", u)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		var b [6]byte
		_, _ = rand.Read(b[:])
		name := "signet_test_" + hex.EncodeToString(b[:])
		if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
			t.Fatalf("postgres: create database: %v", err)
		}
		t.Cleanup(func() {
			if c, err := sql.Open("postgres", u); err == nil {
				_, _ = c.Exec(`DROP DATABASE ` + name + ` WITH (FORCE)`)
				c.Close()
			}
		})
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		q := pu.Query()
		q.Del("search_path")
		pu.Path, pu.RawQuery = "/"+name, q.Encode()
		u = pu.String()
	}
	db, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.MigrateUp(); err != nil {
		t.Fatal(err)
	}
	return db, strings.TrimPrefix(u, "sqlite://")
}

// TestRevokedKeysLeaveNoTraceAtRest: after a revocation and after a
// removal, the sealed private key is nowhere in the database's files: at
// once, or on Postgres at the latest after the next key transaction, when
// a statement running at the time of the change kept the old row version
// through the first purge (see TestPurgeOutlivesOldSnapshots).
func TestRevokedKeysLeaveNoTraceAtRest(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db, path := isolated(t, dialect)
			if dialect == store.SQLite {
				// The keys below are written to the database file itself,
				// not only to the log, as they are on a long-running store.
				defer func() {
					if _, err := db.SQL().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
						t.Fatal(err)
					}
				}()
			}
			clk := &clock{t: time.Now().UTC()}
			rot := &keys.Rotator{Store: db, Sealer: testSealer(t), Policy: testPolicy(), Now: clk.Now}
			if _, err := rot.Pass(ctx); err != nil {
				t.Fatal(err)
			}
			a, err := rot.Rotate(ctx, keys.EdDSA, true) // a signs, the first key is retired
			if err != nil {
				t.Fatal(err)
			}
			next, err := rot.Rotate(ctx, keys.EdDSA, false)
			if err != nil {
				t.Fatal(err)
			}
			var retired string
			for _, k := range mustListKeys(t, db) {
				if k.State == keys.StateRetired {
					retired = k.KID
				}
			}
			if dialect == store.SQLite {
				if _, err := db.SQL().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
					t.Fatal(err)
				}
			}
			sealedNext, sealedRetired, sealedActive := sealedOf(t, db, next.KID), sealedOf(t, db, retired), sealedOf(t, db, a.KID)
			before := atRest(t, db, path)
			for _, s := range [][]byte{sealedNext, sealedRetired, sealedActive} {
				if !bytes.Contains(before, s) {
					t.Fatal("a stored key is not in the files: the search below would prove nothing")
				}
			}

			// gone reports whether sealed has left the files, giving
			// Postgres the next key transaction if need be.
			gone := func(sealed []byte) bool {
				t.Helper()
				if !bytes.Contains(atRest(t, db, path), sealed) {
					return true
				}
				if dialect == store.SQLite {
					return false
				}
				// A transaction of another test on the same server holds
				// the oldest snapshot back for a moment: the next key
				// transactions purge again.
				for range purgeAttempts {
					time.Sleep(200 * time.Millisecond)
					if _, err := rot.Pass(ctx); err != nil {
						t.Fatal(err)
					}
					if !bytes.Contains(atRest(t, db, path), sealed) {
						return true
					}
				}
				return false
			}
			if _, _, err := rot.Revoke(ctx, next.KID, false); err != nil {
				t.Fatal(err)
			}
			if !gone(sealedNext) {
				t.Error("the revoked key's sealed private part is still in the database's files")
			}
			clk.Advance(testPolicy().Retention())
			if _, err := rot.Pass(ctx); err != nil {
				t.Fatal(err)
			}
			if k := stateOf(t, db, retired); k.State != keys.StateRemoved {
				t.Fatalf("retired key is %s, want removed", k.State)
			}
			if !gone(sealedRetired) {
				t.Error("the removed key's sealed private part is still in the database's files")
			}
			if !bytes.Contains(atRest(t, db, path), sealedActive) {
				t.Error("the active key's sealed private part is gone too")
			}
		})
	}
}

func mustListKeys(t *testing.T, db *store.DB) []keys.Key {
	t.Helper()
	ks, err := db.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestPurgeOutlivesOldSnapshots: a Postgres transaction whose snapshot
// predates a revocation keeps the revoked key's old row version through
// the purge that follows the commit; the next key transaction (the next
// rotation pass) purges it once that transaction is over.
func TestPurgeOutlivesOldSnapshots(t *testing.T) {
	ctx := context.Background()
	db, _ := isolated(t, store.Postgres)
	rot := &keys.Rotator{Store: db, Sealer: testSealer(t), Policy: testPolicy()}
	if _, err := rot.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	next, err := rot.Rotate(ctx, keys.EdDSA, false)
	if err != nil {
		t.Fatal(err)
	}
	sealed := sealedOf(t, db, next.KID)

	// A transaction that reads another table: its snapshot holds the
	// row version, without a lock that would hold VACUUM FULL up.
	old, err := db.SQL().BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Rollback()
	var n int
	if err := old.GetContext(ctx, &n, `SELECT count(*) FROM users`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rot.Revoke(ctx, next.KID, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(atRest(t, db, ""), sealed) {
		t.Fatal("purged although an older snapshot could still see the row: the test below proves nothing")
	}
	if err := old.Rollback(); err != nil {
		t.Fatal(err)
	}
	purged := false
	for range purgeAttempts {
		if _, err := rot.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		if purged = !bytes.Contains(atRest(t, db, ""), sealed); purged {
			break
		}
		// Another test's transaction on the same server may hold the
		// oldest snapshot back for a moment.
		time.Sleep(200 * time.Millisecond)
	}
	if !purged {
		t.Fatal("the revoked key's sealed private part is still in the table's file after the next passes")
	}
}

// purgeAttempts is how many key transactions after a change purge old
// row versions again (store.purgeRetries).
const purgeAttempts = 5

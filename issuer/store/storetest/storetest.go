// Package storetest opens throwaway Signet databases for tests: a SQLite
// file in a temporary directory, and a fresh schema in the Postgres named by
// SIGNET_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
//
// When Postgres is unreachable the Postgres half of a test is skipped with a
// message, except under CI=true, where it fails: CI never skips silently.
// Without -v the message is also written once per package to the terminal
// (or stderr), since go test hides the output of a package that passes.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq" // registers the "postgres" driver

	"github.com/signet-auth/signet/issuer/store"
)

// DefaultPostgresURL is used when SIGNET_TEST_DATABASE_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Dialects lists the backends every store test runs against.
var Dialects = []string{store.SQLite, store.Postgres}

// ForEach runs fn as a subtest once per backend, each with a fresh,
// migrated database.
func ForEach(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

// Open returns a fresh, migrated database of the dialect.
func Open(t testing.TB, dialect string) *store.DB {
	t.Helper()
	u := URL(t, dialect)
	db, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatalf("open %s: %v", dialect, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.MigrateUp(); err != nil {
		t.Fatalf("migrate %s: %v", dialect, err)
	}
	return db
}

// URL returns the URL of a fresh, empty database of the dialect, removed
// when the test ends. Several Opens of one URL share the database (replicas).
func URL(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == store.SQLite {
		return "sqlite://" + filepath.Join(t.TempDir(), "signet.db")
	}
	base := os.Getenv("SIGNET_TEST_DATABASE_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		unavailable(t, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "signet_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("postgres: create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := sql.Open("postgres", base)
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
	})
	pu, err := url.Parse(base)
	if err != nil {
		t.Fatalf("SIGNET_TEST_DATABASE_URL: %v", err)
	}
	q := pu.Query()
	q.Set("search_path", schema)
	pu.RawQuery = q.Encode()
	return pu.String()
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("Postgres is required under CI=true but unreachable (SIGNET_TEST_DATABASE_URL): %v", err)
	}
	msg := fmt.Sprintf("Postgres unreachable, skipping its half of the test (set SIGNET_TEST_DATABASE_URL; under CI=true this fails): %v", err)
	announce.Do(func() { announceSkip(msg) })
	t.Skip(msg)
}

// announce makes the skip visible once per test binary.
var announce sync.Once

// announceSkip says, once per package, that the Postgres half is skipped.
// A skip's message shows only with -v, and "go test ./..." hides all the
// output of a package that passes, stderr included; so the notice goes to
// the terminal when there is one, else to stderr (logs, CI).
func announceSkip(msg string) {
	if testing.Verbose() {
		return // the skip's message is in the output already
	}
	var w io.Writer = os.Stderr
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		w = tty
	}
	fmt.Fprintf(w, "%s: %s\n", strings.TrimSuffix(filepath.Base(os.Args[0]), ".test"), msg)
}

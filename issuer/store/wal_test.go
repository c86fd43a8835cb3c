package store_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// openSQLite opens a fresh, migrated SQLite store and returns it with the
// path of its WAL file.
func openSQLite(t *testing.T, opts ...store.Option) (*store.DB, string) {
	t.Helper()
	u := storetest.URL(t, store.SQLite)
	db, err := store.Open(context.Background(), u, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.MigrateUp(); err != nil {
		t.Fatal(err)
	}
	return db, strings.TrimPrefix(u, "sqlite://") + "-wal"
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// writeMiB commits about n MiB in 8 KiB rows, one row a transaction.
func writeMiB(t *testing.T, db *store.DB, n int) {
	t.Helper()
	row := make([]byte, 8<<10)
	for range n * 128 {
		if _, err := db.SQL().Exec(`INSERT INTO storage_probe (pad) VALUES (?)`, row); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSQLiteWALStaysSmall: SQLite's write-ahead log is checkpointed and cut
// back as it grows, so writing 4 MiB leaves a WAL of about 1 MiB, not 4.
func TestSQLiteWALStaysSmall(t *testing.T) {
	db, wal := openSQLite(t)
	writeMiB(t, db, 4)
	if size := fileSize(t, wal); size > 3<<19 {
		t.Fatalf("WAL is %d bytes after writing 4 MiB, want at most 1.5 MiB", size)
	}
}

// TestCheckpointWAL: CheckpointWAL empties the WAL file; on Postgres it
// does nothing.
func TestCheckpointWAL(t *testing.T) {
	db, wal := openSQLite(t)
	writeMiB(t, db, 1)
	if fileSize(t, wal) == 0 {
		t.Fatal("nothing in the WAL to start with")
	}
	if err := db.CheckpointWAL(context.Background()); err != nil {
		t.Fatal(err)
	}
	if size := fileSize(t, wal); size != 0 {
		t.Fatalf("WAL is %d bytes after the checkpoint", size)
	}

	// A reader in the middle of a read keeps the checkpoint from finishing.
	short, _ := openSQLite(t, store.StatementTimeout(100*time.Millisecond))
	writeMiB(t, short, 1)
	rows, err := short.SQL().Query(`SELECT pad FROM storage_probe`)
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatal("no row")
	}
	if err := short.CheckpointWAL(context.Background()); !errors.Is(err, store.ErrCheckpointBusy) {
		t.Fatalf("checkpoint with a reader in the way: %v", err)
	}
	rows.Close()
	if err := short.CheckpointWAL(context.Background()); err != nil {
		t.Fatalf("checkpoint once the reader is done: %v", err)
	}

	pg := storetest.Open(t, store.Postgres)
	if err := pg.CheckpointWAL(context.Background()); err != nil {
		t.Fatalf("Postgres: %v", err)
	}
}

// TestCheckWritable: the readiness probe writes on a healthy database and
// fails, as unavailable, on a full one.
func TestCheckWritable(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		for range 3 {
			if err := db.CheckWritable(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	})

	// A SQLite database that cannot grow any more.
	u := storetest.URL(t, store.SQLite)
	var pages int
	func() {
		db, err := store.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.MigrateUp(); err != nil {
			t.Fatal(err)
		}
		if err := db.SQL().Get(&pages, `PRAGMA page_count`); err != nil {
			t.Fatal(err)
		}
	}()
	full, err := store.Open(context.Background(), u+"?_pragma=max_page_count("+strconv.Itoa(pages)+")")
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	if err := full.CheckWritable(context.Background()); !errors.Is(err, issuer.ErrUnavailable) {
		t.Fatalf("probe of a full database: %v", err)
	}
	if err := full.Ping(context.Background()); err != nil {
		t.Fatalf("a full database still answers: %v", err)
	}
}

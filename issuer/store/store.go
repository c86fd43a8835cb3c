// Package store is Signet's SQL storage over Postgres (lib/pq) and SQLite
// (modernc.org/sqlite, pure Go), with sqlx. It implements the stores that
// package issuer and package keys declare. Times are Unix milliseconds.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialects.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// DB is a connection pool to one Signet database.
type DB struct {
	db      *sqlx.DB
	dialect string
	dsn     string // as given to sql.Open
	// purgeLeft counts the key transactions that still purge cleared
	// private keys (see purgeOldVersions).
	purgeLeft atomic.Int32
}

// Open connects to url: postgres:// or postgresql:// for Postgres,
// sqlite:// or file: or a plain path for SQLite (the file and its folder
// are created if missing).
func Open(ctx context.Context, rawURL string) (*DB, error) {
	dialect, dsn, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if dialect == SQLite {
		path := strings.TrimPrefix(strings.SplitN(dsn, "?", 2)[0], "file:")
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("store: create data directory: %w", err)
			}
		}
		// The database holds password hashes: create it readable by the
		// owner only.
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
			f.Close()
		}
	}
	db, err := sqlx.Open(dialect, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	if dialect == Postgres {
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(32)
		db.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		// One writer at a time (BEGIN IMMEDIATE); WAL lets readers go on.
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(8)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", dialect, err)
	}
	return &DB{db: db, dialect: dialect, dsn: dsn}, nil
}

func parseURL(raw string) (dialect, dsn string, err error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil {
			return "", "", fmt.Errorf("store: invalid Postgres URL: %v", redactErr(err))
		}
		// Without binary_parameters, lib/pq sends every statement that has
		// parameters in two round trips (Parse+Describe, then Bind+Execute);
		// with it, in one. It also sends []byte as binary, which is what
		// the bytea columns hold. A URL that sets it keeps its choice.
		q := u.Query()
		if !q.Has("binary_parameters") {
			q.Set("binary_parameters", "yes")
			u.RawQuery = q.Encode()
		}
		return Postgres, u.String(), nil
	case strings.HasPrefix(raw, "sqlite://"):
		raw = strings.TrimPrefix(raw, "sqlite://")
	case strings.HasPrefix(raw, "sqlite:"):
		raw = strings.TrimPrefix(raw, "sqlite:")
	case strings.Contains(raw, "://"):
		return "", "", errors.New("store: unsupported database URL scheme (want postgres:// or sqlite://)")
	}
	raw = strings.TrimPrefix(raw, "file:")
	if raw == "" {
		return "", "", errors.New("store: empty SQLite path")
	}
	path, query, _ := strings.Cut(raw, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", "", fmt.Errorf("store: invalid SQLite options: %w", err)
	}
	// secure_delete: deleted content (a revoked key's sealed private part,
	// a session's sealed refresh secret) is zeroed rather than left in free
	// pages.
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)", "secure_delete(ON)"} {
		q.Add("_pragma", p)
	}
	// Every transaction takes the write lock at BEGIN, so read-decide-write
	// sequences (key rotation, refresh) are serialised across processes.
	q.Set("_txlock", "immediate")
	return SQLite, "file:" + path + "?" + q.Encode(), nil
}

// redactErr drops a URL (and any password in it) from a parse error.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Dialect is Postgres or SQLite.
func (d *DB) Dialect() string { return d.dialect }

// Close closes the pool.
func (d *DB) Close() error { return d.db.Close() }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// Stats reports the pool's statistics.
func (d *DB) Stats() sql.DBStats { return d.db.Stats() }

// SQL returns the underlying pool, for tests and tools.
func (d *DB) SQL() *sqlx.DB { return d.db }

// ms converts a time to the stored form; the zero time is stored as 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS converts a stored time back; 0 and NULL become the zero time.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func nullMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// isUniqueViolation reports a unique-constraint failure in either dialect.
func isUniqueViolation(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// inTx runs fn in a transaction, committing if fn returns nil.
func (d *DB) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := d.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

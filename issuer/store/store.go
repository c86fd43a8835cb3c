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
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/signet-auth/signet/issuer"
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
	timeout time.Duration
	// purgeLeft counts the key transactions that still purge cleared
	// private keys (see purgeOldVersions).
	purgeLeft atomic.Int32
	// spendStmt is SpendRefresh's statement, prepared on first use (see
	// prepared).
	spendStmt atomic.Pointer[sqlx.Stmt]
	// spends groups concurrent SpendRefresh calls on Postgres (nil on
	// SQLite, whose one writer gains nothing from it); spendBatchStmt is
	// the group's statement.
	spends         *spendBatcher
	spendBatchStmt atomic.Pointer[sqlx.Stmt]
	stmtMu         sync.Mutex
	// revocationLifetime is how long a revocation event stays live;
	// revoked wakes the feed's waiters.
	revocationLifetime time.Duration
	revoked            revocationSignal
}

// Open connects to rawURL (see ParseURL). An SQLite file and its folder are
// created if missing: callers that must not create a database check
// Target.Path first. Options: StatementTimeout.
func Open(ctx context.Context, rawURL string, opts ...Option) (*DB, error) {
	t, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	dialect, dsn := t.Dialect, t.dsn
	if dialect == SQLite {
		if dir := filepath.Dir(t.Path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("store: create data directory: %w", err)
			}
		}
		// The database holds password hashes: create it readable by the
		// owner only.
		if f, err := os.OpenFile(t.Path, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
			f.Close()
		}
	}
	o := newOptions(opts)
	db, err := openPool(dialect, dsn, o)
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
	d := &DB{db: db, dialect: dialect, dsn: dsn, timeout: o.clientTimeout(), revocationLifetime: o.revocationLifetime}
	if dialect == Postgres {
		d.spends = &spendBatcher{run: d.spendGroup}
	}
	return d, nil
}

// Target is where a database URL points.
type Target struct {
	// Dialect is Postgres or SQLite.
	Dialect string
	// Path is the SQLite file; empty for Postgres.
	Path string
	// Name is what a person would call the database: the Postgres
	// database name (empty when the URL names none), or the SQLite path.
	Name string
	dsn  string // as given to sql.Open
}

// ErrURL is wrapped by every error ParseURL returns.
var ErrURL = errors.New("store: unsupported database URL")

// AcceptedURLs describes the database URLs ParseURL accepts, for messages.
const AcceptedURLs = `postgres://USER@HOST:PORT/DB (or postgresql://), the libpq key=value form ("host=HOST user=USER dbname=DB"), or sqlite://PATH`

// ParseURL reads a database URL: postgres:// or postgresql:// and the
// libpq key=value form ("host=... dbname=...") select Postgres, sqlite://PATH
// an SQLite file. Anything else (a bare path, file:, another scheme) is
// refused, so that a mistyped Postgres setting never quietly becomes a
// new SQLite file. Errors never repeat the URL, which may hold a password.
func ParseURL(raw string) (Target, error) {
	raw = strings.TrimSpace(raw)
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil {
			return Target{}, fmt.Errorf("%w: invalid Postgres URL: %v", ErrURL, redactErr(err))
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
		return Target{Dialect: Postgres, Name: strings.TrimPrefix(u.Path, "/"), dsn: u.String()}, nil
	case strings.HasPrefix(raw, "sqlite://"):
		return sqliteTarget(strings.TrimPrefix(raw, "sqlite://"))
	case isKeyValueDSN(raw):
		cfg, err := pq.NewConfig(raw)
		if err != nil {
			// pq's message may quote part of a value (a password with a
			// space): name the form, not the text.
			return Target{}, fmt.Errorf("%w: not a valid libpq key=value connection string (key=value pairs separated by spaces; quote values that hold spaces)", ErrURL)
		}
		dsn := raw
		if !binaryParametersKey.MatchString(raw) {
			dsn += " binary_parameters=yes"
		}
		return Target{Dialect: Postgres, Name: cfg.Database, dsn: dsn}, nil
	case raw == "":
		return Target{}, fmt.Errorf("%w: empty", ErrURL)
	case strings.Contains(raw, "://"):
		return Target{}, fmt.Errorf("%w: unknown scheme (want %s)", ErrURL, AcceptedURLs)
	}
	return Target{}, fmt.Errorf("%w: neither a URL nor a key=value string (want %s)", ErrURL, AcceptedURLs)
}

// keyValueStart matches the start of a libpq key=value connection string.
var (
	keyValueStart       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\s*=`)
	binaryParametersKey = regexp.MustCompile(`(^|\s)binary_parameters\s*=`)
)

func isKeyValueDSN(s string) bool { return keyValueStart.MatchString(s) }

func sqliteTarget(raw string) (Target, error) {
	path, query, _ := strings.Cut(raw, "?")
	if path == "" {
		return Target{}, fmt.Errorf("%w: sqlite:// without a path (want sqlite://PATH, such as sqlite://./signet-data/signet.db)", ErrURL)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return Target{}, fmt.Errorf("%w: invalid SQLite options: %v", ErrURL, err)
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
	return Target{Dialect: SQLite, Path: path, Name: path, dsn: "file:" + path + "?" + q.Encode()}, nil
}

// redactErr drops a URL (and any password in it) from a parse error.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// ListUsersAfter returns up to limit users in creation order, starting
// after the user whose ID is after ("" starts at the first), and whether
// more follow: the CLI's paged listing. An unknown after gives
// issuer.ErrNotFound.
func (d *DB) ListUsersAfter(ctx context.Context, after string, limit int) ([]issuer.User, bool, error) {
	if limit < 1 {
		return nil, false, fmt.Errorf("store: list users: limit %d is not positive", limit)
	}
	var rows []userRow
	var err error
	if after == "" {
		err = d.db.SelectContext(ctx, &rows, d.db.Rebind(
			`SELECT `+userColumns+` FROM users ORDER BY created_at, id LIMIT ?`), limit+1)
	} else {
		var from int64
		if err := d.db.GetContext(ctx, &from, d.db.Rebind(`SELECT created_at FROM users WHERE id = ?`), after); errors.Is(err, sql.ErrNoRows) {
			return nil, false, issuer.ErrNotFound
		} else if err != nil {
			return nil, false, fmt.Errorf("store: list users: %w", err)
		}
		err = d.db.SelectContext(ctx, &rows, d.db.Rebind(
			`SELECT `+userColumns+` FROM users
			 WHERE created_at > ? OR (created_at = ? AND id > ?)
			 ORDER BY created_at, id LIMIT ?`), from, from, after, limit+1)
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: list users: %w", err)
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	out := make([]issuer.User, len(rows))
	for i, r := range rows {
		out[i] = r.user()
	}
	return out, more, nil
}

// Dialect is Postgres or SQLite.
func (d *DB) Dialect() string { return d.dialect }

// Close closes the pool.
func (d *DB) Close() error {
	for _, p := range []*atomic.Pointer[sqlx.Stmt]{&d.spendStmt, &d.spendBatchStmt} {
		if st := p.Load(); st != nil {
			st.Close()
		}
	}
	return d.db.Close()
}

// prepared returns the statement q, prepared the first time it is asked
// for and kept in *p. A prepared statement of database/sql is prepared
// again on each connection it runs on, so it survives reconnects and a
// database restart; on Postgres it is a named server-side statement,
// parsed and planned once per connection instead of at every call
// (lib/pq sends unnamed statements otherwise), and with binary_parameters
// each execution is one round trip. On SQLite it saves the compilation
// of the statement.
func (d *DB) prepared(ctx context.Context, p *atomic.Pointer[sqlx.Stmt], q string) (*sqlx.Stmt, error) {
	if st := p.Load(); st != nil {
		return st, nil
	}
	d.stmtMu.Lock()
	defer d.stmtMu.Unlock()
	if st := p.Load(); st != nil {
		return st, nil
	}
	st, err := d.db.PreparexContext(ctx, q)
	if err != nil {
		return nil, err
	}
	p.Store(st)
	return st, nil
}

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

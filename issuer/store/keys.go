package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/keys"
)

// keysChannel is the Postgres NOTIFY channel for key changes.
const keysChannel = "signet_keys"

// keysLockID is the advisory lock that serialises key updates on Postgres.
const keysLockID = 0x5167_6e65_744b // "SignetK"

type keyRow struct {
	KID         string        `db:"kid"`
	Alg         string        `db:"alg"`
	State       string        `db:"state"`
	PublicJWK   string        `db:"public_jwk"`
	PrivateKey  []byte        `db:"private_key"`
	CreatedAt   int64         `db:"created_at"`
	ActivatesAt int64         `db:"activates_at"`
	RetiresAt   sql.NullInt64 `db:"retires_at"`
	RemoveAt    sql.NullInt64 `db:"remove_at"`
	RemovedAt   sql.NullInt64 `db:"removed_at"`
	RevokedAt   sql.NullInt64 `db:"revoked_at"`
}

func (r keyRow) key() keys.Key {
	return keys.Key{
		KID: r.KID, Alg: r.Alg, State: keys.State(r.State), PublicJWK: r.PublicJWK, PrivateKey: r.PrivateKey,
		CreatedAt: fromMS(r.CreatedAt), ActivatesAt: fromMS(r.ActivatesAt),
		RetiresAt: fromMS(r.RetiresAt.Int64), RemoveAt: fromMS(r.RemoveAt.Int64),
		RemovedAt: fromMS(r.RemovedAt.Int64), RevokedAt: fromMS(r.RevokedAt.Int64),
	}
}

const keyColumns = `kid, alg, state, public_jwk, private_key, created_at, activates_at, retires_at, remove_at, removed_at, revoked_at`

func listKeys(ctx context.Context, q sqlx.QueryerContext) ([]keys.Key, error) {
	var rows []keyRow
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at, kid`); err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	out := make([]keys.Key, len(rows))
	for i, r := range rows {
		out[i] = r.key()
	}
	return out, nil
}

// ListKeys returns every stored key, oldest first.
func (d *DB) ListKeys(ctx context.Context) ([]keys.Key, error) { return listKeys(ctx, d.db) }

// UpdateKeys runs fn in a transaction that holds the key lock: an advisory
// lock on Postgres, the database write lock on SQLite. On Postgres a change
// notifies every replica. The transaction's Now is the database's clock,
// read once the lock is held, so that every replica times key changes by
// the same clock.
func (d *DB) UpdateKeys(ctx context.Context, fn func(tx keys.KeyTx) error) error {
	var kt *keyTx
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := d.lockKeys(ctx, tx); err != nil {
			return err
		}
		now, err := d.now(ctx, tx)
		if err != nil {
			return err
		}
		kt = &keyTx{tx: tx, now: now}
		if err := fn(kt); err != nil {
			return err
		}
		if kt.changed && d.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, '')`, keysChannel); err != nil {
				return fmt.Errorf("store: notify: %w", err)
			}
		}
		return nil
	})
	switch {
	case err != nil:
	case kt.scrubbed:
		d.purgeLeft.Store(purgeRetries)
		d.purgeOldVersions(ctx)
	case d.purgeLeft.Load() > 0:
		d.purgeLeft.Add(-1)
		d.purgeOldVersions(ctx)
	}
	return err
}

// purgeRetries is how many of the next key transactions purge again after
// a private key is cleared: a statement that started before the change
// keeps the old row version alive through the first purge.
const purgeRetries = 5

// lockKeys takes the key lock for the rest of tx: an advisory lock on
// Postgres; on SQLite every transaction holds the write lock already.
func (d *DB) lockKeys(ctx context.Context, tx *sqlx.Tx) error {
	if d.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, keysLockID); err != nil {
			return fmt.Errorf("store: key lock: %w", err)
		}
	}
	return nil
}

type keyTx struct {
	tx      *sqlx.Tx
	now     time.Time
	changed bool
	// scrubbed: a private key was overwritten, so old row versions are
	// worth purging once committed.
	scrubbed bool
}

func (t *keyTx) Now() time.Time { return t.now }

// Now reads the database's clock, to the millisecond. On Postgres it is
// the server's clock at the time of the call (clock_timestamp, not the
// transaction's start); on SQLite, which runs in this process, it is the
// clock of this machine, which every process sharing the file shares.
func (d *DB) Now(ctx context.Context) (time.Time, error) { return d.now(ctx, d.db) }

func (d *DB) now(ctx context.Context, q sqlx.QueryerContext) (time.Time, error) {
	query := `SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER)`
	if d.dialect == Postgres {
		query = `SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint`
	}
	var v int64
	if err := sqlx.GetContext(ctx, q, &v, query); err != nil {
		return time.Time{}, fmt.Errorf("store: read the database clock: %w", err)
	}
	return fromMS(v), nil
}

func (t *keyTx) ListKeys(ctx context.Context) ([]keys.Key, error) { return listKeys(ctx, t.tx) }

func (t *keyTx) InsertKey(ctx context.Context, k keys.Key) error {
	_, err := t.tx.ExecContext(ctx, t.tx.Rebind(`INSERT INTO signing_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		k.KID, k.Alg, string(k.State), k.PublicJWK, k.PrivateKey, ms(k.CreatedAt), ms(k.ActivatesAt),
		nullMS(k.RetiresAt), nullMS(k.RemoveAt), nullMS(k.RemovedAt), nullMS(k.RevokedAt))
	if err != nil {
		return fmt.Errorf("store: insert key: %w", err)
	}
	t.changed = true
	return nil
}

func (t *keyTx) UpdateKey(ctx context.Context, k keys.Key) error {
	if k.PrivateKey == nil {
		if err := t.scrub(ctx, k.KID); err != nil {
			return err
		}
	}
	res, err := t.tx.ExecContext(ctx, t.tx.Rebind(`UPDATE signing_keys SET state = ?, private_key = ?, activates_at = ?,
		retires_at = ?, remove_at = ?, removed_at = ?, revoked_at = ? WHERE kid = ?`),
		string(k.State), k.PrivateKey, ms(k.ActivatesAt), nullMS(k.RetiresAt), nullMS(k.RemoveAt),
		nullMS(k.RemovedAt), nullMS(k.RevokedAt), k.KID)
	if err != nil {
		return fmt.Errorf("store: update key: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("store: update key %s: %w", k.KID, keys.ErrNotFound)
	}
	t.changed = true
	return nil
}

// scrub overwrites a private key that is about to be cleared with random
// bytes of its length. SQLite rewrites a cell of the same size in place,
// so the bytes left in the page's free space once the column is cleared
// are the random ones (secure_delete, set on every connection, zeroes them
// too). On Postgres every UPDATE writes a new row version and the sealed
// key stays in the old one until VACUUM (see purgeOldVersions). Neither
// reaches copies in the write-ahead log, replicas or backups: the key is
// made unusable in the store, not destroyed everywhere.
func (t *keyTx) scrub(ctx context.Context, kid string) error {
	var n sql.NullInt64
	err := t.tx.GetContext(ctx, &n, t.tx.Rebind(`SELECT length(private_key) FROM signing_keys WHERE kid = ?`), kid)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (!n.Valid || n.Int64 == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: overwrite private key %s: %w", kid, err)
	}
	junk := make([]byte, n.Int64)
	_, _ = rand.Read(junk)
	if _, err := t.tx.ExecContext(ctx, t.tx.Rebind(`UPDATE signing_keys SET private_key = ? WHERE kid = ?`), junk, kid); err != nil {
		return fmt.Errorf("store: overwrite private key %s: %w", kid, err)
	}
	t.scrubbed = true
	return nil
}

// purgeOldVersions removes, best effort, what is left of private keys
// cleared by a committed transaction.
//
// On Postgres the old row versions hold the sealed key until VACUUM, and a
// plain VACUUM frees them without wiping them: their bytes stay in the
// page's free space. VACUUM FULL writes the table afresh and drops the old
// file. The table holds a few rows, so its exclusive lock lasts
// milliseconds, and lock_timeout keeps it from queueing readers behind a
// long transaction; it cannot run inside a transaction, hence after the
// commit. On SQLite a checkpoint copies the rewritten pages from the
// write-ahead log into the database file and truncates the log.
//
// Neither can reach a version that a running statement or transaction
// may still see (nor readers holding the log), so the purge runs again
// with the next key transactions (see purgeRetries); past those, old
// versions wait for the next clearing of a key, since autovacuum does not
// wipe free space.
func (d *DB) purgeOldVersions(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if d.dialect == SQLite {
		_, _ = d.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
		return
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET lock_timeout = '2s'`); err != nil {
		return
	}
	_, _ = conn.ExecContext(ctx, `VACUUM FULL signing_keys`)
	if _, err := conn.ExecContext(ctx, `RESET lock_timeout`); err != nil {
		// Never hand the setting back to the pool.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

func (t *keyTx) RecordKeyEvent(ctx context.Context, at time.Time, event string, k keys.Key) error {
	return recordEvent(ctx, t.tx, issuer.AuditEvent{
		At: at, Type: event,
		Detail: map[string]string{"kid": k.KID, "alg": k.Alg, "state": string(k.State)},
	})
}

// WatchKeys delivers a value whenever another process changes the keys
// (Postgres only: on SQLite it returns a nil channel), and after each reconnect, since notifications may have
// been missed while disconnected.
func (d *DB) WatchKeys(ctx context.Context) (<-chan struct{}, error) {
	if d.dialect != Postgres {
		return nil, nil // SQLite: replicas rely on the reload interval
	}
	l := pq.NewListener(d.dsn, 100*time.Millisecond, 10*time.Second, nil)
	if err := l.Listen(keysChannel); err != nil {
		l.Close()
		return nil, fmt.Errorf("store: listen: %w", err)
	}
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		defer l.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.Notify: // nil after a reconnect: reload too
			case <-time.After(90 * time.Second):
				go l.Ping()
				continue
			}
			select {
			case out <- struct{}{}:
			default: // a reload is already pending
			}
		}
	}()
	return out, nil
}

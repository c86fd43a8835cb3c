package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/jmoiron/sqlx"
)

// SigninBlockedUntil returns the latest blocked_until among keys.
func (d *DB) SigninBlockedUntil(ctx context.Context, keys []string) (time.Time, error) {
	if len(keys) == 0 {
		return time.Time{}, nil
	}
	q, args, err := sqlx.In(`SELECT MAX(blocked_until) FROM signin_throttle WHERE key IN (?)`, keys)
	if err != nil {
		return time.Time{}, storeErr("signin throttle", err)
	}
	var until sql.NullInt64
	if err := d.db.GetContext(ctx, &until, d.db.Rebind(q), args...); err != nil {
		return time.Time{}, storeErr("signin throttle", err)
	}
	return fromMS(until.Int64), nil
}

// RecordSigninFailure counts a failure with one upsert (Postgres, and
// SQLite 3.24 and later) and returns the new count. A count whose last
// failure is older than resetBefore starts over at 1.
func (d *DB) RecordSigninFailure(ctx context.Context, key string, at, resetBefore time.Time) (int, error) {
	var n int
	err := d.db.GetContext(ctx, &n, d.db.Rebind(`INSERT INTO signin_throttle AS t (key, failures, last_failure_at, blocked_until)
		VALUES (?, 1, ?, 0)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN t.last_failure_at < ? THEN 1 ELSE t.failures + 1 END,
			blocked_until = CASE WHEN t.last_failure_at < ? THEN 0 ELSE t.blocked_until END,
			last_failure_at = ?
		RETURNING failures`), key, ms(at), ms(resetBefore), ms(resetBefore), ms(at))
	if err != nil {
		return 0, storeErr("record signin failure", err)
	}
	return n, nil
}

// BlockSignin raises key's blocked_until to until. Racing failures may
// arrive out of order, so it never lowers the value.
func (d *DB) BlockSignin(ctx context.Context, key string, until time.Time) error {
	u := ms(until)
	_, err := d.db.ExecContext(ctx, d.db.Rebind(`UPDATE signin_throttle
		SET blocked_until = CASE WHEN blocked_until < ? THEN ? ELSE blocked_until END WHERE key = ?`), u, u, key)
	if err != nil {
		return storeErr("block signin", err)
	}
	return nil
}

// ClearSigninFailures forgets key's failures.
func (d *DB) ClearSigninFailures(ctx context.Context, key string) error {
	if _, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM signin_throttle WHERE key = ?`), key); err != nil {
		return storeErr("clear signin failures", err)
	}
	return nil
}

// DeleteStaleSigninFailures removes counters whose last failure is older
// than before and which block nothing any more.
func (d *DB) DeleteStaleSigninFailures(ctx context.Context, before, now time.Time) (int64, error) {
	res, err := d.db.ExecContext(ctx, d.db.Rebind(
		`DELETE FROM signin_throttle WHERE last_failure_at < ? AND blocked_until <= ?`), ms(before), ms(now))
	if err != nil {
		return 0, storeErr("delete stale signin failures", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

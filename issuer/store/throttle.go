package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// named runs a query with :name parameters (repeated ones included) in
// either dialect.
func (d *DB) named(query string, arg map[string]any) (string, []any, error) {
	q, args, err := sqlx.Named(query, arg)
	if err != nil {
		return "", nil, err
	}
	return d.db.Rebind(q), args, nil
}

// reserveSigninSQL takes a reservation with one upsert, so that the check
// and the count are one atomic step on every replica. Effective values:
// a count whose last failure is before :reset is zero and blocks nothing;
// reservations whose lease ended before :now are gone (a replica died
// mid-check). It is granted while the key is not blocked, and either the
// failures and reservations in flight are fewer than :free (none of them
// can start a block) or no reservation is in flight (this attempt may
// start one: one at a time). Refused, it returns no row.
const reserveSigninSQL = `INSERT INTO signin_throttle AS t (key, failures, last_failure_at, blocked_until, inflight, inflight_until)
	VALUES (:key, 0, 0, 0, 1, :lease)
	ON CONFLICT (key) DO UPDATE SET
		failures = CASE WHEN t.last_failure_at < :reset THEN 0 ELSE t.failures END,
		blocked_until = CASE WHEN t.last_failure_at < :reset THEN 0 ELSE t.blocked_until END,
		inflight = CASE WHEN t.inflight_until <= :now OR t.inflight < 0 THEN 1 ELSE t.inflight + 1 END,
		inflight_until = :lease
	WHERE (CASE WHEN t.last_failure_at < :reset THEN 0 ELSE t.blocked_until END) <= :now
		AND (t.inflight_until <= :now OR t.inflight <= 0
			OR (CASE WHEN t.last_failure_at < :reset THEN 0 ELSE t.failures END) + t.inflight < :free)
	RETURNING failures`

// ReserveSignin reserves one password check on key (see
// issuer.ThrottleStore). Refused, it returns the key's blocked_until,
// which is not after now when the refusal is for an attempt in flight.
func (d *DB) ReserveSignin(ctx context.Context, key string, now, resetBefore, leaseUntil time.Time, free int) (bool, time.Time, error) {
	q, args, err := d.named(reserveSigninSQL, map[string]any{
		"key": key, "now": ms(now), "reset": ms(resetBefore), "lease": ms(leaseUntil), "free": free,
	})
	if err != nil {
		return false, time.Time{}, storeErr("reserve signin", err)
	}
	var n int
	err = d.db.GetContext(ctx, &n, q, args...)
	switch {
	case err == nil:
		return true, time.Time{}, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, time.Time{}, storeErr("reserve signin", err)
	}
	var until int64
	err = d.db.GetContext(ctx, &until, d.db.Rebind(`SELECT blocked_until FROM signin_throttle WHERE key = ?`), key)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, time.Time{}, storeErr("reserve signin", err)
	}
	return false, fromMS(until), nil
}

// FailSignin ends a reservation with a failure: it counts the failure
// (starting over when the previous one is before resetBefore) and, when
// delay(count) is positive, blocks key until at+delay, never lowering a
// block. One transaction, so no reservation can slip in between the
// count and the block.
func (d *DB) FailSignin(ctx context.Context, key string, at, resetBefore time.Time, delay func(n int) time.Duration) (int, time.Time, error) {
	var n int
	var until time.Time
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		q, args, err := d.named(`INSERT INTO signin_throttle AS t (key, failures, last_failure_at, blocked_until, inflight, inflight_until)
			VALUES (:key, 1, :at, 0, 0, 0)
			ON CONFLICT (key) DO UPDATE SET
				failures = CASE WHEN t.last_failure_at < :reset THEN 1 ELSE t.failures + 1 END,
				blocked_until = CASE WHEN t.last_failure_at < :reset THEN 0 ELSE t.blocked_until END,
				last_failure_at = :at,
				inflight = CASE WHEN t.inflight > 0 THEN t.inflight - 1 ELSE 0 END
			RETURNING failures`, map[string]any{"key": key, "at": ms(at), "reset": ms(resetBefore)})
		if err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &n, q, args...); err != nil {
			return err
		}
		wait := delay(n)
		if wait <= 0 {
			return nil
		}
		until = at.Add(wait)
		u := ms(until)
		_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE signin_throttle
			SET blocked_until = CASE WHEN blocked_until < ? THEN ? ELSE blocked_until END WHERE key = ?`), u, u, key)
		return err
	})
	if err != nil {
		return 0, time.Time{}, storeErr("fail signin", err)
	}
	return n, until, nil
}

// ReleaseSignin ends a reservation without a failure.
func (d *DB) ReleaseSignin(ctx context.Context, key string) error {
	_, err := d.db.ExecContext(ctx, d.db.Rebind(`UPDATE signin_throttle
		SET inflight = CASE WHEN inflight > 0 THEN inflight - 1 ELSE 0 END WHERE key = ?`), key)
	if err != nil {
		return storeErr("release signin", err)
	}
	return nil
}

// ClearSigninFailures forgets key's failures and reservations.
func (d *DB) ClearSigninFailures(ctx context.Context, key string) error {
	if _, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM signin_throttle WHERE key = ?`), key); err != nil {
		return storeErr("clear signin failures", err)
	}
	return nil
}

// DeleteStaleSigninFailures removes counters whose last failure is older
// than before and which block nothing and hold no reservation any more.
func (d *DB) DeleteStaleSigninFailures(ctx context.Context, before, now time.Time) (int64, error) {
	res, err := d.db.ExecContext(ctx, d.db.Rebind(
		`DELETE FROM signin_throttle WHERE last_failure_at < ? AND blocked_until <= ? AND inflight_until <= ?`), ms(before), ms(now), ms(now))
	if err != nil {
		return 0, storeErr("delete stale signin failures", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/signet-auth/signet/issuer"
)

// revocationsChannel is the Postgres NOTIFY channel for new revocation
// events.
const revocationsChannel = "signet_revocations"

// revocationsLockID is the advisory lock that orders revocation events on
// Postgres: held from the insert to the commit, it makes seq order commit
// order, so a feed reader that has seen seq n never later meets a smaller
// one.
const revocationsLockID = 0x5167_6e65_7452 // "SignetR"

// DefaultRevocationLifetime is how long a revocation event stays live
// unless Open is given RevocationLifetime: the default access-token
// lifetime (15 minutes) plus the default clock leeway (30 seconds).
const DefaultRevocationLifetime = 15*time.Minute + 30*time.Second

// RevocationLifetime is how long a revocation event stays live: the
// longest access-token lifetime plus the verifiers' clock leeway, so that
// an event outlives every access token the revoked session or subject
// could have been issued. Default DefaultRevocationLifetime.
func RevocationLifetime(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.revocationLifetime = d
		}
	}
}

// revocationSignal wakes the feed's waiters: ch is closed and replaced at
// each change.
type revocationSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *revocationSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *revocationSignal) bump() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// RevocationsChanged returns a channel closed at the next revocation
// this process commits or, on Postgres while ListenRevocations runs, that
// another replica commits.
func (d *DB) RevocationsChanged() <-chan struct{} { return d.revoked.wait() }

// recordRevocations writes one event per id in tx, which must commit for
// the events to count; the caller bumps d.revoked after the commit.
func (d *DB) recordRevocations(ctx context.Context, tx *sqlx.Tx, kind issuer.RevocationKind, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if d.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, revocationsLockID); err != nil {
			return storeErr("record revocation", err)
		}
	}
	exp := ms(at.Add(d.revocationLifetime))
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO revocation_events (kind, subject, revoked_at, expires_at)
			VALUES (?, ?, ?, ?)`), string(kind), id, ms(at), exp); err != nil {
			return storeErr("record revocation", err)
		}
	}
	if d.dialect == Postgres {
		// Delivered at commit, to every listening replica.
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, '')`, revocationsChannel); err != nil {
			return storeErr("record revocation", err)
		}
	}
	return nil
}

// revokeIDs collects the ids an UPDATE ... RETURNING id gives back.
func revokeIDs(ctx context.Context, tx *sqlx.Tx, query string, args ...any) ([]string, error) {
	var ids []string
	if err := tx.SelectContext(ctx, &ids, tx.Rebind(query), args...); err != nil {
		return nil, err
	}
	return ids, nil
}

// RevocationsAfter returns up to limit live events after the cursor.
func (d *DB) RevocationsAfter(ctx context.Context, after int64, now time.Time, limit int) ([]issuer.RevocationEvent, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	var rows []struct {
		Seq       int64  `db:"seq"`
		Kind      string `db:"kind"`
		Subject   string `db:"subject"`
		RevokedAt int64  `db:"revoked_at"`
		ExpiresAt int64  `db:"expires_at"`
	}
	if err := d.db.SelectContext(ctx, &rows, d.db.Rebind(`SELECT seq, kind, subject, revoked_at, expires_at
		FROM revocation_events WHERE seq > ? AND expires_at > ? ORDER BY seq LIMIT ?`), after, ms(now), limit); err != nil {
		return nil, storeErr("list revocations", err)
	}
	out := make([]issuer.RevocationEvent, len(rows))
	for i, r := range rows {
		out[i] = issuer.RevocationEvent{Seq: r.Seq, Kind: issuer.RevocationKind(r.Kind), Subject: r.Subject,
			RevokedAt: fromMS(r.RevokedAt), ExpiresAt: fromMS(r.ExpiresAt)}
	}
	return out, nil
}

// RevocationSalt returns the feed salt, creating it on first use; every
// replica reads the same row.
func (d *DB) RevocationSalt(ctx context.Context) ([]byte, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	var salt []byte
	err := d.db.GetContext(ctx, &salt, `SELECT salt FROM revocation_feed WHERE id = 1`)
	if err == nil {
		return salt, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, storeErr("read revocation salt", err)
	}
	fresh := make([]byte, 16)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("store: revocation salt: %w", err)
	}
	if _, err := d.db.ExecContext(ctx, d.db.Rebind(`INSERT INTO revocation_feed (id, salt) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`), fresh); err != nil {
		return nil, storeErr("create revocation salt", err)
	}
	if err := d.db.GetContext(ctx, &salt, `SELECT salt FROM revocation_feed WHERE id = 1`); err != nil {
		return nil, storeErr("read revocation salt", err)
	}
	return salt, nil
}

// DeleteExpiredRevocations removes events no longer live at before (the
// janitor's sweep) and returns how many it removed.
func (d *DB) DeleteExpiredRevocations(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for range deleteBatches {
		res, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM revocation_events WHERE seq IN (
			SELECT seq FROM revocation_events WHERE expires_at <= ? LIMIT ?)`), ms(before), deleteBatchSize)
		if err != nil {
			return total, storeErr("delete expired revocations", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < deleteBatchSize {
			break
		}
	}
	return total, nil
}

// ListenRevocations wakes RevocationsChanged waiters when another replica
// commits a revocation (Postgres NOTIFY), and after each reconnect, since
// notifications may have been missed meanwhile. It returns at once on
// SQLite, where one process writes; the listener stops with ctx.
func (d *DB) ListenRevocations(ctx context.Context) error {
	if d.dialect != Postgres {
		return nil
	}
	l := pq.NewListener(d.dsn, 100*time.Millisecond, 10*time.Second, nil)
	if err := l.Listen(revocationsChannel); err != nil {
		l.Close()
		return fmt.Errorf("store: listen: %w", err)
	}
	go func() {
		defer l.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.Notify: // nil after a reconnect: wake too
				d.revoked.bump()
			case <-time.After(90 * time.Second):
				go l.Ping()
			}
		}
	}()
	return nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/signet-auth/signet/issuer"
)

type sessionRow struct {
	ID                string         `db:"id"`
	UserID            string         `db:"user_id"`
	RefreshSecret     []byte         `db:"refresh_secret"`
	RefreshCounter    int64          `db:"refresh_counter"`
	RotatedAt         int64          `db:"rotated_at"`
	CreatedAt         int64          `db:"created_at"`
	IdleExpiresAt     int64          `db:"idle_expires_at"`
	AbsoluteExpiresAt int64          `db:"absolute_expires_at"`
	RevokedAt         sql.NullInt64  `db:"revoked_at"`
	RevokedReason     sql.NullString `db:"revoked_reason"`
	UserAgent         string         `db:"user_agent"`
	IP                string         `db:"ip"`
	ReissuedCounter   int64          `db:"reissued_counter"`
}

func (r sessionRow) session() issuer.Session {
	secret := r.RefreshSecret
	if len(secret) == 0 {
		secret = nil // a session with no secret of its own
	}
	return issuer.Session{
		ID: r.ID, UserID: r.UserID, RefreshSecret: secret, RefreshCounter: uint64(r.RefreshCounter),
		RotatedAt: fromMS(r.RotatedAt), CreatedAt: fromMS(r.CreatedAt),
		IdleExpiresAt: fromMS(r.IdleExpiresAt), AbsoluteExpiresAt: fromMS(r.AbsoluteExpiresAt),
		RevokedAt: fromMS(r.RevokedAt.Int64), RevokedReason: r.RevokedReason.String,
		UserAgent: r.UserAgent, IP: r.IP, ReissuedCounter: uint64(r.ReissuedCounter),
	}
}

const sessionColumns = `s.id, s.user_id, s.refresh_secret, s.refresh_counter, s.rotated_at, s.created_at,
	s.idle_expires_at, s.absolute_expires_at, s.revoked_at, s.revoked_reason, s.user_agent, s.ip, s.reissued_counter`

// CreateSession inserts a session if its user exists and is not
// disabled (issuer.ErrUserDisabled otherwise), in one statement. On
// Postgres it reads the user row FOR SHARE: a disabling that is
// committing holds that row, so the insert waits for it and then sees the
// user disabled; a disabling that comes later waits for the insert and
// then revokes the new session with the others.
func (d *DB) CreateSession(ctx context.Context, s issuer.Session) error {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	if s.RefreshCounter > math.MaxInt64 {
		return errors.New("store: create session: counter out of range")
	}
	secret := s.RefreshSecret
	if secret == nil {
		secret = []byte{} // no per-session secret (the column predates that)
	}
	res, err := d.db.ExecContext(ctx, createSessionSQL[d.dialect],
		s.ID, s.UserID, secret, int64(s.RefreshCounter), ms(s.RotatedAt), ms(s.CreatedAt),
		ms(s.IdleExpiresAt), ms(s.AbsoluteExpiresAt), s.UserAgent, s.IP)
	if err != nil {
		return storeErr("create session", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return storeErr("create session", err)
	} else if n == 0 {
		return issuer.ErrUserDisabled
	}
	return nil
}

// createSessionSQL is CreateSession's statement per dialect. Postgres
// types the parameters of a SELECT list as text unless told, hence the
// casts. SQLite has one writer at a time, so its check and insert cannot
// interleave with a disabling.
var createSessionSQL = map[string]string{
	Postgres: `INSERT INTO sessions
		(id, user_id, refresh_secret, refresh_counter, rotated_at, created_at, idle_expires_at, absolute_expires_at, user_agent, ip)
		SELECT $1::text, u.id, $3::bytea, $4::bigint, $5::bigint, $6::bigint, $7::bigint, $8::bigint, $9::text, $10::text
		FROM users AS u WHERE u.id = $2::text AND u.disabled_at IS NULL FOR SHARE`,
	SQLite: `INSERT INTO sessions
		(id, user_id, refresh_secret, refresh_counter, rotated_at, created_at, idle_expires_at, absolute_expires_at, user_agent, ip)
		SELECT ?1, u.id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
		FROM users AS u WHERE u.id = ?2 AND u.disabled_at IS NULL`,
}

// SessionWithUser returns a session and its user in one query.
func (d *DB) SessionWithUser(ctx context.Context, id string) (issuer.Session, issuer.User, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	var r struct {
		sessionRow
		UEmail     string        `db:"u_email"`
		UHash      string        `db:"u_password_hash"`
		UCreatedAt int64         `db:"u_created_at"`
		UVerified  bool          `db:"u_email_verified"`
		UDisabled  sql.NullInt64 `db:"u_disabled_at"`
	}
	err := d.db.GetContext(ctx, &r, d.db.Rebind(`SELECT `+sessionColumns+`,
		u.email AS u_email, u.password_hash AS u_password_hash, u.created_at AS u_created_at,
		u.email_verified_at IS NOT NULL AS u_email_verified, u.disabled_at AS u_disabled_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`), id)
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.Session{}, issuer.User{}, issuer.ErrNotFound
	}
	if err != nil {
		return issuer.Session{}, issuer.User{}, storeErr("get session", err)
	}
	u := issuer.User{ID: r.UserID, Email: r.UEmail, PasswordHash: r.UHash, CreatedAt: fromMS(r.UCreatedAt), EmailVerified: r.UVerified,
		DisabledAt: fromMS(r.UDisabled.Int64)}
	return r.session(), u, nil
}

// RotateRefresh is a compare-and-swap on the refresh counter: one
// statement, so it is atomic on both stores without a transaction.
func (d *DB) RotateRefresh(ctx context.Context, id string, from uint64, at, idleExpiresAt time.Time) (bool, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	if from >= math.MaxInt64 {
		return false, nil
	}
	res, err := d.db.ExecContext(ctx, d.db.Rebind(`UPDATE sessions
		SET refresh_counter = ?, rotated_at = ?, idle_expires_at = ?
		WHERE id = ? AND refresh_counter = ? AND revoked_at IS NULL`),
		int64(from)+1, ms(at), ms(idleExpiresAt), id, int64(from))
	if err != nil {
		return false, storeErr("rotate refresh token", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, storeErr("rotate refresh token", err)
	}
	return n == 1, nil
}

// ReissueRefresh marks the current token of a live session as handed out
// again, if the counter is still `counter`: one statement, like the
// rotation it must not cross.
func (d *DB) ReissueRefresh(ctx context.Context, id string, counter uint64) (bool, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	if counter > math.MaxInt64 {
		return false, nil
	}
	res, err := d.db.ExecContext(ctx, d.db.Rebind(`UPDATE sessions SET reissued_counter = ?
		WHERE id = ? AND refresh_counter = ? AND revoked_at IS NULL`),
		int64(counter), id, int64(counter))
	if err != nil {
		return false, storeErr("reissue refresh token", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, storeErr("reissue refresh token", err)
	}
	return n == 1, nil
}

// RevokeSession revokes a live session and records the revocation
// event in the same transaction.
func (d *DB) RevokeSession(ctx context.Context, id string, at time.Time, reason string) (bool, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	var ids []string
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		ids, err = revokeIDs(ctx, tx,
			`UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL RETURNING id`,
			ms(at), reason, id)
		if err != nil {
			return storeErr("revoke session", err)
		}
		return d.recordRevocations(ctx, tx, issuer.RevokedSession, ids, at)
	})
	if err != nil {
		return false, err
	}
	if len(ids) > 0 {
		d.revoked.bump()
	}
	return len(ids) == 1, nil
}

// RevokeUserSessions revokes a user's live sessions, but `except`, and
// records a revocation event for each in the same transaction.
func (d *DB) RevokeUserSessions(ctx context.Context, userID, except string, at time.Time, reason string) (int64, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	var n int64
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		n, err = revokeUserSessions(ctx, d, tx, userID, except, at, reason)
		return err
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		d.revoked.bump()
	}
	return n, nil
}

func revokeUserSessions(ctx context.Context, d *DB, tx *sqlx.Tx, userID, except string, at time.Time, reason string) (int64, error) {
	ids, err := revokeIDs(ctx, tx,
		`UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND id <> ? AND revoked_at IS NULL RETURNING id`,
		ms(at), reason, userID, except)
	if err != nil {
		return 0, storeErr("revoke sessions", err)
	}
	if err := d.recordRevocations(ctx, tx, issuer.RevokedSession, ids, at); err != nil {
		return 0, err
	}
	// The browser sessions of the issuer's pages end too, also when one
	// session is kept (a password change, sign-out of the others): a
	// browser session mints new sessions at /oauth/authorize, so one left
	// alive would undo the revocation. None of them is the kept session.
	if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM browser_sessions WHERE user_id = ?`), userID); err != nil {
		return 0, storeErr("end browser sessions", err)
	}
	return int64(len(ids)), nil
}

// SessionsByUser lists a user's sessions, oldest first, for tools and tests.
func (d *DB) SessionsByUser(ctx context.Context, userID string) ([]issuer.Session, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	var rows []sessionRow
	if err := d.db.SelectContext(ctx, &rows, d.db.Rebind(`SELECT `+sessionColumns+`
		FROM sessions s WHERE s.user_id = ? ORDER BY s.created_at, s.id`), userID); err != nil {
		return nil, storeErr("list sessions", err)
	}
	out := make([]issuer.Session, len(rows))
	for i, r := range rows {
		out[i] = r.session()
	}
	return out, nil
}

// DeleteEndedSessions removes sessions that expired or were revoked
// before `before`, and returns how many it removed. It deletes in
// batches, each one statement, so that a backlog never runs into the
// statement timeout; one call deletes at most deleteBatches batches, and
// the next sweep goes on.
func (d *DB) DeleteEndedSessions(ctx context.Context, before time.Time) (int64, error) {
	b := ms(before)
	var total int64
	for range deleteBatches {
		res, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM sessions WHERE id IN (
			SELECT id FROM sessions WHERE idle_expires_at < ? OR absolute_expires_at < ? OR revoked_at < ? LIMIT ?)`),
			b, b, b, deleteBatchSize)
		if err != nil {
			return total, storeErr("delete ended sessions", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < deleteBatchSize {
			break
		}
	}
	return total, nil
}

// Batches of the janitor's deletes.
const (
	deleteBatchSize = 1000
	deleteBatches   = 1000
)

// SpendRefresh is the common path of a refresh in one statement: if the
// session is live, neither idle nor past its maximum age at `at`, and its
// counter is still `from`, it moves the counter to from+1, sets rotated_at
// to `at` and the idle expiry to idleExpiresAt (never past the absolute
// expiry), and returns the session as updated (without its sealed secret)
// with its user and the user's roles, sorted. A session whose user is
// disabled is not spent. false when any condition
// fails: the caller then reads the session to find out why. The statement
// is prepared (see prepared), and its row is scanned into plain variables
// (no reflection: this is the hot path). On Postgres, concurrent calls are
// spent in groups of one statement each (see spendBatcher).
func (d *DB) SpendRefresh(ctx context.Context, id string, from uint64, at, idleExpiresAt time.Time) (issuer.Session, issuer.User, []string, bool, error) {
	if from >= math.MaxInt64 {
		return issuer.Session{}, issuer.User{}, nil, false, nil
	}
	var (
		r   spendRow
		won bool
		err error
	)
	if d.spends != nil {
		c := &spendCall{id: id, from: int64(from), at: ms(at), idle: ms(idleExpiresAt)}
		d.spends.spend(c)
		r, won, err = c.row, c.won, c.err
	}
	if d.spends == nil || errors.Is(err, errSpendAlone) {
		ctx, cancel := d.callContext(ctx)
		defer cancel()
		r, won, err = d.spendOne(ctx, id, int64(from), ms(at), ms(idleExpiresAt))
	}
	if err != nil || !won {
		return issuer.Session{}, issuer.User{}, nil, false, err
	}
	sess := issuer.Session{
		ID: id, UserID: r.userID, RefreshCounter: uint64(r.counter),
		RotatedAt: fromMS(r.rotated), CreatedAt: fromMS(r.created),
		IdleExpiresAt: fromMS(r.idle), AbsoluteExpiresAt: fromMS(r.abs),
		UserAgent: r.userAgent, IP: r.ip, ReissuedCounter: uint64(r.reissued),
	}
	u := issuer.User{ID: r.userID, Email: r.email, CreatedAt: fromMS(r.uAt), EmailVerified: r.verified}
	return sess, u, splitRoles(r.roles), true, nil
}

// spendOne runs spendRefreshSQL for one session.
func (d *DB) spendOne(ctx context.Context, id string, from, at, idle int64) (spendRow, bool, error) {
	var r spendRow
	st, err := d.prepared(ctx, &d.spendStmt, spendRefreshSQL[d.dialect])
	if err != nil {
		return r, false, storeErr("prepare spend refresh token", err)
	}
	err = st.QueryRowContext(ctx, id, from, at, idle).Scan(
		&r.userID, &r.counter, &r.rotated, &r.created, &r.idle, &r.abs, &r.userAgent, &r.ip, &r.reissued,
		&r.email, &r.uAt, &r.verified, &r.roles)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, storeErr("spend refresh token", err)
	}
	return r, true, nil
}

// splitRoles reads the roles column of spendRefreshSQL: names joined by
// spaces (a role name has none), NULL when the user has none.
func splitRoles(v sql.NullString) []string {
	if !v.Valid || v.String == "" {
		return []string{}
	}
	roles := strings.Fields(v.String)
	slices.Sort(roles)
	return roles
}

// spendRefreshSQL is SpendRefresh's statement per dialect ($1 id, $2 the
// counter, $3 now, $4 the new idle expiry; ?N on SQLite). SQLite allows no
// joined table in RETURNING, so it reads the user's columns through
// subqueries. The user's roles come in the same statement, so that the
// access token's roles claim costs no second round trip.
var spendRefreshSQL = map[string]string{
	Postgres: `UPDATE sessions AS s
		SET refresh_counter = s.refresh_counter + 1, rotated_at = $3, idle_expires_at = LEAST($4, s.absolute_expires_at)
		FROM users AS u
		WHERE s.id = $1 AND s.refresh_counter = $2 AND s.revoked_at IS NULL
		  AND s.idle_expires_at > $3 AND s.absolute_expires_at > $3 AND u.id = s.user_id AND u.disabled_at IS NULL
		RETURNING s.user_id, s.refresh_counter, s.rotated_at, s.created_at, s.idle_expires_at,
		  s.absolute_expires_at, s.user_agent, s.ip, s.reissued_counter,
		  u.email, u.created_at, u.email_verified_at IS NOT NULL,
		  (SELECT string_agg(r.role, ' ') FROM user_roles AS r WHERE r.user_id = s.user_id)`,
	SQLite: `UPDATE sessions
		SET refresh_counter = refresh_counter + 1, rotated_at = ?3, idle_expires_at = MIN(?4, absolute_expires_at)
		WHERE id = ?1 AND refresh_counter = ?2 AND revoked_at IS NULL
		  AND idle_expires_at > ?3 AND absolute_expires_at > ?3
		  AND NOT EXISTS (SELECT 1 FROM users AS u WHERE u.id = sessions.user_id AND u.disabled_at IS NOT NULL)
		RETURNING user_id, refresh_counter, rotated_at, created_at, idle_expires_at,
		  absolute_expires_at, user_agent, ip, reissued_counter,
		  (SELECT u.email FROM users AS u WHERE u.id = sessions.user_id),
		  (SELECT u.created_at FROM users AS u WHERE u.id = sessions.user_id),
		  (SELECT u.email_verified_at IS NOT NULL FROM users AS u WHERE u.id = sessions.user_id),
		  (SELECT group_concat(r.role, ' ') FROM user_roles AS r WHERE r.user_id = sessions.user_id)`,
}

// RefreshMACKeys lists the refresh MAC keys, oldest first.
func (d *DB) RefreshMACKeys(ctx context.Context) ([]issuer.RefreshMACKey, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	var rows []struct {
		ID        int64  `db:"id"`
		Sealed    []byte `db:"sealed_key"`
		CreatedAt int64  `db:"created_at"`
	}
	if err := d.db.SelectContext(ctx, &rows, `SELECT id, sealed_key, created_at FROM refresh_mac_keys ORDER BY id`); err != nil {
		return nil, storeErr("list refresh MAC keys", err)
	}
	out := make([]issuer.RefreshMACKey, 0, len(rows))
	for _, r := range rows {
		if r.ID <= 0 || r.ID > math.MaxUint32 {
			continue // not a key this issuer made
		}
		out = append(out, issuer.RefreshMACKey{ID: uint32(r.ID), Sealed: r.Sealed, CreatedAt: fromMS(r.CreatedAt)})
	}
	return out, nil
}

// CreateRefreshMACKey stores k if no key has an id as high as k.ID, in
// one statement: of replicas racing to make the next key, exactly one
// does (the primary key decides), and an id that was used and deleted is
// never made again. false when another key got there first.
func (d *DB) CreateRefreshMACKey(ctx context.Context, k issuer.RefreshMACKey) (bool, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	res, err := d.db.ExecContext(ctx, d.db.Rebind(`INSERT INTO refresh_mac_keys (id, sealed_key, created_at)
		SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM refresh_mac_keys WHERE id >= ?)
		ON CONFLICT (id) DO NOTHING`), int64(k.ID), k.Sealed, ms(k.CreatedAt), int64(k.ID))
	if err != nil {
		return false, storeErr("create refresh MAC key", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, storeErr("create refresh MAC key", err)
	}
	return n == 1, nil
}

// DeleteRefreshMACKeys deletes the refresh MAC keys of the given ids but
// never the newest key, and returns how many it deleted.
func (d *DB) DeleteRefreshMACKeys(ctx context.Context, ids []uint32) (int64, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	var total int64
	for _, id := range ids {
		res, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM refresh_mac_keys
			WHERE id = ? AND id < (SELECT max(id) FROM refresh_mac_keys)`), int64(id))
		if err != nil {
			return total, storeErr("delete refresh MAC key", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/signet-auth/signet/issuer"
)

// AccountTx runs fn in one transaction (issuer.AccountStore).
func (d *DB) AccountTx(ctx context.Context, fn func(issuer.AccountTx) error) error {
	var revoked bool
	err := d.inTx(ctx, func(tx *sqlx.Tx) error { return fn(accountTx{tx: tx, d: d, revoked: &revoked}) })
	if err == nil && revoked {
		d.revoked.bump()
	}
	return err
}

type tokenRow struct {
	Hash      []byte `db:"token_hash"`
	Purpose   string `db:"purpose"`
	UserID    string `db:"user_id"`
	Email     string `db:"email"`
	CreatedAt int64  `db:"created_at"`
	ExpiresAt int64  `db:"expires_at"`
}

func (r tokenRow) token() issuer.AccountToken {
	return issuer.AccountToken{Hash: r.Hash, Purpose: issuer.TokenPurpose(r.Purpose), UserID: r.UserID, Email: r.Email,
		CreatedAt: fromMS(r.CreatedAt), ExpiresAt: fromMS(r.ExpiresAt)}
}

const tokenColumns = `token_hash, purpose, user_id, email, created_at, expires_at`

// LiveAccountToken returns an unexpired token without spending it.
func (d *DB) LiveAccountToken(ctx context.Context, hash []byte, purpose issuer.TokenPurpose, now time.Time) (issuer.AccountToken, error) {
	var r tokenRow
	err := d.db.GetContext(ctx, &r, d.db.Rebind(`SELECT `+tokenColumns+` FROM account_tokens
		WHERE token_hash = ? AND purpose = ? AND expires_at > ?`), hash, string(purpose), ms(now))
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.AccountToken{}, issuer.ErrNotFound
	}
	if err != nil {
		return issuer.AccountToken{}, storeErr("get account token", err)
	}
	return r.token(), nil
}

// EnqueueAccountRequest stores a request for the worker.
func (d *DB) EnqueueAccountRequest(ctx context.Context, r issuer.AccountRequest) error {
	_, err := d.db.ExecContext(ctx, d.db.Rebind(`INSERT INTO account_requests (id, kind, email, password_hash, ip, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`), r.ID, string(r.Kind), r.Email, r.PasswordHash, r.IP, ms(r.CreatedAt))
	if err != nil {
		return storeErr("enqueue account request", err)
	}
	return nil
}

type requestRow struct {
	ID           string `db:"id"`
	Kind         string `db:"kind"`
	Email        string `db:"email"`
	PasswordHash string `db:"password_hash"`
	IP           string `db:"ip"`
	CreatedAt    int64  `db:"created_at"`
	Attempts     int    `db:"attempts"`
}

// ClaimAccountRequests leases requests with one UPDATE ... RETURNING. On
// Postgres the inner SELECT skips rows another replica is claiming (FOR
// UPDATE SKIP LOCKED); SQLite has one writer at a time.
func (d *DB) ClaimAccountRequests(ctx context.Context, now, until time.Time, limit int) ([]issuer.AccountRequest, error) {
	var rows []requestRow
	err := d.db.SelectContext(ctx, &rows, d.db.Rebind(`UPDATE account_requests SET claimed_until = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM account_requests WHERE claimed_until < ? ORDER BY created_at LIMIT ?`+d.skipLocked()+`)
		RETURNING id, kind, email, password_hash, ip, created_at, attempts`), ms(until), ms(now), limit)
	if err != nil {
		return nil, storeErr("claim account requests", err)
	}
	out := make([]issuer.AccountRequest, len(rows))
	for i, r := range rows {
		out[i] = issuer.AccountRequest{ID: r.ID, Kind: issuer.RequestKind(r.Kind), Email: r.Email, PasswordHash: r.PasswordHash,
			IP: r.IP, CreatedAt: fromMS(r.CreatedAt), Attempts: r.Attempts}
	}
	return out, nil
}

// skipLocked is the row-lock clause of a claim's inner SELECT.
func (d *DB) skipLocked() string {
	if d.dialect == Postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// accountTx is issuer.AccountTx over one transaction; revoked is set when
// it records a revocation event, to wake the feed after the commit.
type accountTx struct {
	tx      *sqlx.Tx
	d       *DB
	revoked *bool
}

func (t accountTx) UserByEmail(ctx context.Context, email string) (issuer.User, error) {
	return getUser(ctx, t.tx, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower(?)`, email)
}

func (t accountTx) UserByID(ctx context.Context, id string) (issuer.User, error) {
	return getUser(ctx, t.tx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id)
}

func (t accountTx) CreateUser(ctx context.Context, u issuer.User) error {
	return createUser(ctx, t.tx, u)
}

// DeleteUser deletes the user and records the end of their access (a
// subject revocation event) in the same transaction.
func (t accountTx) DeleteUser(ctx context.Context, id string) error {
	if err := deleteUser(ctx, t.tx, id); err != nil {
		return err
	}
	if err := t.d.recordRevocations(ctx, t.tx, issuer.RevokedSubject, []string{id}, time.Now()); err != nil {
		return err
	}
	*t.revoked = true
	return nil
}

func (t accountTx) exec(ctx context.Context, op, query string, args ...any) (sql.Result, error) {
	res, err := t.tx.ExecContext(ctx, t.tx.Rebind(query), args...)
	if err != nil {
		return nil, storeErr(op, err)
	}
	return res, nil
}

// execOne runs a statement that must change exactly one row.
func (t accountTx) execOne(ctx context.Context, op, query string, args ...any) error {
	res, err := t.exec(ctx, op, query, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return issuer.ErrNotFound
	}
	return nil
}

func (t accountTx) SetPassword(ctx context.Context, userID, hash string, at time.Time) error {
	return t.execOne(ctx, "set password", `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, ms(at), userID)
}

func (t accountTx) SetEmailVerified(ctx context.Context, userID string, at time.Time) error {
	return t.execOne(ctx, "confirm email", `UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?), updated_at = ? WHERE id = ?`,
		ms(at), ms(at), userID)
}

func (t accountTx) SetEmail(ctx context.Context, userID, email string, at time.Time) error {
	// The skeleton goes with the address, so that the new address is
	// refused when it looks like another account's.
	res, err := t.tx.ExecContext(ctx, t.tx.Rebind(`UPDATE users SET email = ?, email_skeleton = ?, email_verified_at = ?, updated_at = ? WHERE id = ?`),
		email, issuer.EmailSkeleton(email), ms(at), ms(at), userID)
	if isUniqueViolation(err) {
		return issuer.ErrEmailTaken
	}
	if err != nil {
		return storeErr("change email", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return issuer.ErrNotFound
	}
	return nil
}

func (t accountTx) PutAccountToken(ctx context.Context, k issuer.AccountToken, replace bool) error {
	if replace {
		if _, err := t.exec(ctx, "replace account token", `DELETE FROM account_tokens WHERE user_id = ? AND purpose = ?`,
			k.UserID, string(k.Purpose)); err != nil {
			return err
		}
	}
	_, err := t.exec(ctx, "put account token", `INSERT INTO account_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.Hash, string(k.Purpose), k.UserID, k.Email, ms(k.CreatedAt), ms(k.ExpiresAt))
	return err
}

func (t accountTx) TakeAccountToken(ctx context.Context, hash []byte, purpose issuer.TokenPurpose, now time.Time) (issuer.AccountToken, error) {
	var r tokenRow
	err := t.tx.GetContext(ctx, &r, t.tx.Rebind(`DELETE FROM account_tokens WHERE token_hash = ? AND purpose = ? AND expires_at > ?
		RETURNING `+tokenColumns), hash, string(purpose), ms(now))
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.AccountToken{}, issuer.ErrNotFound
	}
	if err != nil {
		return issuer.AccountToken{}, storeErr("take account token", err)
	}
	return r.token(), nil
}

func (t accountTx) DeleteAccountTokens(ctx context.Context, userID string, purposes ...issuer.TokenPurpose) error {
	ps := make([]string, len(purposes))
	for i, p := range purposes {
		ps[i] = string(p)
	}
	q, args, err := sqlx.In(`DELETE FROM account_tokens WHERE user_id = ? AND purpose IN (?)`, userID, ps)
	if err != nil {
		return storeErr("delete account tokens", err)
	}
	_, err = t.exec(ctx, "delete account tokens", q, args...)
	return err
}

func (t accountTx) RevokeUserSessions(ctx context.Context, userID, except string, at time.Time, reason string) (int64, error) {
	n, err := revokeUserSessions(ctx, t.d, t.tx, userID, except, at, reason)
	if n > 0 {
		*t.revoked = true
	}
	return n, err
}

// SetUserDisabled disables (disabled) or enables a user at `at`; false
// when it already was so. ErrNotFound when there is no such user.
func (t accountTx) SetUserDisabled(ctx context.Context, userID string, disabled bool, at time.Time) (bool, error) {
	q := `UPDATE users SET disabled_at = ?, updated_at = ? WHERE id = ? AND disabled_at IS NULL`
	args := []any{ms(at), ms(at), userID}
	if !disabled {
		q = `UPDATE users SET disabled_at = NULL, updated_at = ? WHERE id = ? AND disabled_at IS NOT NULL`
		args = []any{ms(at), userID}
	}
	res, err := t.exec(ctx, "set user disabled", q, args...)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, nil
	}
	var one int
	err = t.tx.GetContext(ctx, &one, t.tx.Rebind(`SELECT 1 FROM users WHERE id = ?`), userID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, issuer.ErrNotFound
	}
	if err != nil {
		return false, storeErr("set user disabled", err)
	}
	return false, nil
}

// RevokeSubject records a subject revocation event for the user: every
// access token issued to them until `at` is refused by the verifiers.
func (t accountTx) RevokeSubject(ctx context.Context, userID string, at time.Time) error {
	if err := t.d.recordRevocations(ctx, t.tx, issuer.RevokedSubject, []string{userID}, at); err != nil {
		return err
	}
	*t.revoked = true
	return nil
}

func (t accountTx) EnqueueMail(ctx context.Context, m issuer.OutboxMail) error {
	_, err := t.exec(ctx, "enqueue mail", `INSERT INTO mail_outbox
		(id, user_id, kind, recipient, body, created_at, expires_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, nullStr(m.UserID), string(m.Kind), m.Recipient, m.Body, ms(m.CreatedAt), ms(m.ExpiresAt), ms(m.NextAttemptAt))
	return err
}

// mailLockClass is the first key of the transaction-scoped advisory lock
// that CountMail takes on a recipient on Postgres ("SgMl").
const mailLockClass = 0x5367_4d6c

func (t accountTx) CountMail(ctx context.Context, recipient string, kinds []issuer.MailKind, since time.Time) (int, error) {
	// At READ COMMITTED two transactions could both count n < limit and
	// both insert: the lock on the address makes the second wait for the
	// first's commit and count its message. SQLite transactions are
	// BEGIN IMMEDIATE, one writer at a time, so they are serial already.
	if t.d.dialect == Postgres {
		if _, err := t.tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, mailLockClass, recipient); err != nil {
			return 0, storeErr("lock recipient", err)
		}
	}
	ks := make([]string, len(kinds))
	for i, k := range kinds {
		ks[i] = string(k)
	}
	q, args, err := sqlx.In(`SELECT COUNT(*) FROM mail_outbox WHERE recipient = ? AND kind IN (?) AND created_at > ?`, recipient, ks, ms(since))
	if err != nil {
		return 0, storeErr("count mail", err)
	}
	var n int
	if err := t.tx.GetContext(ctx, &n, t.tx.Rebind(q), args...); err != nil {
		return 0, storeErr("count mail", err)
	}
	return n, nil
}

func (t accountTx) DeleteAccountRequest(ctx context.Context, id string) error {
	_, err := t.exec(ctx, "delete account request", `DELETE FROM account_requests WHERE id = ?`, id)
	return err
}

func (t accountTx) ForgetAddress(ctx context.Context, email string, throttleKeys ...string) error {
	if _, err := t.exec(ctx, "forget address", `DELETE FROM account_requests WHERE email = ?`, email); err != nil {
		return err
	}
	if len(throttleKeys) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`DELETE FROM signin_throttle WHERE key IN (?)`, throttleKeys)
	if err != nil {
		return storeErr("forget address", err)
	}
	_, err = t.exec(ctx, "forget address", q, args...)
	return err
}

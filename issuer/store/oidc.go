package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/signet-auth/signet/issuer"
)

type authCodeRow struct {
	Hash          []byte         `db:"code_hash"`
	ClientID      string         `db:"client_id"`
	UserID        string         `db:"user_id"`
	RedirectURI   string         `db:"redirect_uri"`
	CodeChallenge string         `db:"code_challenge"`
	Scope         string         `db:"scope"`
	Resource      string         `db:"resource"`
	Nonce         string         `db:"nonce"`
	AuthTime      int64          `db:"auth_time"`
	CreatedAt     int64          `db:"created_at"`
	ExpiresAt     int64          `db:"expires_at"`
	SessionID     sql.NullString `db:"session_id"`
}

func (r authCodeRow) code() issuer.AuthCode {
	return issuer.AuthCode{
		Hash: r.Hash, ClientID: r.ClientID, UserID: r.UserID, RedirectURI: r.RedirectURI, CodeChallenge: r.CodeChallenge,
		Scope: r.Scope, Resource: r.Resource, Nonce: r.Nonce, AuthTime: fromMS(r.AuthTime),
		CreatedAt: fromMS(r.CreatedAt), ExpiresAt: fromMS(r.ExpiresAt), SessionID: r.SessionID.String,
	}
}

const authCodeColumns = `code_hash, client_id, user_id, redirect_uri, code_challenge, scope, resource, nonce,
	auth_time, created_at, expires_at, session_id`

// CreateAuthCode stores a code and purges those expired before purgeBefore.
func (d *DB) CreateAuthCode(ctx context.Context, c issuer.AuthCode, purgeBefore time.Time) error {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	if _, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM authorization_codes WHERE expires_at < ?`), ms(purgeBefore)); err != nil {
		return storeErr("purge authorization codes", err)
	}
	_, err := d.db.ExecContext(ctx, d.db.Rebind(`INSERT INTO authorization_codes
		(code_hash, client_id, user_id, redirect_uri, code_challenge, scope, resource, nonce, auth_time, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		c.Hash, c.ClientID, c.UserID, c.RedirectURI, c.CodeChallenge, c.Scope, c.Resource, c.Nonce,
		ms(c.AuthTime), ms(c.CreatedAt), ms(c.ExpiresAt))
	return storeErrOrNil("create authorization code", err)
}

// RedeemAuthCode spends a code with one UPDATE ... RETURNING; only when it
// changes no row is the code looked at again, as a replay.
func (d *DB) RedeemAuthCode(ctx context.Context, hash []byte, at time.Time) (issuer.AuthCode, bool, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	var r authCodeRow
	err := d.db.GetContext(ctx, &r, d.db.Rebind(`UPDATE authorization_codes SET redeemed_at = ?
		WHERE code_hash = ? AND redeemed_at IS NULL RETURNING `+authCodeColumns), ms(at), hash)
	if err == nil {
		return r.code(), true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return issuer.AuthCode{}, false, storeErr("redeem authorization code", err)
	}
	err = d.db.GetContext(ctx, &r, d.db.Rebind(`UPDATE authorization_codes SET replayed_at = COALESCE(replayed_at, ?)
		WHERE code_hash = ? RETURNING `+authCodeColumns), ms(at), hash)
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.AuthCode{}, false, issuer.ErrNotFound
	}
	if err != nil {
		return issuer.AuthCode{}, false, storeErr("redeem authorization code", err)
	}
	return r.code(), false, nil
}

// AttachCodeSession records the session a code's redemption started.
func (d *DB) AttachCodeSession(ctx context.Context, hash []byte, sessionID string) (bool, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	var replayed bool
	err := d.db.GetContext(ctx, &replayed, d.db.Rebind(`UPDATE authorization_codes SET session_id = ?
		WHERE code_hash = ? RETURNING replayed_at IS NOT NULL`), sessionID, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return false, issuer.ErrNotFound
	}
	return replayed, storeErrOrNil("attach code session", err)
}

// CreateBrowserSession stores a browser session and purges expired ones.
func (d *DB) CreateBrowserSession(ctx context.Context, s issuer.BrowserSession) error {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	if _, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM browser_sessions WHERE expires_at <= ?`), ms(s.CreatedAt)); err != nil {
		return storeErr("purge browser sessions", err)
	}
	_, err := d.db.ExecContext(ctx, d.db.Rebind(`INSERT INTO browser_sessions (id_hash, user_id, auth_time, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`), s.Hash, s.UserID, ms(s.AuthTime), ms(s.CreatedAt), ms(s.ExpiresAt))
	return storeErrOrNil("create browser session", err)
}

// BrowserSession returns an unexpired browser session.
func (d *DB) BrowserSession(ctx context.Context, hash []byte, now time.Time) (issuer.BrowserSession, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	var r struct {
		Hash      []byte `db:"id_hash"`
		UserID    string `db:"user_id"`
		AuthTime  int64  `db:"auth_time"`
		CreatedAt int64  `db:"created_at"`
		ExpiresAt int64  `db:"expires_at"`
	}
	err := d.db.GetContext(ctx, &r, d.db.Rebind(`SELECT id_hash, user_id, auth_time, created_at, expires_at
		FROM browser_sessions WHERE id_hash = ? AND expires_at > ?`), hash, ms(now))
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.BrowserSession{}, issuer.ErrNotFound
	}
	if err != nil {
		return issuer.BrowserSession{}, storeErr("get browser session", err)
	}
	return issuer.BrowserSession{Hash: r.Hash, UserID: r.UserID, AuthTime: fromMS(r.AuthTime),
		CreatedAt: fromMS(r.CreatedAt), ExpiresAt: fromMS(r.ExpiresAt)}, nil
}

// DeleteBrowserSession ends a browser session.
func (d *DB) DeleteBrowserSession(ctx context.Context, hash []byte) (bool, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	res, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM browser_sessions WHERE id_hash = ?`), hash)
	if err != nil {
		return false, storeErr("delete browser session", err)
	}
	n, err := res.RowsAffected()
	return n == 1, storeErrOrNil("delete browser session", err)
}

// DeleteExpiredOIDC deletes the authorization codes that expired before
// codesBefore and the browser sessions expired at now, for the janitor.
func (d *DB) DeleteExpiredOIDC(ctx context.Context, codesBefore, now time.Time) (int64, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	var total int64
	for _, q := range []struct {
		sql string
		at  time.Time
	}{{`DELETE FROM authorization_codes WHERE expires_at < ?`, codesBefore}, {`DELETE FROM browser_sessions WHERE expires_at <= ?`, now}} {
		res, err := d.db.ExecContext(ctx, d.db.Rebind(q.sql), ms(q.at))
		if err != nil {
			return total, storeErr("delete expired codes and browser sessions", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

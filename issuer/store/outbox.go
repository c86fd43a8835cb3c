package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/signet-auth/signet/issuer"
)

type mailRow struct {
	ID            string         `db:"id"`
	UserID        sql.NullString `db:"user_id"`
	Kind          string         `db:"kind"`
	Recipient     string         `db:"recipient"`
	Body          []byte         `db:"body"`
	CreatedAt     int64          `db:"created_at"`
	ExpiresAt     int64          `db:"expires_at"`
	NextAttemptAt int64          `db:"next_attempt_at"`
	Attempts      int            `db:"attempts"`
}

// ClaimMail leases due messages with one UPDATE ... RETURNING, as
// ClaimAccountRequests does, and counts the attempt.
func (d *DB) ClaimMail(ctx context.Context, now, until time.Time, limit int) ([]issuer.OutboxMail, error) {
	var rows []mailRow
	err := d.db.SelectContext(ctx, &rows, d.db.Rebind(`UPDATE mail_outbox SET claimed_until = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= ? AND claimed_until < ?
			ORDER BY next_attempt_at, created_at LIMIT ?`+d.skipLocked()+`)
		RETURNING id, user_id, kind, recipient, body, created_at, expires_at, next_attempt_at, attempts`),
		ms(until), ms(now), ms(now), limit)
	if err != nil {
		return nil, storeErr("claim mail", err)
	}
	out := make([]issuer.OutboxMail, len(rows))
	for i, r := range rows {
		out[i] = issuer.OutboxMail{ID: r.ID, UserID: r.UserID.String, Kind: issuer.MailKind(r.Kind), Recipient: r.Recipient,
			Body: r.Body, CreatedAt: fromMS(r.CreatedAt), ExpiresAt: fromMS(r.ExpiresAt),
			NextAttemptAt: fromMS(r.NextAttemptAt), Attempts: r.Attempts}
	}
	return out, nil
}

// MailSent marks a message delivered and drops its body.
func (d *DB) MailSent(ctx context.Context, id string, at time.Time) error {
	_, err := d.db.ExecContext(ctx, d.db.Rebind(`UPDATE mail_outbox SET sent_at = ?, body = NULL, last_error = '' WHERE id = ?`), ms(at), id)
	if err != nil {
		return storeErr("mail sent", err)
	}
	return nil
}

// MailRetry releases a message for another attempt.
func (d *DB) MailRetry(ctx context.Context, id string, next time.Time, reason string) error {
	_, err := d.db.ExecContext(ctx, d.db.Rebind(`UPDATE mail_outbox SET next_attempt_at = ?, claimed_until = 0, last_error = ?
		WHERE id = ? AND sent_at IS NULL`), ms(next), reason, id)
	if err != nil {
		return storeErr("mail retry", err)
	}
	return nil
}

// MailAbandoned gives a message up and drops its body.
func (d *DB) MailAbandoned(ctx context.Context, id string, at time.Time, reason string) error {
	_, err := d.db.ExecContext(ctx, d.db.Rebind(`UPDATE mail_outbox SET sent_at = ?, body = NULL, last_error = ? WHERE id = ?`),
		ms(at), "abandoned: "+reason, id)
	if err != nil {
		return storeErr("mail abandoned", err)
	}
	return nil
}

// MailStatus is an outbox row as the CLI and tests see it (no body).
type MailStatus struct {
	ID        string `db:"id" json:"id"`
	Kind      string `db:"kind" json:"kind"`
	Recipient string `db:"recipient" json:"recipient"`
	Attempts  int    `db:"attempts" json:"attempts"`
	Sent      bool   `db:"sent" json:"sent"`
	LastError string `db:"last_error" json:"last_error"`
}

// Outbox lists the outbox, oldest first.
func (d *DB) Outbox(ctx context.Context) ([]MailStatus, error) {
	var rows []MailStatus
	err := d.db.SelectContext(ctx, &rows, `SELECT id, kind, recipient, attempts, sent_at IS NOT NULL AS sent, last_error
		FROM mail_outbox ORDER BY created_at, id`)
	if err != nil {
		return nil, storeErr("list outbox", err)
	}
	return rows, nil
}

// DeleteOldMail removes outbox rows sent or abandoned before a time, and
// account requests nobody could resolve in a day.
func (d *DB) DeleteOldMail(ctx context.Context, before time.Time) (int64, error) {
	res, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM mail_outbox WHERE sent_at IS NOT NULL AND sent_at < ?`), ms(before))
	if err != nil {
		return 0, storeErr("delete old mail", err)
	}
	n, _ := res.RowsAffected()
	res, err = d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM account_requests WHERE created_at < ?`), ms(before))
	if err != nil {
		return n, storeErr("delete old account requests", err)
	}
	m, _ := res.RowsAffected()
	return n + m, nil
}

// DeleteExpiredAccountTokens removes tokens past their expiry.
func (d *DB) DeleteExpiredAccountTokens(ctx context.Context, now time.Time) (int64, error) {
	res, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM account_tokens WHERE expires_at <= ?`), ms(now))
	if err != nil {
		return 0, storeErr("delete expired account tokens", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

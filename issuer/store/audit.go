package store

import (
	"context"
	"encoding/json"

	"github.com/jmoiron/sqlx"
	"github.com/signet-auth/signet/issuer"
)

// RecordEvent writes an audit event.
func (d *DB) RecordEvent(ctx context.Context, e issuer.AuditEvent) error {
	return recordEvent(ctx, d.db, e)
}

func recordEvent(ctx context.Context, q sqlx.ExtContext, e issuer.AuditEvent) error {
	detail := []byte("{}")
	if len(e.Detail) > 0 {
		var err error
		if detail, err = json.Marshal(e.Detail); err != nil {
			return storeErr("audit detail", err)
		}
	}
	_, err := q.ExecContext(ctx, q.Rebind(
		`INSERT INTO audit_events (at, type, user_id, session_id, ip, detail) VALUES (?, ?, ?, ?, ?, ?)`),
		ms(e.At), e.Type, nullStr(e.UserID), nullStr(e.SessionID), nullStr(e.IP), string(detail))
	if err != nil {
		return storeErr("record event", err)
	}
	return nil
}

// AuditRow is a stored audit event.
type AuditRow struct {
	ID        int64   `db:"id" json:"id"`
	At        int64   `db:"at" json:"at"`
	Type      string  `db:"type" json:"type"`
	UserID    *string `db:"user_id" json:"user_id,omitempty"`
	SessionID *string `db:"session_id" json:"session_id,omitempty"`
	IP        *string `db:"ip" json:"ip,omitempty"`
	Detail    string  `db:"detail" json:"detail"`
}

// Events returns audit events of a type (all types when typ is empty),
// oldest first.
func (d *DB) Events(ctx context.Context, typ string) ([]AuditRow, error) {
	var rows []AuditRow
	err := d.db.SelectContext(ctx, &rows, d.db.Rebind(
		`SELECT id, at, type, user_id, session_id, ip, detail FROM audit_events WHERE (? = '' OR type = ?) ORDER BY id`), typ, typ)
	if err != nil {
		return nil, storeErr("list events", err)
	}
	return rows, nil
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

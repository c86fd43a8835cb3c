package store

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

// DeleteAuditEvents deletes at most limit audit events of the given types
// from before `before` (a retention period applied by the janitor), in one
// statement, and returns how many it deleted.
func (d *DB) DeleteAuditEvents(ctx context.Context, types []string, before time.Time, limit int) (int64, error) {
	if len(types) == 0 || limit <= 0 {
		return 0, nil
	}
	q, args, err := sqlx.In(`DELETE FROM audit_events WHERE id IN (
		SELECT id FROM audit_events WHERE type IN (?) AND at < ? LIMIT ?)`, types, ms(before), limit)
	if err != nil {
		return 0, storeErr("delete audit events", err)
	}
	res, err := d.db.ExecContext(ctx, d.db.Rebind(q), args...)
	if err != nil {
		return 0, storeErr("delete audit events", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

package store

import (
	"context"
	"time"
)

// SealedSecret returns the sealed secret stored under name, storing
// sealed first when there is none. Replicas racing on the first call all
// get the winner's value.
func (d *DB) SealedSecret(ctx context.Context, name string, sealed []byte, at time.Time) ([]byte, error) {
	_, err := d.db.ExecContext(ctx, d.db.Rebind(
		`INSERT INTO issuer_secrets (name, sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`),
		name, sealed, ms(at))
	if err != nil {
		return nil, storeErr("store secret", err)
	}
	var out []byte
	if err := d.db.GetContext(ctx, &out, d.db.Rebind(`SELECT sealed FROM issuer_secrets WHERE name = ?`), name); err != nil {
		return nil, storeErr("read secret", err)
	}
	return out, nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jmoiron/sqlx"

	"github.com/signet-auth/signet/keys"
)

// ResealCount is what ResealSecrets did to one table's sealed secrets.
type ResealCount struct {
	// Table is signing_keys, sessions, issuer_secrets or refresh_mac_keys.
	Table string `json:"table"`
	// Resealed were re-sealed; Current needed nothing.
	Resealed int `json:"resealed"`
	Current  int `json:"current"`
	// Gone were deleted or changed while the run looked at them, and
	// left alone.
	Gone int `json:"gone"`
	// Unopened could not be opened with any key given, and were left as
	// they are; UnopenedLabels names the first few.
	Unopened       int      `json:"unopened"`
	UnopenedLabels []string `json:"unopened_labels,omitempty"`
}

func (c *ResealCount) unopened(label string) {
	c.Unopened++
	if len(c.UnopenedLabels) < 20 {
		c.UnopenedLabels = append(c.UnopenedLabels, label)
	}
}

// ResealSecrets passes every sealed secret the store holds through reseal:
// the signing keys' private parts (label: the kid), then the sessions'
// refresh secrets (label: the session id; sessions started since the
// server-wide refresh MAC keys have none and are passed over), then the issuer's own secrets
// such as the device-token key (label: the name), then the refresh MAC
// keys (label: refresh-mac-key:<id>). reseal returns the secret's new
// sealed form, nil when it needs none, or an error wrapping keys.ErrDecrypt
// when it cannot open it (the row is left alone and counted); any other
// error stops the run.
//
// The signing keys are re-sealed in one transaction under the key lock, so
// that no rotation step writes back a private key it read before. The
// sessions go in batches of batchSize, each in a transaction of its own and
// each row compared and swapped: the table stays usable while the run goes
// on, a session deleted meanwhile is left alone, and a run stopped at any
// point can be run again, since what was done needs nothing the second
// time. progress, if set, is called after each committed batch with the
// table's counts so far.
func (d *DB) ResealSecrets(ctx context.Context, batchSize int, reseal func(label string, sealed []byte) ([]byte, error), progress func(ResealCount)) ([]ResealCount, error) {
	if batchSize < 1 {
		return nil, errors.New("store: reseal: batch size must be positive")
	}
	kc := ResealCount{Table: "signing_keys"}
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := d.lockKeys(ctx, tx); err != nil {
			return err
		}
		var rows []struct {
			KID    string `db:"kid"`
			Sealed []byte `db:"private_key"`
		}
		if err := tx.SelectContext(ctx, &rows, `SELECT kid, private_key FROM signing_keys WHERE private_key IS NOT NULL ORDER BY kid`); err != nil {
			return fmt.Errorf("store: reseal keys: %w", err)
		}
		kc = ResealCount{Table: "signing_keys"}
		for _, r := range rows {
			if err := resealRow(ctx, tx, &kc, `UPDATE signing_keys SET private_key = ? WHERE kid = ? AND private_key = ?`, r.KID, r.Sealed, reseal); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if kc.Resealed > 0 {
		// The rows' old versions hold the keys sealed the old way.
		d.purgeLeft.Store(purgeRetries)
		d.purgeOldVersions(ctx)
	}
	if progress != nil {
		progress(kc)
	}

	sc := ResealCount{Table: "sessions"}
	for after := ""; ; {
		var rows []struct {
			ID     string `db:"id"`
			Sealed []byte `db:"refresh_secret"`
		}
		batch := sc
		err := d.inTx(ctx, func(tx *sqlx.Tx) error {
			batch = sc
			rows = rows[:0]
			if err := tx.SelectContext(ctx, &rows, tx.Rebind(`SELECT id, refresh_secret FROM sessions WHERE id > ? ORDER BY id LIMIT ?`), after, batchSize); err != nil {
				return fmt.Errorf("store: reseal sessions: %w", err)
			}
			for _, r := range rows {
				if len(r.Sealed) == 0 {
					continue // a session of the server-wide keys: no secret of its own
				}
				if err := resealRow(ctx, tx, &batch, `UPDATE sessions SET refresh_secret = ? WHERE id = ? AND refresh_secret = ?`, r.ID, r.Sealed, reseal); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return []ResealCount{kc, sc, {Table: "refresh_mac_keys"}}, err
		}
		if len(rows) == 0 {
			break
		}
		sc, after = batch, rows[len(rows)-1].ID
		if progress != nil {
			progress(sc)
		}
	}

	// The issuer's own secrets (label: the name) are few: one transaction.
	xc := ResealCount{Table: "issuer_secrets"}
	err = d.inTx(ctx, func(tx *sqlx.Tx) error {
		xc = ResealCount{Table: "issuer_secrets"}
		var rows []struct {
			Name   string `db:"name"`
			Sealed []byte `db:"sealed"`
		}
		if err := tx.SelectContext(ctx, &rows, `SELECT name, sealed FROM issuer_secrets ORDER BY name`); err != nil {
			return fmt.Errorf("store: reseal issuer secrets: %w", err)
		}
		for _, r := range rows {
			if err := resealRow(ctx, tx, &xc, `UPDATE issuer_secrets SET sealed = ? WHERE name = ? AND sealed = ?`, r.Name, r.Sealed, reseal); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return []ResealCount{kc, sc, xc}, err
	}
	if progress != nil {
		progress(xc)
	}

	// The refresh MAC keys (label: refresh-mac-key:<id>): one transaction.
	mc := ResealCount{Table: "refresh_mac_keys"}
	err = d.inTx(ctx, func(tx *sqlx.Tx) error {
		mc = ResealCount{Table: "refresh_mac_keys"}
		var rows []struct {
			ID     int64  `db:"id"`
			Sealed []byte `db:"sealed_key"`
		}
		if err := tx.SelectContext(ctx, &rows, `SELECT id, sealed_key FROM refresh_mac_keys ORDER BY id`); err != nil {
			return fmt.Errorf("store: reseal refresh MAC keys: %w", err)
		}
		for _, r := range rows {
			label := "refresh-mac-key:" + strconv.FormatInt(r.ID, 10)
			if err := resealRow(ctx, tx, &mc, `UPDATE refresh_mac_keys SET sealed_key = ?
				WHERE 'refresh-mac-key:' || CAST(id AS TEXT) = ? AND sealed_key = ?`, label, r.Sealed, reseal); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && progress != nil {
		progress(mc)
	}
	return []ResealCount{kc, sc, xc, mc}, err
}

// resealRow re-seals one row's secret, compared and swapped by update.
func resealRow(ctx context.Context, tx *sqlx.Tx, c *ResealCount, update, label string, sealed []byte, reseal func(string, []byte) ([]byte, error)) error {
	out, err := reseal(label, sealed)
	switch {
	case errors.Is(err, keys.ErrDecrypt):
		c.unopened(label)
		return nil
	case err != nil:
		return fmt.Errorf("store: reseal %s %s: %w", c.Table, label, err)
	case out == nil:
		c.Current++
		return nil
	}
	res, err := tx.ExecContext(ctx, tx.Rebind(update), out, label, sealed)
	if err != nil {
		return fmt.Errorf("store: reseal %s %s: %w", c.Table, label, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		c.Resealed++
	} else {
		c.Gone++
	}
	return nil
}

package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// probeSize is the size of the readiness probe's row: more than a SQLite
// page (4 KiB), so that writing it needs pages a full database does not
// have, as a new session or audit event would.
const probeSize = 8 << 10

// CheckWritable writes a row and removes it again in one committed
// transaction, and reports why that failed: a database that answers reads
// can still be unable to write (a full disk, a read-only file or replica).
// Each call commits a small write, so call it for readiness checks, not
// per request.
func (d *DB) CheckWritable(ctx context.Context) error {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO storage_probe (pad) VALUES (?)`), make([]byte, probeSize)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM storage_probe`)
		return err
	})
	if err != nil {
		return storeErr("storage probe", err)
	}
	return nil
}

// ErrCheckpointBusy is returned by CheckpointWAL when readers or a writer
// kept the checkpoint from finishing, so the WAL was not emptied.
var ErrCheckpointBusy = errors.New("store: WAL checkpoint could not finish: the database was busy")

// CheckpointWAL copies SQLite's write-ahead log into the database and
// truncates it to zero bytes (PRAGMA wal_checkpoint(TRUNCATE)); on
// Postgres it does nothing. SQLite checkpoints on its own as the WAL grows
// (and then cuts the file back to walSizeLimit), but only when no reader
// is in the way; run this periodically (the janitor) so that the WAL
// cannot keep growing.
func (d *DB) CheckpointWAL(ctx context.Context) error {
	if d.dialect != SQLite {
		return nil
	}
	var r struct {
		Busy         int `db:"busy"`
		Log          int `db:"log"`
		Checkpointed int `db:"checkpointed"`
	}
	if err := d.db.GetContext(ctx, &r, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return storeErr("WAL checkpoint", err)
	}
	if r.Busy != 0 {
		return fmt.Errorf("%w (%d of %d frames copied)", ErrCheckpointBusy, r.Checkpointed, r.Log)
	}
	return nil
}

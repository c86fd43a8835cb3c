package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/signet-auth/signet/issuer"
)

// storeErr wraps a driver error for operation op. An error that says the
// database cannot be reached right now (a restart, a failover, a network
// cut) also matches issuer.ErrUnavailable, so callers can tell "retry
// shortly" from a bug without knowing the driver.
func storeErr(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("store: %s: %w: %w", op, issuer.ErrUnavailable, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// unavailable classifies driver and network errors.
func unavailable(err error) bool {
	var netErr net.Error
	var state interface{ SQLState() string }
	var liteErr *sqlite.Error
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &netErr):
		return true
	case errors.As(err, &state):
		// Postgres classes 08 (connection exception), 53 (insufficient
		// resources, disk full included), 57014 (query_canceled: the
		// statement timeout) and 57P0x (shutting down, cannot connect now).
		code := state.SQLState()
		return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") || code == "57014" || strings.HasPrefix(code, "57P0")
	case errors.As(err, &liteErr):
		return sqliteUnavailable(liteErr.Code())
	}
	return false
}

// sqliteUnavailable classifies a SQLite result code: the lock not had
// within the busy timeout, a full disk or database, and the I/O errors
// of writing to a full or failing disk. They pass (the lock is released,
// space is freed) and need no change to the request.
func sqliteUnavailable(code int) bool {
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL:
		return true
	case sqlite3.SQLITE_IOERR:
		switch code {
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_IOERR_WRITE, sqlite3.SQLITE_IOERR_FSYNC, sqlite3.SQLITE_IOERR_DIR_FSYNC,
			sqlite3.SQLITE_IOERR_TRUNCATE, sqlite3.SQLITE_IOERR_SHMSIZE, sqlite3.SQLITE_IOERR_NOMEM:
			return true
		}
	}
	return false
}

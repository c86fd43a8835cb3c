// Package migrations holds Signet's versioned SQL schema, one set per
// database dialect, embedded so that the signet binary carries it.
//
// Times are stored as Unix milliseconds (UTC) in BIGINT/INTEGER columns in
// both dialects, so that every comparison is plain integer arithmetic and the
// clock is always the issuer's (injected in tests), never the database's.
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql in golang-migrate's
// NNNNNN_name.up.sql / NNNNNN_name.down.sql naming.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS

package store

import (
	"net/url"
	"strconv"
	"strings"
)

// walSizeLimit bounds SQLite's write-ahead log: SQLite checkpoints once
// it holds this much (wal_autocheckpoint, in pages of 4 KiB) and cuts the
// file back to this size when it starts over (journal_size_limit).
// Without the limit the file keeps its largest size for good; on a small
// volume the WAL alone filled the disk.
const walSizeLimit = 1 << 20

// sqliteDSN applies the options to a SQLite DSN (made by parseURL): the
// statement timeout becomes the busy timeout (how long a statement waits
// for the write lock before SQLITE_BUSY), and the WAL is bounded.
func sqliteDSN(dsn string, o options) string {
	path, query, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return dsn // parseURL made it; it parses
	}
	var pragmas []string
	for _, p := range q["_pragma"] {
		if o.statementTimeout > 0 && strings.HasPrefix(strings.ToLower(p), "busy_timeout") {
			continue
		}
		pragmas = append(pragmas, p)
	}
	if o.statementTimeout > 0 {
		pragmas = append(pragmas, "busy_timeout("+strconv.FormatInt(o.statementTimeout.Milliseconds(), 10)+")")
	}
	pragmas = append(pragmas, "journal_size_limit("+strconv.Itoa(walSizeLimit)+")",
		"wal_autocheckpoint("+strconv.Itoa(walSizeLimit/4096)+")")
	q["_pragma"] = pragmas
	return path + "?" + q.Encode()
}

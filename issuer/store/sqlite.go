package store

import (
	"net/url"
	"strconv"
	"strings"
)

// sqliteDSN applies the options to a SQLite DSN (made by parseURL): the
// statement timeout becomes the busy timeout (how long a statement waits
// for the write lock before SQLITE_BUSY).
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
	q["_pragma"] = pragmas
	return path + "?" + q.Encode()
}

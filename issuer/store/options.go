package store

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// DefaultStatementTimeout bounds each statement unless Open is given
// StatementTimeout.
const DefaultStatementTimeout = 5 * time.Second

// timeoutMargin is how much longer than the statement timeout the client
// side waits (for a connection, for an answer) before it gives up on its
// own: long enough that the database's own cancellation, the clearer
// error, normally comes first.
const timeoutMargin = 2 * time.Second

// An Option tunes Open.
type Option func(*options)

type options struct {
	statementTimeout   time.Duration
	revocationLifetime time.Duration
}

// StatementTimeout bounds how long one statement may take, lock waits
// included, so that a request fails fast (as issuer.ErrUnavailable: 503
// with Retry-After) instead of hanging through an outage. Postgres
// cancels it (statement_timeout, unless the URL sets statement_timeout
// or options itself), SQLite stops waiting for a lock (busy_timeout).
// The client also stops waiting for an answer from the network
// (Postgres) and, in the session store, for a pooled connection, a
// little after it. Zero or less sets no bound. Migrations and the key
// notification listener are not bound. Default DefaultStatementTimeout.
func StatementTimeout(d time.Duration) Option {
	return func(o *options) { o.statementTimeout = max(d, 0) }
}

func newOptions(opts []Option) options {
	o := options{statementTimeout: DefaultStatementTimeout, revocationLifetime: DefaultRevocationLifetime}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// clientTimeout is how long the client waits for one call, or 0 for no
// bound.
func (o options) clientTimeout() time.Duration {
	if o.statementTimeout <= 0 {
		return 0
	}
	return o.statementTimeout + timeoutMargin
}

// openPool opens the connection pool with the options applied.
func openPool(dialect, dsn string, o options) (*sqlx.DB, error) {
	if dialect == SQLite {
		return sqlx.Open(SQLite, sqliteDSN(dsn, o))
	}
	dsn, err := postgresDSN(dsn, o)
	if err != nil {
		return nil, err
	}
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	if wait := o.clientTimeout(); wait > 0 {
		c.Dialer(deadlineDialer{d: net.Dialer{Timeout: wait}, wait: wait})
	}
	return sqlx.NewDb(sql.OpenDB(c), Postgres), nil
}

// postgresDSN adds the statement timeout as a run-time parameter of every
// connection.
func postgresDSN(dsn string, o options) (string, error) {
	if o.statementTimeout <= 0 {
		return dsn, nil
	}
	ms := strconv.FormatInt(o.statementTimeout.Milliseconds(), 10)
	if isKeyValueDSN(dsn) {
		if statementTimeoutKey.MatchString(dsn) {
			return dsn, nil
		}
		return dsn + " statement_timeout=" + ms, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("store: invalid Postgres URL: %v", redactErr(err))
	}
	q := u.Query()
	if q.Has("statement_timeout") || q.Has("options") {
		return dsn, nil
	}
	q.Set("statement_timeout", ms)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// callContext bounds one store call, so that waiting for a pooled
// connection is bounded too. The caller must call cancel.
func (d *DB) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d.timeout)
}

// deadlineDialer makes Postgres connections that give up on an answer
// that does not come. lib/pq, when a context ends, asks the server to
// cancel over a new connection and keeps reading the old one; through a
// network that drops packets neither gets through, and the read blocks
// until TCP gives up, minutes later. Each write (a request) sets a
// deadline for it and its answer; the server answers within the
// statement timeout, so a deadline that passes means the network is gone.
type deadlineDialer struct {
	d    net.Dialer
	wait time.Duration
}

func (d deadlineDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d deadlineDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d deadlineDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &deadlineConn{Conn: c, wait: d.wait}, nil
}

type deadlineConn struct {
	net.Conn
	wait time.Duration
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetDeadline(time.Now().Add(c.wait)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// statementTimeoutKey matches a key=value string that sets the timeout
// (or the options that may) itself.
var statementTimeoutKey = regexp.MustCompile(`(^|\s)(statement_timeout|options)\s*=`)

package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/signet-auth/signet/issuer"
)

type sqlStateErr string

func (e sqlStateErr) Error() string    { return "pq: " + string(e) }
func (e sqlStateErr) SQLState() string { return string(e) }

func TestStoreErrUnavailable(t *testing.T) {
	wrap := func(err error) error { return storeErr("get user", err) }
	for _, err := range []error{
		wrap(driver.ErrBadConn),
		wrap(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}),
		wrap(sqlStateErr("57P01")), // admin shutdown
		wrap(sqlStateErr("08006")), // connection failure
		wrap(sqlStateErr("57014")), // query_canceled: the statement timeout
		wrap(sqlStateErr("53100")), // disk_full
		wrap(context.DeadlineExceeded),
	} {
		if !errors.Is(err, issuer.ErrUnavailable) || issuer.KindOf(err) != issuer.KindUnavailable {
			t.Errorf("%v: not taken as unavailable", err)
		}
	}
	for _, err := range []error{
		wrap(errors.New("syntax error")),
		wrap(sqlStateErr("23505")), // unique violation: a bug or a race, not an outage
	} {
		if errors.Is(err, issuer.ErrUnavailable) || issuer.KindOf(err) != issuer.KindInternal {
			t.Errorf("%v: taken as unavailable", err)
		}
	}
}

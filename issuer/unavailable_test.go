package issuer

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
)

type sqlStateErr string

func (e sqlStateErr) Error() string    { return "pq: " + string(e) }
func (e sqlStateErr) SQLState() string { return string(e) }

func TestDatabaseUnavailable(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("store: get user: %w", err) }
	for _, err := range []error{
		wrap(driver.ErrBadConn),
		wrap(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}),
		wrap(sqlStateErr("57P01")), // admin shutdown
		wrap(sqlStateErr("08006")), // connection failure
	} {
		if !databaseUnavailable(err) {
			t.Errorf("%v: not taken as unavailable", err)
		}
	}
	for _, err := range []error{
		wrap(errors.New("syntax error")),
		wrap(sqlStateErr("23505")), // unique violation: a bug or a race, not an outage
	} {
		if databaseUnavailable(err) {
			t.Errorf("%v: taken as unavailable", err)
		}
	}
}

package store

import (
	"net/url"
	"testing"
)

// TestPostgresURLBinaryParameters: statements with parameters go in one
// round trip unless the URL says otherwise.
func TestPostgresURLBinaryParameters(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u@db:5432/signet?sslmode=disable", "yes"},
		{"postgresql://u@db/signet", "yes"},
		{"postgres://u@db/signet?binary_parameters=no", "no"},
	} {
		dialect, dsn, err := parseURL(tc.in)
		if err != nil || dialect != Postgres {
			t.Fatalf("%s: %s %v", tc.in, dialect, err)
		}
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Query().Get("binary_parameters"); got != tc.want {
			t.Errorf("%s: binary_parameters=%q, want %q (dsn %s)", tc.in, got, tc.want, dsn)
		}
		if u.Query().Get("sslmode") == "" && tc.in == "postgres://u@db:5432/signet?sslmode=disable" {
			t.Errorf("%s: sslmode lost: %s", tc.in, dsn)
		}
	}
}

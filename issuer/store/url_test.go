package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/signet-auth/signet/issuer/store"
)

func TestParseURL(t *testing.T) {
	cases := []struct {
		raw           string
		dialect, name string
		path          string
	}{
		{"postgres://postgres@127.0.0.1:5432/signet?sslmode=disable", store.Postgres, "signet", ""},
		{"postgresql://u:p@db/other", store.Postgres, "other", ""},
		// The libpq key=value form is Postgres, as lib/pq reads it.
		{"host=127.0.0.1 user=postgres dbname=x sslmode=disable", store.Postgres, "x", ""},
		{"  dbname = 'with space' host=/run/postgresql", store.Postgres, "with space", ""},
		{"sqlite://./signet-data/signet.db", store.SQLite, "./signet-data/signet.db", "./signet-data/signet.db"},
		{"sqlite:///var/lib/signet/signet.db?cache=shared", store.SQLite, "/var/lib/signet/signet.db", "/var/lib/signet/signet.db"},
	}
	for _, c := range cases {
		t.Run(c.raw, func(t *testing.T) {
			got, err := store.ParseURL(c.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got.Dialect != c.dialect || got.Name != c.name || got.Path != c.path {
				t.Fatalf("got %+v, want dialect %s, name %q, path %q", got, c.dialect, c.name, c.path)
			}
		})
	}
}

// TestParseURLRefuses: only postgres://, the key=value form and sqlite://
// select a database; nothing else becomes an SQLite file by accident.
func TestParseURLRefuses(t *testing.T) {
	for _, raw := range []string{
		"",
		"signet.db",
		"./data/signet.db",
		"file:signet.db",
		"sqlite:signet.db",
		"sqlite://",
		"mysql://root@localhost/signet",
		"host=127.0.0.1 password=two words",
	} {
		t.Run(raw, func(t *testing.T) {
			got, err := store.ParseURL(raw)
			if err == nil {
				t.Fatalf("accepted as %+v", got)
			}
			if !errors.Is(err, store.ErrURL) {
				t.Fatalf("error %v does not wrap ErrURL", err)
			}
			if strings.Contains(err.Error(), "words") {
				t.Fatalf("error %q repeats part of a password", err)
			}
		})
	}
}

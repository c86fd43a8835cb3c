package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// TestStatementTimeoutSetting: every pooled connection carries the
// statement timeout (Postgres statement_timeout, SQLite busy_timeout),
// 5 s by default; a URL that sets statement_timeout keeps its own; zero
// sets none.
func TestStatementTimeoutSetting(t *testing.T) {
	ctx := context.Background()
	setting := func(t *testing.T, db *store.DB) string {
		t.Helper()
		q := `SHOW statement_timeout`
		if db.Dialect() == store.SQLite {
			q = `PRAGMA busy_timeout`
		}
		var v string
		if err := db.SQL().GetContext(ctx, &v, q); err != nil {
			t.Fatal(err)
		}
		return v
	}
	open := func(t *testing.T, u string, opts ...store.Option) *store.DB {
		t.Helper()
		db, err := store.Open(ctx, u, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	for _, tc := range []struct {
		name, dialect, query string
		opts                 []store.Option
		want                 string
	}{
		{"postgres default", store.Postgres, "", nil, "5s"},
		{"postgres option", store.Postgres, "", []store.Option{store.StatementTimeout(1500 * time.Millisecond)}, "1500ms"},
		{"postgres URL", store.Postgres, "&statement_timeout=7000", nil, "7s"},
		{"postgres none", store.Postgres, "", []store.Option{store.StatementTimeout(0)}, "0"},
		{"sqlite default", store.SQLite, "", nil, "5000"},
		{"sqlite option", store.SQLite, "", []store.Option{store.StatementTimeout(1500 * time.Millisecond)}, "1500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := storetest.URL(t, tc.dialect)
			if tc.query != "" {
				u += tc.query
			}
			if got := setting(t, open(t, u, tc.opts...)); got != tc.want {
				t.Fatalf("setting = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDeleteEndedSessionsInBatches: a backlog larger than one batch is
// deleted in one call, and live sessions stay.
func TestDeleteEndedSessionsInBatches(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		if err := db.CreateUser(ctx, issuer.User{ID: "u1", Email: "u1@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		const ended, live = 2500, 3
		var rows []string
		var args []any
		for i := range ended + live {
			idle := now.Add(-time.Hour)
			if i >= ended {
				idle = now.Add(time.Hour)
			}
			rows = append(rows, "(?, 'u1', ?, ?, ?, ?)")
			args = append(args, fmt.Sprintf("s%05d", i), []byte{1}, now.Add(-2*time.Hour).UnixMilli(), idle.UnixMilli(), now.Add(24*time.Hour).UnixMilli())
		}
		if _, err := db.SQL().ExecContext(ctx, db.SQL().Rebind(`INSERT INTO sessions
			(id, user_id, refresh_secret, created_at, idle_expires_at, absolute_expires_at) VALUES `+strings.Join(rows, ",")), args...); err != nil {
			t.Fatal(err)
		}
		n, err := db.DeleteEndedSessions(ctx, now)
		if err != nil || n != ended {
			t.Fatalf("deleted %d (%v), want %d", n, err, ended)
		}
		left, _ := db.SessionsByUser(ctx, "u1")
		if len(left) != live {
			t.Fatalf("%d sessions left, want %d", len(left), live)
		}
	})
}

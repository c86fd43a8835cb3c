package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// TestSpendRefresh: the one-statement rotation moves the counter of a live
// session only, caps the idle expiry at the absolute one, and returns what
// an access token needs.
func TestSpendRefresh(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		if err := db.CreateUser(ctx, issuer.User{ID: "u1", Email: "u1@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		mk := func(id string) issuer.Session {
			s := issuer.Session{
				ID: id, UserID: "u1", RefreshSecret: []byte{1}, CreatedAt: now, RotatedAt: now,
				IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(2 * time.Hour),
				UserAgent: "agent", IP: "192.0.2.1",
			}
			if err := db.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		s1 := mk("s1")
		at := now.Add(30 * time.Minute)
		sess, u, ok, err := db.SpendRefresh(ctx, "s1", 0, at, at.Add(time.Hour))
		if err != nil || !ok {
			t.Fatalf("spend 0: %v %v", ok, err)
		}
		if sess.ID != "s1" || sess.UserID != "u1" || sess.RefreshCounter != 1 || !sess.RotatedAt.Equal(at) ||
			!sess.IdleExpiresAt.Equal(at.Add(time.Hour)) || !sess.AbsoluteExpiresAt.Equal(s1.AbsoluteExpiresAt) ||
			sess.UserAgent != "agent" || sess.RefreshSecret != nil {
			t.Fatalf("session = %+v", sess)
		}
		if u.ID != "u1" || u.Email != "u1@example.com" || !u.CreatedAt.Equal(now) || u.PasswordHash != "" {
			t.Fatalf("user = %+v", u)
		}
		if _, _, ok, _ := db.SpendRefresh(ctx, "s1", 0, at, at.Add(time.Hour)); ok {
			t.Fatal("a stale counter was spent")
		}
		// The idle expiry never passes the absolute one.
		at2 := now.Add(80 * time.Minute)
		sess, _, ok, err = db.SpendRefresh(ctx, "s1", 1, at2, at2.Add(time.Hour))
		if err != nil || !ok || !sess.IdleExpiresAt.Equal(s1.AbsoluteExpiresAt) {
			t.Fatalf("spend 1: %v %v %+v", ok, err, sess)
		}
		// Past the absolute expiry, idle, revoked, unknown: no row.
		if _, _, ok, _ := db.SpendRefresh(ctx, "s1", 2, s1.AbsoluteExpiresAt, s1.AbsoluteExpiresAt.Add(time.Hour)); ok {
			t.Fatal("a session past its maximum age was spent")
		}
		mk("s2")
		if _, _, ok, _ := db.SpendRefresh(ctx, "s2", 0, now.Add(time.Hour), now.Add(2*time.Hour)); ok {
			t.Fatal("an idle session was spent")
		}
		if _, err := db.RevokeSession(ctx, "s2", now, "test"); err != nil {
			t.Fatal(err)
		}
		if _, _, ok, _ := db.SpendRefresh(ctx, "s2", 0, now, now.Add(time.Hour)); ok {
			t.Fatal("a revoked session was spent")
		}
		if _, _, ok, _ := db.SpendRefresh(ctx, "nope", 0, now, now.Add(time.Hour)); ok {
			t.Fatal("an unknown session was spent")
		}
		// Verified email is reported.
		if _, err := db.SQL().Exec(`UPDATE users SET email_verified_at = 1`); err != nil {
			t.Fatal(err)
		}
		mk("s3")
		if _, u, ok, err := db.SpendRefresh(ctx, "s3", 0, now, now.Add(time.Hour)); err != nil || !ok || !u.EmailVerified {
			t.Fatalf("verified user: %v %v %+v", ok, err, u)
		}
	})
}

// TestRefreshMACKeyFirstWriterWins: replicas racing to create the key all
// end up with the one that was stored.
func TestRefreshMACKeyFirstWriterWins(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var wg sync.WaitGroup
		var got [8][]byte
		var failed atomic.Int32
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, err := db.RefreshMACKey(ctx, 1, []byte{byte(i + 1)}, time.Now())
				if err != nil {
					failed.Add(1)
				}
				got[i] = k
			}()
		}
		wg.Wait()
		if failed.Load() != 0 {
			t.Fatal("a replica failed to read the key")
		}
		for i := range got {
			if len(got[i]) != 1 || got[i][0] != got[0][0] {
				t.Fatalf("replica %d got %v, replica 0 %v", i, got[i], got[0])
			}
		}
		if k, err := db.RefreshMACKey(ctx, 1, []byte{99}, time.Now()); err != nil || k[0] != got[0][0] {
			t.Fatalf("later call: %v %v", k, err)
		}
	})
}

// TestSpendRefreshPreparedSurvivesReconnect: SpendRefresh's prepared
// statement goes on working when the connection it was prepared on is
// gone (as after a Postgres restart): it is prepared again on the next.
func TestSpendRefreshPreparedSurvivesReconnect(t *testing.T) {
	db := storetest.Open(t, store.Postgres)
	db.SQL().SetMaxOpenConns(1) // one connection, the one to kill
	ctx := context.Background()
	now := time.UnixMilli(1_700_000_000_000).UTC()
	if err := db.CreateUser(ctx, issuer.User{ID: "u1", Email: "u1@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSession(ctx, issuer.Session{ID: "s1", UserID: "u1", RefreshSecret: []byte{1}, CreatedAt: now, RotatedAt: now,
		IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for i := range uint64(3) {
		if _, _, ok, err := db.SpendRefresh(ctx, "s1", i, now, now.Add(time.Hour)); err != nil || !ok {
			t.Fatalf("spend %d: %v %v", i, ok, err)
		}
		var prepared int
		if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM pg_prepared_statements
			WHERE statement LIKE '%refresh_counter + 1%'`).Scan(&prepared); err != nil || prepared != 1 {
			t.Fatalf("spend %d: prepared statements on the connection: %d %v", i, prepared, err)
		}
		// The server ends the connection (and with it the prepared
		// statement); the error of this query is expected.
		_, _ = db.SQL().ExecContext(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
	}
}

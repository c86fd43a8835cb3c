package store_test

import (
	"context"
	"fmt"
	"strings"
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
		sess, u, _, ok, err := db.SpendRefresh(ctx, "s1", 0, at, at.Add(time.Hour))
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
		if _, _, _, ok, _ := db.SpendRefresh(ctx, "s1", 0, at, at.Add(time.Hour)); ok {
			t.Fatal("a stale counter was spent")
		}
		// The idle expiry never passes the absolute one.
		at2 := now.Add(80 * time.Minute)
		sess, _, _, ok, err = db.SpendRefresh(ctx, "s1", 1, at2, at2.Add(time.Hour))
		if err != nil || !ok || !sess.IdleExpiresAt.Equal(s1.AbsoluteExpiresAt) {
			t.Fatalf("spend 1: %v %v %+v", ok, err, sess)
		}
		// Past the absolute expiry, idle, revoked, unknown: no row.
		if _, _, _, ok, _ := db.SpendRefresh(ctx, "s1", 2, s1.AbsoluteExpiresAt, s1.AbsoluteExpiresAt.Add(time.Hour)); ok {
			t.Fatal("a session past its maximum age was spent")
		}
		mk("s2")
		if _, _, _, ok, _ := db.SpendRefresh(ctx, "s2", 0, now.Add(time.Hour), now.Add(2*time.Hour)); ok {
			t.Fatal("an idle session was spent")
		}
		if _, err := db.RevokeSession(ctx, "s2", now, "test"); err != nil {
			t.Fatal(err)
		}
		if _, _, _, ok, _ := db.SpendRefresh(ctx, "s2", 0, now, now.Add(time.Hour)); ok {
			t.Fatal("a revoked session was spent")
		}
		if _, _, _, ok, _ := db.SpendRefresh(ctx, "nope", 0, now, now.Add(time.Hour)); ok {
			t.Fatal("an unknown session was spent")
		}
		// Verified email is reported.
		if _, err := db.SQL().Exec(`UPDATE users SET email_verified_at = 1`); err != nil {
			t.Fatal(err)
		}
		mk("s3")
		if _, u, _, ok, err := db.SpendRefresh(ctx, "s3", 0, now, now.Add(time.Hour)); err != nil || !ok || !u.EmailVerified {
			t.Fatalf("verified user: %v %v %+v", ok, err, u)
		}
	})
}

// TestCreateRefreshMACKeyOneWinner: replicas racing to make the next
// refresh MAC key: exactly one stores it, the others store nothing; an id
// below the newest is never made (again), and the newest key is never
// deleted.
func TestCreateRefreshMACKeyOneWinner(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		if ok, err := db.CreateRefreshMACKey(ctx, issuer.RefreshMACKey{ID: 1, Sealed: []byte{1}, CreatedAt: now}); err != nil || !ok {
			t.Fatalf("key 1: %v %v", ok, err)
		}
		var wg sync.WaitGroup
		var won, failed atomic.Int32
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := db.CreateRefreshMACKey(ctx, issuer.RefreshMACKey{ID: 2, Sealed: []byte{byte(10 + i)}, CreatedAt: now})
				if err != nil {
					failed.Add(1)
				}
				if ok {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		if failed.Load() != 0 || won.Load() != 1 {
			t.Fatalf("%d replicas made key 2, %d failed", won.Load(), failed.Load())
		}
		ks, err := db.RefreshMACKeys(ctx)
		if err != nil || len(ks) != 2 || ks[0].ID != 1 || ks[1].ID != 2 || !ks[0].CreatedAt.Equal(now) || ks[1].Sealed[0] < 10 {
			t.Fatalf("keys: %+v %v", ks, err)
		}
		// The newest key stays whatever is asked.
		if n, err := db.DeleteRefreshMACKeys(ctx, []uint32{1, 2}); err != nil || n != 1 {
			t.Fatalf("delete: %d %v", n, err)
		}
		// Key 1 was used: it is not made again, even though its id is free.
		if ok, err := db.CreateRefreshMACKey(ctx, issuer.RefreshMACKey{ID: 1, Sealed: []byte{2}, CreatedAt: now}); err != nil || ok {
			t.Fatalf("key 1 made again: %v %v", ok, err)
		}
		if ks, _ := db.RefreshMACKeys(ctx); len(ks) != 1 || ks[0].ID != 2 {
			t.Fatalf("keys after the delete: %+v", ks)
		}
	})
}

// TestSpendRefreshRoles: the one statement of a refresh returns the user's
// roles, sorted, and an empty list for a user with none.
func TestSpendRefreshRoles(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := db.CreateUser(ctx, issuer.User{ID: "u1", Email: "a@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateSession(ctx, issuer.Session{ID: "s1", UserID: "u1", CreatedAt: now, RotatedAt: now,
			IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		_, _, roles, ok, err := db.SpendRefresh(ctx, "s1", 0, now, now.Add(time.Hour))
		if err != nil || !ok || roles == nil || len(roles) != 0 {
			t.Fatalf("no roles: %v %v %#v", ok, err, roles)
		}
		for _, r := range []string{"zeta", "admin", "ops:read"} {
			if _, err := db.AddUserRole(ctx, "u1", r, now.UnixMilli()); err != nil {
				t.Fatal(err)
			}
		}
		_, _, roles, ok, err = db.SpendRefresh(ctx, "s1", 1, now, now.Add(time.Hour))
		if err != nil || !ok || strings.Join(roles, ",") != "admin,ops:read,zeta" {
			t.Fatalf("roles: %v %v %#v", ok, err, roles)
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
		if _, _, _, ok, err := db.SpendRefresh(ctx, "s1", i, now, now.Add(time.Hour)); err != nil || !ok {
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

// TestSpendRefreshConcurrentReplicas: two replicas on one database, each
// refreshing every session three times at once per round with the same
// counter (as racing tabs do), many sessions at a time so that Postgres
// spends them in groups: exactly one refresh per session and round wins,
// with that session's own row and user; a revoked session, one past its
// idle expiry and one of a disabled user never win; no call fails.
func TestSpendRefreshConcurrentReplicas(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			u := storetest.URL(t, dialect)
			var dbs []*store.DB
			for range 2 {
				db, err := store.Open(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				dbs = append(dbs, db)
			}
			if err := dbs[0].MigrateUp(); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			now := time.UnixMilli(1_700_000_000_000).UTC()
			const users, live, rounds = 4, 24, 6
			for i := range users {
				if err := dbs[0].CreateUser(ctx, issuer.User{ID: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@example.com", i), PasswordHash: "h", CreatedAt: now}); err != nil {
					t.Fatal(err)
				}
			}
			mk := func(id, user string, idle time.Duration) {
				if err := dbs[0].CreateSession(ctx, issuer.Session{ID: id, UserID: user, CreatedAt: now, RotatedAt: now,
					IdleExpiresAt: now.Add(idle), AbsoluteExpiresAt: now.Add(24 * time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range live {
				mk(fmt.Sprintf("s%02d", i), fmt.Sprintf("u%d", i%(users-1)), time.Hour)
			}
			mk("revoked", "u0", time.Hour)
			mk("idle", "u0", time.Minute)
			mk("disabled", fmt.Sprintf("u%d", users-1), time.Hour)
			if _, err := dbs[0].RevokeSession(ctx, "revoked", now, "test"); err != nil {
				t.Fatal(err)
			}
			if _, err := dbs[0].SQL().Exec(dbs[0].SQL().Rebind(`UPDATE users SET disabled_at = ? WHERE id = ?`), now.UnixMilli(), fmt.Sprintf("u%d", users-1)); err != nil {
				t.Fatal(err)
			}
			ids := []string{"revoked", "idle", "disabled"}
			for i := range live {
				ids = append(ids, fmt.Sprintf("s%02d", i))
			}
			at := now.Add(10 * time.Minute)
			for round := range uint64(rounds) {
				var wg sync.WaitGroup
				var mu sync.Mutex
				wins := map[string]int{}
				var failures []string
				for k, id := range ids {
					for j := range 3 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							sess, u, _, ok, err := dbs[(k+j)%2].SpendRefresh(ctx, id, round, at, at.Add(time.Hour))
							mu.Lock()
							defer mu.Unlock()
							switch {
							case err != nil:
								failures = append(failures, fmt.Sprintf("%s: %v", id, err))
							case ok && (sess.ID != id || sess.RefreshCounter != round+1 || u.ID != sess.UserID || u.Email != u.ID+"@example.com"):
								failures = append(failures, fmt.Sprintf("%s won with %+v %+v", id, sess, u))
							case ok:
								wins[id]++
							}
						}()
					}
				}
				wg.Wait()
				if len(failures) > 0 {
					t.Fatalf("round %d: %s", round, strings.Join(failures, "; "))
				}
				for _, id := range ids {
					want := 1
					if id == "revoked" || id == "idle" || id == "disabled" {
						want = 0
					}
					if wins[id] != want {
						t.Fatalf("round %d: session %s won %d times, want %d", round, id, wins[id], want)
					}
				}
			}
			for _, id := range ids[3:] {
				s, _, err := dbs[1].SessionWithUser(ctx, id)
				if err != nil || s.RefreshCounter != rounds {
					t.Fatalf("session %s: counter %d, %v", id, s.RefreshCounter, err)
				}
			}
			if dialect == store.Postgres {
				var statements, rows uint64
				for _, db := range dbs {
					s, r := db.SpendGroups()
					statements, rows = statements+s, rows+r
				}
				if rows != uint64(len(ids)*3*rounds) || statements >= rows {
					t.Fatalf("%d refreshes in %d statements: no group formed", rows, statements)
				}
				t.Logf("%d refreshes in %d statements", rows, statements)
			}
		})
	}
}

// TestSpendGroupNeverWaits: a group leaves out a session another
// transaction holds instead of waiting for it (so a group is in no
// deadlock, whatever order it meets its rows in, and no slow transaction
// holds up the others): with session "m" held, a group of "z", "m" and
// "a" spends "z" and "a" at once and not "m", which is spent once free.
func TestSpendGroupNeverWaits(t *testing.T) {
	db := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	now := time.UnixMilli(1_700_000_000_000).UTC()
	if err := db.CreateUser(ctx, issuer.User{ID: "u1", Email: "u1@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"z", "m", "a"} {
		if err := db.CreateSession(ctx, issuer.Session{ID: id, UserID: "u1", CreatedAt: now, RotatedAt: now,
			IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	holder, err := db.SQL().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, `SELECT id FROM sessions WHERE id = 'm' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		won []bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		won, err := db.SpendGroupForTest([]string{"z", "m", "a"}, []uint64{0, 0, 0}, now, now.Add(time.Hour))
		done <- result{won, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the group waited for the session another transaction holds")
	}
	if r.err != nil || len(r.won) != 3 || !r.won[0] || r.won[1] || !r.won[2] {
		t.Fatalf("group with m held: %v %v, want [true false true]", r.won, r.err)
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok, err := db.SpendRefresh(ctx, "m", 0, now, now.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("m once free: %v %v", ok, err)
	}
	if won, err := db.SpendGroupForTest([]string{"z", "m", "a"}, []uint64{1, 1, 1}, now, now.Add(time.Hour)); err != nil ||
		!won[0] || !won[1] || !won[2] {
		t.Fatalf("next group: %v %v", won, err)
	}
}

// Package conformance is the test suite every Signet store passes. A
// backend's tests call RunTests with a constructor of fresh stores; the
// suite uses only the interfaces the services and the key lifecycle use,
// so it holds any backend to the same behaviour: unique emails, not-found
// errors, compare-and-swap rotation under contention, revocation, and the
// key store's one-active-key rule.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/keys"
)

// Store is what a backend provides.
type Store interface {
	issuer.Store
	keys.Store
}

// RunTests runs the suite; newStore returns a fresh, empty store (schema
// applied) for each subtest.
func RunTests(t *testing.T, newStore func(t *testing.T) Store) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"RotateRefreshRace", testRotateRefreshRace},
		{"Keys", testKeys},
		{"AuditEvents", testAuditEvents},
		{"MailRecipientCount", testMailRecipientCount},
		{"AuthorizationCodes", testAuthCodes},
		{"BrowserSessions", testBrowserSessions},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

var epoch = time.UnixMilli(1_700_000_000_123).UTC()

func testUsers(t *testing.T, s Store) {
	ctx := context.Background()
	u := issuer.User{ID: "u1", Email: "ann@example.com", PasswordHash: "$2a$04$x", CreatedAt: epoch}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	dup := issuer.User{ID: "u2", Email: "ANN@example.com", PasswordHash: "h", CreatedAt: epoch}
	if err := s.CreateUser(ctx, dup); !errors.Is(err, issuer.ErrEmailTaken) {
		t.Fatalf("duplicate email (other case): got %v, want ErrEmailTaken", err)
	}
	got, err := s.UserByEmail(ctx, "Ann@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got != u {
		t.Fatalf("UserByEmail = %+v, want %+v", got, u)
	}
	if got, err = s.UserByID(ctx, "u1"); err != nil || got != u {
		t.Fatalf("UserByID = %+v, %v", got, err)
	}
	if _, err := s.UserByEmail(ctx, "bob@example.com"); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("unknown email: got %v, want ErrNotFound", err)
	}
	if _, err := s.UserByID(ctx, "nobody"); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("unknown id: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "u1"); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("delete twice: got %v, want ErrNotFound", err)
	}
	// The address is free again once its account is gone.
	if err := s.CreateUser(ctx, dup); err != nil {
		t.Fatalf("sign-up after deletion: %v", err)
	}
}

func testSessions(t *testing.T, s Store) {
	ctx := context.Background()
	now := epoch.Truncate(time.Millisecond)
	for _, id := range []string{"u1", "u2"} {
		if err := s.CreateUser(ctx, issuer.User{ID: id, Email: id + "@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(id, user string) issuer.Session {
		return issuer.Session{
			ID: id, UserID: user, RefreshSecret: []byte{1, 2, 3, 0, 255}, CreatedAt: now, RotatedAt: now,
			IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour),
			UserAgent: "test-agent", IP: "192.0.2.1",
		}
	}
	s1 := mk("s1", "u1")
	for _, x := range []issuer.Session{s1, mk("s2", "u1"), mk("s3", "u1"), mk("s4", "u2")} {
		if err := s.CreateSession(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	got, u, err := s.SessionWithUser(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "u1" || u.Email != "u1@example.com" || !u.CreatedAt.Equal(now) {
		t.Fatalf("user = %+v", u)
	}
	if got.ID != "s1" || got.UserID != "u1" || string(got.RefreshSecret) != string(s1.RefreshSecret) ||
		got.RefreshCounter != 0 || !got.IdleExpiresAt.Equal(s1.IdleExpiresAt) || !got.AbsoluteExpiresAt.Equal(s1.AbsoluteExpiresAt) ||
		got.Revoked() || got.UserAgent != "test-agent" || got.IP != "192.0.2.1" {
		t.Fatalf("session = %+v", got)
	}
	if _, _, err := s.SessionWithUser(ctx, "nope"); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}

	// Compare-and-swap: only the holder of the current counter moves it.
	later := now.Add(time.Minute)
	if ok, err := s.RotateRefresh(ctx, "s1", 0, later, later.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("rotate 0->1: %v %v", ok, err)
	}
	if ok, _ := s.RotateRefresh(ctx, "s1", 0, later, later.Add(time.Hour)); ok {
		t.Fatal("a stale counter rotated")
	}
	got, _, _ = s.SessionWithUser(ctx, "s1")
	if got.RefreshCounter != 1 || !got.RotatedAt.Equal(later) || !got.IdleExpiresAt.Equal(later.Add(time.Hour)) {
		t.Fatalf("after rotation: %+v", got)
	}

	if ok, err := s.RevokeSession(ctx, "s1", later, "signout"); err != nil || !ok {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	if ok, _ := s.RevokeSession(ctx, "s1", later, "signout"); ok {
		t.Fatal("revoked twice")
	}
	if ok, _ := s.RotateRefresh(ctx, "s1", 1, later, later); ok {
		t.Fatal("a revoked session rotated")
	}
	got, _, _ = s.SessionWithUser(ctx, "s1")
	if !got.Revoked() || got.RevokedReason != "signout" || !got.RevokedAt.Equal(later) {
		t.Fatalf("revoked session: %+v", got)
	}

	// All but s2 of u1's live sessions; u2's are untouched.
	if n, err := s.RevokeUserSessions(ctx, "u1", "s2", later, "signout_others"); err != nil || n != 1 {
		t.Fatalf("revoke others: %d %v", n, err)
	}
	if x, _, _ := s.SessionWithUser(ctx, "s2"); x.Revoked() {
		t.Fatal("the kept session was revoked")
	}
	if n, _ := s.RevokeUserSessions(ctx, "u1", "", later, "signout_global"); n != 1 {
		t.Fatalf("revoke global: %d, want 1 (s2)", n)
	}
	for _, id := range []string{"s1", "s2", "s3"} {
		if x, _, _ := s.SessionWithUser(ctx, id); !x.Revoked() {
			t.Fatalf("u1 session %s still live", id)
		}
	}
	if s4, _, _ := s.SessionWithUser(ctx, "s4"); s4.Revoked() {
		t.Fatal("another user's session was revoked")
	}
	// Deleting a user takes their sessions with them.
	if err := s.DeleteUser(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionWithUser(ctx, "s4"); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("session of a deleted user: %v", err)
	}
}

// testRotateRefreshRace checks that exactly one of many concurrent
// compare-and-swaps on one counter wins.
func testRotateRefreshRace(t *testing.T, s Store) {
	ctx := context.Background()
	now := epoch
	if err := s.CreateUser(ctx, issuer.User{ID: "u1", Email: "a@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	sess := issuer.Session{ID: "s1", UserID: "u1", RefreshSecret: []byte{1}, CreatedAt: now, IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.RotateRefresh(ctx, "s1", 0, now, now.Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d winners, want 1", wins.Load())
	}
}

func testKeys(t *testing.T, s Store) {
	ctx := context.Background()
	sealer, _ := keys.NewSealer(make([]byte, 32))
	now := time.UnixMilli(1_700_000_000_000).UTC()
	k1, err := keys.Generate(keys.EdDSA, 0, keys.StateActive, now, now, sealer)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := keys.Generate(keys.EdDSA, 0, keys.StateActive, now.Add(time.Second), now, sealer)
	err = s.UpdateKeys(ctx, func(tx keys.KeyTx) error {
		if err := tx.InsertKey(ctx, k1); err != nil {
			return err
		}
		return tx.RecordKeyEvent(ctx, now, "key_created_active", k1)
	})
	if err != nil {
		t.Fatal(err)
	}
	// A second active key of the same algorithm breaks the store's rule.
	err = s.UpdateKeys(ctx, func(tx keys.KeyTx) error { return tx.InsertKey(ctx, k2) })
	if err == nil {
		t.Fatal("two active EdDSA keys were accepted")
	}
	ks, err := s.ListKeys(ctx)
	if err != nil || len(ks) != 1 {
		t.Fatalf("ListKeys = %v, %v (the failed transaction must leave nothing)", ks, err)
	}
	got := ks[0]
	if got.KID != k1.KID || got.State != keys.StateActive || !got.CreatedAt.Equal(now) || string(got.PrivateKey) != string(k1.PrivateKey) {
		t.Fatalf("stored key = %+v", got)
	}
	got.State, got.RetiresAt, got.RemoveAt = keys.StateRetired, now, now.Add(time.Hour)
	if err := s.UpdateKeys(ctx, func(tx keys.KeyTx) error { return tx.UpdateKey(ctx, got) }); err != nil {
		t.Fatal(err)
	}
	ks, _ = s.ListKeys(ctx)
	if ks[0].State != keys.StateRetired || !ks[0].RemoveAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("after update: %+v", ks[0])
	}
	// An error inside the transaction rolls all of it back.
	boom := errors.New("boom")
	err = s.UpdateKeys(ctx, func(tx keys.KeyTx) error {
		if err := tx.InsertKey(ctx, k2); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateKeys returned %v, want the function's error", err)
	}
	if ks, _ = s.ListKeys(ctx); len(ks) != 1 {
		t.Fatalf("%d keys after a rolled-back insert, want 1", len(ks))
	}
}

func testAuditEvents(t *testing.T, s Store) {
	ctx := context.Background()
	for _, e := range []issuer.AuditEvent{
		{At: epoch, Type: "signin", UserID: "u1", SessionID: "s1", IP: "127.0.0.1", Detail: map[string]string{"k": "v"}},
		{At: epoch, Type: "signup"}, // no user, session, address or detail
	} {
		if err := s.RecordEvent(ctx, e); err != nil {
			t.Fatalf("RecordEvent(%s): %v", e.Type, err)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// testMailRecipientCount: transactions that count a recipient's mail and
// queue one more only under a limit, all at once, queue exactly the limit
// (the count of one sees what an earlier one queued, whatever the
// isolation level).
func testMailRecipientCount(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.CreateUser(ctx, issuer.User{ID: "u1", Email: "a@example.com", PasswordHash: "h", CreatedAt: epoch}); err != nil {
		t.Fatal(err)
	}
	const limit, callers = 3, 8
	kinds := []issuer.MailKind{issuer.MailPasswordReset}
	since := epoch.Add(-time.Hour)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.AccountTx(ctx, func(tx issuer.AccountTx) error {
				n, err := tx.CountMail(ctx, "a@example.com", kinds, since)
				if err != nil || n >= limit {
					return err
				}
				time.Sleep(20 * time.Millisecond) // widen the window between count and insert
				return tx.EnqueueMail(ctx, issuer.OutboxMail{ID: fmt.Sprintf("m%d", i), UserID: "u1", Kind: issuer.MailPasswordReset,
					Recipient: "a@example.com", Body: []byte("x"), CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour), NextAttemptAt: epoch})
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var n int
	if err := s.AccountTx(ctx, func(tx issuer.AccountTx) (err error) {
		n, err = tx.CountMail(ctx, "a@example.com", kinds, since)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != limit {
		t.Fatalf("%d messages queued by %d concurrent callers, want the limit %d", n, callers, limit)
	}
}

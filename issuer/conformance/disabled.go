package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
)

// testDisabledUsers: a disabled user starts no session and spends no
// refresh token, and a disabling is one transaction: the flag, the
// revoked sessions and the subject revocation event commit together or
// not at all.
func testDisabledUsers(t *testing.T, s Store) {
	ctx := context.Background()
	now := epoch.Truncate(time.Millisecond)
	feed, ok := s.(issuer.RevocationFeedStore)
	if !ok {
		t.Fatal("the store does not serve the revocation feed")
	}
	for _, id := range []string{"u1", "u2"} {
		if err := s.CreateUser(ctx, issuer.User{ID: id, Email: id + "@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(id, user string) issuer.Session {
		return issuer.Session{ID: id, UserID: user, RefreshSecret: []byte{1}, CreatedAt: now, RotatedAt: now,
			IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour)}
	}
	for _, x := range []issuer.Session{mk("s1", "u1"), mk("s2", "u1"), mk("s3", "u2")} {
		if err := s.CreateSession(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSession(ctx, mk("s0", "nobody")); !errors.Is(err, issuer.ErrUserDisabled) {
		t.Fatalf("session of an unknown user: %v, want ErrUserDisabled", err)
	}

	// A rolled-back disabling leaves nothing behind.
	boom := errors.New("boom")
	err := s.AccountTx(ctx, func(tx issuer.AccountTx) error {
		if ok, err := tx.SetUserDisabled(ctx, "u1", true, now); err != nil || !ok {
			return fmt.Errorf("disable: %v %v", ok, err)
		}
		if _, err := tx.RevokeUserSessions(ctx, "u1", "", now, "account_disabled"); err != nil {
			return err
		}
		if err := tx.RevokeSubject(ctx, "u1", now); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("rolled-back disabling: %v", err)
	}
	if u, err := s.UserByID(ctx, "u1"); err != nil || u.Disabled() {
		t.Fatalf("after a rollback: %+v %v", u, err)
	}
	if x, _, _ := s.SessionWithUser(ctx, "s1"); x.Revoked() {
		t.Fatal("a rolled-back disabling revoked a session")
	}
	if evs, err := feed.RevocationsAfter(ctx, 0, now, 10); err != nil || len(evs) != 0 {
		t.Fatalf("a rolled-back disabling left events: %+v %v", evs, err)
	}

	disabledAt := now.Add(time.Minute)
	var revoked int64
	err = s.AccountTx(ctx, func(tx issuer.AccountTx) error {
		if ok, err := tx.SetUserDisabled(ctx, "u1", true, disabledAt); err != nil || !ok {
			return fmt.Errorf("disable: %v %v", ok, err)
		}
		var err error
		if revoked, err = tx.RevokeUserSessions(ctx, "u1", "", disabledAt, "account_disabled"); err != nil {
			return err
		}
		return tx.RevokeSubject(ctx, "u1", disabledAt)
	})
	if err != nil || revoked != 2 {
		t.Fatalf("disable: %d sessions revoked, %v", revoked, err)
	}
	u, err := s.UserByID(ctx, "u1")
	if err != nil || !u.Disabled() || !u.DisabledAt.Equal(disabledAt) {
		t.Fatalf("disabled user: %+v %v", u, err)
	}
	if u, err := s.UserByEmail(ctx, "u1@example.com"); err != nil || !u.DisabledAt.Equal(disabledAt) {
		t.Fatalf("disabled user by email: %+v %v", u, err)
	}
	if x, u, err := s.SessionWithUser(ctx, "s1"); err != nil || !x.Revoked() || x.RevokedReason != "account_disabled" || !u.Disabled() {
		t.Fatalf("session of the disabled user: %+v %+v %v", x, u, err)
	}
	evs, err := feed.RevocationsAfter(ctx, 0, disabledAt, 10)
	if err != nil || len(evs) != 3 {
		t.Fatalf("events after the disabling: %+v %v", evs, err)
	}
	kinds := map[issuer.RevocationKind][]string{}
	for _, e := range evs {
		kinds[e.Kind] = append(kinds[e.Kind], e.Subject)
		if !e.RevokedAt.Equal(disabledAt) {
			t.Fatalf("event %+v: revoked at %s, want %s", e, e.RevokedAt, disabledAt)
		}
	}
	if len(kinds[issuer.RevokedSession]) != 2 || len(kinds[issuer.RevokedSubject]) != 1 || kinds[issuer.RevokedSubject][0] != "u1" {
		t.Fatalf("events by kind: %v", kinds)
	}
	if err := s.CreateSession(ctx, mk("s4", "u1")); !errors.Is(err, issuer.ErrUserDisabled) {
		t.Fatalf("session of a disabled user: %v, want ErrUserDisabled", err)
	}
	if _, _, err := s.SessionWithUser(ctx, "s4"); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("the refused session was stored: %v", err)
	}

	// Disabling twice changes nothing; an unknown user is not found.
	err = s.AccountTx(ctx, func(tx issuer.AccountTx) error {
		if ok, err := tx.SetUserDisabled(ctx, "u1", true, now.Add(time.Hour)); err != nil || ok {
			return fmt.Errorf("disable twice: %v %v", ok, err)
		}
		if _, err := tx.SetUserDisabled(ctx, "nobody", true, now); !errors.Is(err, issuer.ErrNotFound) {
			return fmt.Errorf("disable an unknown user: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := s.UserByID(ctx, "u1"); !u.DisabledAt.Equal(disabledAt) {
		t.Fatalf("disabling twice moved the time: %+v", u)
	}

	// A live session of a user disabled without revoking it (as a session
	// started in a race would be) spends no refresh token.
	err = s.AccountTx(ctx, func(tx issuer.AccountTx) error {
		_, err := tx.SetUserDisabled(ctx, "u2", true, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok, err := s.SpendRefresh(ctx, "s3", 0, now, now.Add(time.Hour)); err != nil || ok {
		t.Fatalf("refresh of a disabled user's live session: %v %v", ok, err)
	}

	// Enabling: sessions start and refresh again; revoked ones stay so.
	err = s.AccountTx(ctx, func(tx issuer.AccountTx) error {
		for _, id := range []string{"u1", "u2"} {
			if ok, err := tx.SetUserDisabled(ctx, id, false, now.Add(2*time.Minute)); err != nil || !ok {
				return fmt.Errorf("enable %s: %v %v", id, ok, err)
			}
		}
		if ok, err := tx.SetUserDisabled(ctx, "u1", false, now); err != nil || ok {
			return fmt.Errorf("enable twice: %v %v", ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := s.UserByID(ctx, "u1"); u.Disabled() {
		t.Fatalf("enabled user: %+v", u)
	}
	if err := s.CreateSession(ctx, mk("s5", "u1")); err != nil {
		t.Fatalf("session after enabling: %v", err)
	}
	if _, _, _, ok, err := s.SpendRefresh(ctx, "s3", 0, now, now.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("refresh after enabling: %v %v", ok, err)
	}
	if x, _, _ := s.SessionWithUser(ctx, "s1"); !x.Revoked() {
		t.Fatal("enabling reopened a revoked session")
	}
}

// testDisableRace: sessions started while a disabling commits are either
// refused or revoked by it; none is left live.
func testDisableRace(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.CreateUser(ctx, issuer.User{ID: "u1", Email: "u1@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	const n = 24
	created := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			created[i] = s.CreateSession(ctx, issuer.Session{ID: fmt.Sprintf("s%d", i), UserID: "u1", RefreshSecret: []byte{1},
				CreatedAt: now, RotatedAt: now, IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour)})
		})
	}
	var disableErr error
	wg.Go(func() {
		<-start
		disableErr = s.AccountTx(ctx, func(tx issuer.AccountTx) error {
			if _, err := tx.SetUserDisabled(ctx, "u1", true, now); err != nil {
				return err
			}
			if _, err := tx.RevokeUserSessions(ctx, "u1", "", now, "account_disabled"); err != nil {
				return err
			}
			return tx.RevokeSubject(ctx, "u1", now)
		})
	})
	close(start)
	wg.Wait()
	if disableErr != nil {
		t.Fatal(disableErr)
	}
	for i, err := range created {
		id := fmt.Sprintf("s%d", i)
		x, _, getErr := s.SessionWithUser(ctx, id)
		switch {
		case errors.Is(err, issuer.ErrUserDisabled):
			if !errors.Is(getErr, issuer.ErrNotFound) {
				t.Errorf("%s was refused but stored: %v", id, getErr)
			}
		case err != nil:
			t.Errorf("%s: %v", id, err)
		case getErr != nil || !x.Revoked():
			t.Errorf("%s was created beside the disabling and is still live: %+v %v", id, x, getErr)
		}
	}
}

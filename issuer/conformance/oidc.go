package conformance

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
)

// testAuthCodes: a code is spent once even when redemptions race; later
// redemptions are replays that see the session the first one attached
// (and the first redemption learns of a replay that came before it
// attached); codes expired long enough are purged; unknown codes are
// ErrNotFound.
func testAuthCodes(t *testing.T, s Store) {
	ctx := context.Background()
	now := epoch.Truncate(time.Millisecond)
	if err := s.CreateUser(ctx, issuer.User{ID: "u1", Email: "u1@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	c := issuer.AuthCode{
		Hash: []byte{1, 2, 3, 0, 255}, ClientID: "app", UserID: "u1", RedirectURI: "https://app.example/cb",
		CodeChallenge: "challenge", Scope: "openid email", Resource: "https://api.example", Nonce: "n-0S6",
		AuthTime: now.Add(-time.Minute), CreatedAt: now, ExpiresAt: now.Add(time.Minute),
	}
	if err := s.CreateAuthCode(ctx, c, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RedeemAuthCode(ctx, []byte("nope"), now); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("unknown code: %v, want ErrNotFound", err)
	}
	var firsts atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, first, err := s.RedeemAuthCode(ctx, c.Hash, now)
			if err != nil {
				t.Error(err)
				return
			}
			if first {
				firsts.Add(1)
			}
			if !reflect.DeepEqual(got, c) {
				t.Errorf("redeemed %+v, want %+v", got, c)
			}
		}()
	}
	wg.Wait()
	if firsts.Load() != 1 {
		t.Fatalf("%d first redemptions of one code, want 1", firsts.Load())
	}
	// The replays came before the session was attached: the first
	// redemption learns of them.
	if replayed, err := s.AttachCodeSession(ctx, c.Hash, "sess-1"); err != nil || !replayed {
		t.Fatalf("attach after replays: %v %v, want replayed", replayed, err)
	}
	got, first, err := s.RedeemAuthCode(ctx, c.Hash, now)
	if err != nil || first || got.SessionID != "sess-1" {
		t.Fatalf("replay after attach: %+v %v %v", got, first, err)
	}

	// A code never replayed: attach says so.
	c2 := c
	c2.Hash = []byte{9}
	if err := s.CreateAuthCode(ctx, c2, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, first, err := s.RedeemAuthCode(ctx, c2.Hash, now); err != nil || !first {
		t.Fatal(first, err)
	}
	if replayed, err := s.AttachCodeSession(ctx, c2.Hash, "sess-2"); err != nil || replayed {
		t.Fatalf("attach: %v %v, want not replayed", replayed, err)
	}

	// A later creation purges what expired before its purge time.
	c3 := c
	c3.Hash = []byte{10}
	if err := s.CreateAuthCode(ctx, c3, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, h := range [][]byte{c.Hash, c2.Hash} {
		if _, _, err := s.RedeemAuthCode(ctx, h, now); !errors.Is(err, issuer.ErrNotFound) {
			t.Fatalf("purged code: %v, want ErrNotFound", err)
		}
	}
	// Deleting the user deletes their codes.
	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RedeemAuthCode(ctx, c3.Hash, now); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("code of a deleted user: %v, want ErrNotFound", err)
	}
}

// testBrowserSessions: found by hash until expiry, deleted once; revoking
// a user's sessions, every one or all but one, ends their browser
// sessions.
func testBrowserSessions(t *testing.T, s Store) {
	ctx := context.Background()
	now := epoch.Truncate(time.Millisecond)
	for _, id := range []string{"u1", "u2"} {
		if err := s.CreateUser(ctx, issuer.User{ID: id, Email: id + "@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(h byte, user string) issuer.BrowserSession {
		return issuer.BrowserSession{Hash: []byte{h, 0, 255}, UserID: user, AuthTime: now.Add(-time.Second), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	b1, b2, b3 := mk(1, "u1"), mk(2, "u1"), mk(3, "u2")
	for _, b := range []issuer.BrowserSession{b1, b2, b3} {
		if err := s.CreateBrowserSession(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.BrowserSession(ctx, b1.Hash, now)
	if err != nil || !reflect.DeepEqual(got, b1) {
		t.Fatalf("BrowserSession = %+v %v, want %+v", got, err, b1)
	}
	if _, err := s.BrowserSession(ctx, b1.Hash, b1.ExpiresAt); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("at expiry: %v, want ErrNotFound", err)
	}
	if ok, err := s.DeleteBrowserSession(ctx, b2.Hash); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if ok, err := s.DeleteBrowserSession(ctx, b2.Hash); err != nil || ok {
		t.Fatalf("delete twice: %v %v", ok, err)
	}
	if _, err := s.RevokeUserSessions(ctx, "u1", "keep-this", now, "signout_others"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BrowserSession(ctx, b1.Hash, now); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("after revoking all but one session: %v, want ErrNotFound (a browser session would start new ones)", err)
	}
	b4 := mk(4, "u1")
	if err := s.CreateBrowserSession(ctx, b4); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeUserSessions(ctx, "u1", "", now, "signout_global"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BrowserSession(ctx, b4.Hash, now); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("after revoking every session: %v, want ErrNotFound", err)
	}
	if _, err := s.BrowserSession(ctx, b3.Hash, now); err != nil {
		t.Fatalf("another user's browser session: %v", err)
	}
	if err := s.DeleteUser(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BrowserSession(ctx, b3.Hash, now); !errors.Is(err, issuer.ErrNotFound) {
		t.Fatalf("browser session of a deleted user: %v, want ErrNotFound", err)
	}
}

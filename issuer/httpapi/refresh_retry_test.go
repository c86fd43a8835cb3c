package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// A retry comes after the 10 s reuse grace, as it did after a 12.5 s
// network fault.
const lateRetry = 12500 * time.Millisecond

func (s *countingStore) ReissueRefresh(ctx context.Context, id string, counter uint64) (bool, error) {
	s.n.Add(1)
	return s.DB.ReissueRefresh(ctx, id, counter)
}

// wantReused checks that a refresh token is refused and that its session
// was revoked as stolen, with the audit event.
func (e *env) wantReused(rt string, tk tokens) {
	e.t.Helper()
	resp, body := e.refresh(rt)
	wantError(e.t, resp, body, http.StatusUnauthorized, "invalid_grant")
	s := e.sessionOf(tk)
	if !s.Revoked() || s.RevokedReason != "refresh_token_reused" {
		e.t.Fatalf("session after the reuse: revoked %v, reason %q", s.Revoked(), s.RevokedReason)
	}
	if e.me(tk.AccessToken) {
		e.t.Fatal("an access token of the revoked session still works")
	}
	ev, _ := e.db.Events(context.Background(), "refresh_token_reused")
	if len(ev) != 1 || *ev[0].SessionID != s.ID {
		e.t.Fatalf("refresh_token_reused events = %+v", ev)
	}
}

// TestRefreshRetryAfterLostReply: the rotation committed but its reply was
// lost; the client retries with the same token after the grace and must
// get the same successor, not a sign-out.
func TestRefreshRetryAfterLostReply(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		t0 := e.signin("ann@example.com", "correct horse")
		e.clock.Advance(time.Minute)
		lost := e.mustRefresh(t0.RefreshToken) // never reaches the client

		e.clock.Advance(lateRetry)
		before := e.store.calls()
		retry := e.mustRefresh(t0.RefreshToken)
		if retry.RefreshToken != lost.RefreshToken {
			t.Fatal("the retry got a different successor")
		}
		if n := e.store.calls() - before; n != 5 {
			t.Fatalf("a late retry took %d round trips, want 5 (failed spend, read, mark, audit event, the user's roles)", n)
		}
		if !e.me(retry.AccessToken) {
			t.Fatal("the retry's access token does not work")
		}
		// The retry's own reply may be lost too: a second retry, much later.
		e.clock.Advance(time.Hour)
		again := e.mustRefresh(t0.RefreshToken)
		if again.RefreshToken != lost.RefreshToken {
			t.Fatal("a second retry got a different successor")
		}
		s := e.sessionOf(retry)
		if s.Revoked() || s.RefreshCounter != 1 {
			t.Fatalf("session after the retries: %+v", s)
		}
		if ev, _ := db.Events(context.Background(), "refresh_token_retried"); len(ev) != 2 || *ev[0].SessionID != s.ID {
			t.Fatalf("refresh_token_retried events = %+v", ev)
		}

		// The client goes on with the successor; from then on the first
		// token is two rotations old, and presenting it is theft.
		e.clock.Advance(time.Minute)
		next := e.mustRefresh(again.RefreshToken)
		e.clock.Advance(time.Minute)
		e.wantReused(t0.RefreshToken, next)
	})
}

// TestRefreshRetryWindowEnds: a retry of a token whose successor has gone
// unpresented for longer than a day is reuse.
func TestRefreshRetryWindowEnds(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		t0 := e.signin("ann@example.com", "correct horse")
		t1 := e.mustRefresh(t0.RefreshToken)
		e.clock.Advance(24*time.Hour + time.Second)
		e.wantReused(t0.RefreshToken, t1)
	})
}

// TestRefreshTheftStillDetected: the retry allowance must not let two
// holders of one token share a session.
func TestRefreshTheftStillDetected(t *testing.T) {
	signin := func(t *testing.T, db *store.DB) (*env, tokens) {
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		return e, e.signin("ann@example.com", "correct horse")
	}
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			// A used T0 (got T1) and then T1 (got T2): T0 is spent and its
			// successor presented, so T0 is stolen, inside the grace or not.
			for _, wait := range []time.Duration{time.Second, lateRetry, time.Hour} {
				e, t0 := signin(t, storetest.Open(t, d))
				t1 := e.mustRefresh(t0.RefreshToken)
				t2 := e.mustRefresh(t1.RefreshToken)
				e.clock.Advance(wait)
				e.wantReused(t0.RefreshToken, t2)
				if e.refreshes(t2.RefreshToken) {
					t.Fatal("the newest token still refreshes after the reuse")
				}
			}

			// A thief replays T0 late and gets T1 as if retrying. The two
			// holders of T1 are caught at the next rotation, whoever goes
			// first (the leapfrog: each presents the token the other has
			// just spent): a token handed out to a late retry gets no retry
			// of its own.
			for _, thiefFirst := range []bool{false, true} {
				e, t0 := signin(t, storetest.Open(t, d))
				owner := e.mustRefresh(t0.RefreshToken)
				e.clock.Advance(lateRetry)
				thief := e.mustRefresh(t0.RefreshToken)
				if thief.RefreshToken != owner.RefreshToken {
					t.Fatal("the late replay got a different successor")
				}
				first, second := owner, thief
				if thiefFirst {
					first, second = thief, owner
				}
				e.clock.Advance(time.Minute)
				next := e.mustRefresh(first.RefreshToken)
				e.clock.Advance(time.Minute)
				e.wantReused(second.RefreshToken, next)
			}

		})
	}
}

// TestRefreshSignedOutSessionStaysClosed: after sign-out, neither the
// current token nor the one just spent refreshes, inside the reuse grace
// or after it.
func TestRefreshSignedOutSessionStaysClosed(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			for _, wait := range []time.Duration{time.Second, lateRetry} {
				e := newEnv(t, storetest.Open(t, d))
				e.signup("ann@example.com", "correct horse")
				t0 := e.signin("ann@example.com", "correct horse")
				t1 := e.mustRefresh(t0.RefreshToken)
				resp, body := e.do("POST", "/v1/signout", nil, "Authorization", "Bearer "+t1.AccessToken)
				if resp.StatusCode != http.StatusNoContent {
					t.Fatalf("signout: %d %s", resp.StatusCode, body)
				}
				e.clock.Advance(wait)
				for name, rt := range map[string]string{"previous": t0.RefreshToken, "current": t1.RefreshToken} {
					if e.refreshes(rt) {
						t.Fatalf("%v after sign-out the session's %s token refreshes", wait, name)
					}
				}
				if s := e.sessionOf(t1); s.RevokedReason != "signout" {
					t.Fatalf("revoked reason %q, want signout", s.RevokedReason)
				}
			}
		})
	}
}

// TestRefreshNoGraceNoRetry: with the reuse grace set to zero, any repeat
// is theft, a late one included.
func TestRefreshNoGraceNoRetry(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) { c.RefreshReuseGrace = 0 })
	e.signup("ann@example.com", "correct horse")
	t0 := e.signin("ann@example.com", "correct horse")
	t1 := e.mustRefresh(t0.RefreshToken)
	e.clock.Advance(lateRetry)
	e.wantReused(t0.RefreshToken, t1)
}

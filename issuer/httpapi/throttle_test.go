package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

func (e *env) signinStatus(email, password string, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	return e.do("POST", "/v1/signin", map[string]string{"email": email, "password": password}, header...)
}

func TestSigninThrottlePerAccount(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		// Five free failures, then a sixth that starts a 1s delay.
		for range 6 {
			resp, body := e.signinStatus("Ann@Example.com ", "wrong horse")
			wantError(t, resp, body, 401, "invalid_grant")
		}
		// Blocked: even the right password gets 429, before any bcrypt.
		release := e.iss.Accounts.HoldBcryptSlot()
		resp, body := e.signinStatus("ann@example.com", "correct horse")
		release()
		wantError(t, resp, body, 429, "too_many_requests")
		if resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After %q, want 1", resp.Header.Get("Retry-After"))
		}
		// Through the OAuth endpoint too.
		resp, body = e.form("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {"correct horse"}})
		wantError(t, resp, body, 429, "too_many_requests")

		// Once the delay has passed the right password signs in and
		// clears the count: five more failures are free again.
		e.clock.Advance(time.Second)
		e.signin("ann@example.com", "correct horse")
		for range 5 {
			resp, body := e.signinStatus("ann@example.com", "wrong horse")
			wantError(t, resp, body, 401, "invalid_grant")
		}
		e.signin("ann@example.com", "correct horse")

		// The delay doubles: 6 failures block 1s, the 7th 2s, the 8th 4s.
		for range 6 {
			e.signinStatus("ann@example.com", "wrong horse")
		}
		for _, want := range []string{"2", "4"} {
			e.clock.Advance(time.Second * 10)
			resp, body := e.signinStatus("ann@example.com", "wrong horse")
			wantError(t, resp, body, 401, "invalid_grant")
			resp, body = e.signinStatus("ann@example.com", "wrong horse")
			wantError(t, resp, body, 429, "too_many_requests")
			if got := resp.Header.Get("Retry-After"); got != want {
				t.Fatalf("Retry-After %q, want %q", got, want)
			}
		}
		// Half a second later the wait rounds up.
		e.clock.Advance(3500 * time.Millisecond)
		resp, _ = e.signinStatus("ann@example.com", "correct horse")
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("after 3.5s of 4: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		// A day after the last failure the count starts over.
		e.clock.Advance(24*time.Hour + time.Second)
		resp, body = e.signinStatus("ann@example.com", "wrong horse")
		wantError(t, resp, body, 401, "invalid_grant")
		e.signin("ann@example.com", "correct horse")

		// Unknown emails are counted and throttled the same way.
		for range 6 {
			e.signinStatus("ghost@example.com", "wrong horse")
		}
		resp, body = e.signinStatus("ghost@example.com", "wrong horse")
		wantError(t, resp, body, 429, "too_many_requests")

		// Each block is audited once, when it starts; refusals are not.
		if ev, _ := db.Events(context.Background(), "signin_throttled"); len(ev) != 0 {
			t.Fatalf("%d signin_throttled events, want none", len(ev))
		}
		ev, _ := db.Events(context.Background(), "signin_blocked")
		if len(ev) < 4 || ev[0].IP == nil || *ev[0].IP != "127.0.0.1" {
			t.Fatalf("signin_blocked events %+v", ev)
		}
	})
}

func TestSigninThrottlePerIP(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	e.signup("ann@example.com", "correct horse")
	// 20 free failures per address, spread over accounts so that no
	// account is throttled, then a 21st that blocks the address.
	for i := range 21 {
		resp, body := e.signinStatus(fmt.Sprintf("user%d@example.com", i), "wrong horse")
		wantError(t, resp, body, 401, "invalid_grant")
	}
	resp, body := e.signinStatus("ann@example.com", "correct horse")
	wantError(t, resp, body, 429, "too_many_requests")
	e.clock.Advance(time.Second)
	e.signin("ann@example.com", "correct horse")
}

func TestTrustedProxies(t *testing.T) {
	xff := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	t.Run("none trusted", func(t *testing.T) {
		db := storetest.Open(t, store.SQLite)
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		// X-Forwarded-For is ignored: every failure counts against the
		// connection's address, whatever the header claims.
		for i := range 21 {
			e.signinStatus(fmt.Sprintf("user%d@example.com", i), "wrong horse", xff(fmt.Sprintf("203.0.113.%d", i))...)
		}
		resp, body := e.signinStatus("ann@example.com", "correct horse", xff("198.51.100.7")...)
		wantError(t, resp, body, 429, "too_many_requests")
		ev, _ := db.Events(context.Background(), "signin_failed")
		if *ev[0].IP != "127.0.0.1" {
			t.Fatalf("audit IP %q, want the connection's", *ev[0].IP)
		}
	})
	t.Run("loopback trusted", func(t *testing.T) {
		db := storetest.Open(t, store.SQLite)
		e := newEnv(t, db, func(c *settings, _ *keys.Policy) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		})
		e.signup("ann@example.com", "correct horse")
		for i := range 21 {
			e.signinStatus(fmt.Sprintf("user%d@example.com", i), "wrong horse", xff("203.0.113.9")...)
		}
		resp, body := e.signinStatus("ann@example.com", "correct horse", xff("203.0.113.9")...)
		wantError(t, resp, body, 429, "too_many_requests")
		// Another client behind the same proxy is not blocked.
		resp, body = e.signinStatus("ann@example.com", "correct horse", xff("198.51.100.7")...)
		if resp.StatusCode != 200 {
			t.Fatalf("other client: %d %s", resp.StatusCode, body)
		}
		ev, _ := db.Events(context.Background(), "signin_failed")
		if *ev[0].IP != "203.0.113.9" {
			t.Fatalf("audit IP %q, want the forwarded one", *ev[0].IP)
		}
		ev, _ = db.Events(context.Background(), "signin")
		sessions, _ := db.SessionsByUser(context.Background(), *ev[len(ev)-1].UserID)
		if got := sessions[len(sessions)-1].IP; got != "198.51.100.7" {
			t.Fatalf("session IP %q", got)
		}
	})
	t.Run("X-Real-IP is not believed", func(t *testing.T) {
		// Only X-Forwarded-For is documented: a proxy that passes a
		// client's own X-Real-IP through must not let the client choose
		// its address.
		db := storetest.Open(t, store.SQLite)
		e := newEnv(t, db, func(c *settings, _ *keys.Policy) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		})
		for i := range 21 {
			e.signinStatus(fmt.Sprintf("user%d@example.com", i), "wrong horse", "X-Real-IP", fmt.Sprintf("203.0.113.%d", i))
		}
		ev, _ := db.Events(context.Background(), "signin_failed")
		for _, x := range ev {
			if *x.IP != "127.0.0.1" {
				t.Fatalf("audit IP %q, want the connection's", *x.IP)
			}
		}
		resp, body := e.signinStatus("ann@example.com", "correct horse", "X-Real-IP", "198.51.100.7")
		wantError(t, resp, body, 429, "too_many_requests")
	})
}

func TestBcryptSemaphore(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) {
		c.BcryptConcurrency = 1
		c.BcryptQueueWait = 20 * time.Millisecond
	})
	e.signup("ann@example.com", "correct horse")
	tk := e.signin("ann@example.com", "correct horse")

	release := e.iss.Accounts.HoldBcryptSlot()
	resp, body := e.signinStatus("ann@example.com", "correct horse")
	wantError(t, resp, body, 503, "temporarily_unavailable")
	if resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	resp, body = e.do("POST", "/v1/signup", map[string]string{"email": "bob@example.com", "password": "battery staple"})
	wantError(t, resp, body, 503, "temporarily_unavailable")
	resp, body = e.form("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {"correct horse"}})
	wantError(t, resp, body, 503, "temporarily_unavailable")
	// Refresh and the JWK set never wait for bcrypt.
	e.mustRefresh(tk.RefreshToken)
	if resp, _ := e.do("GET", "/.well-known/jwks.json", nil); resp.StatusCode != 200 {
		t.Fatalf("jwks: %d", resp.StatusCode)
	}
	// A busy server is not a failed sign-in: nothing was counted.
	release()
	e.signin("ann@example.com", "correct horse")
	e.signup("bob@example.com", "battery staple")
}

// TestSigninThrottleBurst: concurrent guesses on one account, spread over
// two replicas, cannot all pass a check made before the first failure is
// counted. Each attempt is reserved in the database before its password
// check, so a burst on a fresh account gets at most AccountFree+1 checks,
// and once the free failures are spent, one check at a time.
func TestSigninThrottleBurst(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			u := storetest.URL(t, dialect)
			var replicas [2]*env
			for i := range replicas {
				db, err := store.Open(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				if err := db.MigrateUp(); err != nil {
					t.Fatal(err)
				}
				// Held checks keep their bcrypt slots: have enough.
				replicas[i] = newEnv(t, db, func(c *settings, _ *keys.Policy) { c.BcryptConcurrency = 64 })
			}
			replicas[0].signup("ann@example.com", "correct horse")
			hooks := []*atomic.Pointer[func()]{&replicas[0].store.beforeUserRead, &replicas[1].store.beforeUserRead}
			var next atomic.Int64
			guess := func() int {
				e := replicas[next.Add(1)%2]
				resp, _ := e.signinStatus("ann@example.com", "wrong horse")
				return resp.StatusCode
			}
			free := replicas[0].iss.Throttle.Policy().AccountFree
			got, checks := burstInFlight(hooks, 40, free+1, guess)
			if checks > free+1 || got[401] != checks || got[401]+got[429] != 40 {
				t.Fatalf("fresh account: statuses %v, %d password checks; want at most %d", got, checks, free+1)
			}
			// Spend the rest of the free failures; then a burst gets one
			// check, whose failure blocks.
			for range free - checks {
				replicas[0].signinStatus("ann@example.com", "wrong horse")
			}
			got, checks = burstInFlight(hooks, 40, 2, guess)
			if checks > 1 || got[401]+got[429] != 40 {
				t.Fatalf("out of free failures: statuses %v, %d password checks; want at most 1", got, checks)
			}
		})
	}
}

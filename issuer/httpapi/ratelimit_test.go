package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

func TestSignupLimitPerAddress(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) {
		c.SignupLimit = issuer.RateLimit{Burst: 3, Per: 30 * time.Second} // one more every 10 s
	})
	for i := range 3 {
		e.signup(fmt.Sprintf("u%d@example.com", i), "correct horse")
	}
	resp, body := e.do("POST", "/v1/signup", map[string]string{"email": "u3@example.com", "password": "correct horse"})
	wantError(t, resp, body, http.StatusTooManyRequests, "too_many_requests")
	if got := resp.Header.Get("Retry-After"); got != "10" {
		t.Fatalf("Retry-After = %q, want 10", got)
	}
	e.clock.Advance(10 * time.Second)
	e.signup("u3@example.com", "correct horse")
	// A refused sign-up created nothing: u3 signs in with its one password.
	e.signin("u3@example.com", "correct horse")
}

func TestRefreshFailureLimitPerAddress(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) {
		c.RefreshFailureLimit = issuer.RateLimit{Burst: 5, Per: 5 * time.Second}
	})
	e.signup("ann@example.com", "correct horse")
	good := e.signin("ann@example.com", "correct horse").RefreshToken
	forged := good[:len(good)-4] + "AAAA"
	for range 5 {
		resp, body := e.do("POST", "/v1/token/refresh", map[string]string{"refresh_token": forged})
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
	}
	// The address is now limited: even a good token waits, and no
	// database read is spent on it.
	before := e.store.calls()
	resp, body := e.do("POST", "/v1/token/refresh", map[string]string{"refresh_token": good})
	wantError(t, resp, body, http.StatusTooManyRequests, "too_many_requests")
	if resp.Header.Get("Retry-After") != "1" || e.store.calls() != before {
		t.Fatalf("Retry-After %q, store calls %d", resp.Header.Get("Retry-After"), e.store.calls()-before)
	}
	e.clock.Advance(time.Second)
	tk := e.mustRefresh(good)
	// Good tokens never spend the budget.
	for range 10 {
		tk = e.mustRefresh(tk.RefreshToken)
	}
}

// burstInFlight sends n requests at once and holds every session look-up
// until `limit` of them are in flight together, or until every request
// has either reached one or been answered; it returns the statuses and the
// number of look-ups. A limit checked before the look-ups and counted
// after them lets all n through: none is counted while they are held.
func (e *env) burstInFlight(n, limit int, send func() int) (map[int]int, int) {
	e.t.Helper()
	return burstInFlight([]*atomic.Pointer[func()]{&e.store.beforeSessionRead}, n, limit, send)
}

// burstInFlight is env.burstInFlight for the look-ups that hooks hold.
func burstInFlight(hooks []*atomic.Pointer[func()], n, limit int, send func() int) (map[int]int, int) {
	var (
		mu       sync.Mutex
		lookups  int
		answered int
		release  = make(chan struct{})
		released bool
	)
	// done is called under mu after a count changes.
	done := func() {
		if !released && (lookups >= limit || lookups+answered >= n) {
			released = true
			close(release)
		}
	}
	hold := func() {
		mu.Lock()
		lookups++
		done()
		mu.Unlock()
		<-release
	}
	for _, h := range hooks {
		h.Store(&hold)
		defer h.Store(nil)
	}
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			s := send()
			statuses <- s
			mu.Lock()
			if s != http.StatusOK && s != http.StatusUnauthorized {
				answered++ // refused before any look-up
			}
			done()
			mu.Unlock()
		})
	}
	wg.Wait()
	close(statuses)
	got := map[int]int{}
	for s := range statuses {
		got[s]++
	}
	return got, lookups
}

// TestRefreshFailureLimitBurst: a burst of bad refresh tokens cannot
// overspend the address's budget. Each token is taken before the look-up,
// so at most Burst of them reach the database, however many arrive at
// once.
func TestRefreshFailureLimitBurst(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) {
		c.RefreshFailureLimit = issuer.RateLimit{Burst: 30, Per: time.Minute}
	})
	e.signup("ann@example.com", "correct horse")
	good := e.signin("ann@example.com", "correct horse").RefreshToken
	forged := good[:len(good)-4] + "AAAA"
	got, lookups := e.burstInFlight(200, 30, func() int {
		resp, _ := e.refresh(forged)
		return resp.StatusCode
	})
	if lookups > 30 || got[http.StatusUnauthorized] > 30 || got[http.StatusUnauthorized]+got[http.StatusTooManyRequests] != 200 {
		t.Fatalf("statuses %v, %d look-ups; want at most 30 tokens evaluated", got, lookups)
	}
}

// TestRevokeLimitPerAddress: RFC 7009 revocation shares the refresh
// budget of bad tokens: unknown tokens spend it before any look-up,
// genuine ones give their token back.
func TestRevokeLimitPerAddress(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) {
		c.RefreshFailureLimit = issuer.RateLimit{Burst: 5, Per: 5 * time.Second}
	})
	e.signup("ann@example.com", "correct horse")
	revoke := func(tok string) int {
		resp, _ := e.form("/oauth/revoke", url.Values{"token": {tok}})
		return resp.StatusCode
	}
	// Genuine tokens never spend the budget.
	for range 8 {
		if s := revoke(e.signin("ann@example.com", "correct horse").RefreshToken); s != 200 {
			t.Fatalf("revoke of a genuine token: %d", s)
		}
	}
	good := e.signin("ann@example.com", "correct horse").RefreshToken
	forged := good[:len(good)-4] + "AAAA"
	got, lookups := e.burstInFlight(100, 5, func() int { return revoke(forged) })
	if lookups > 5 || got[200] > 5 || got[200]+got[429] != 100 {
		t.Fatalf("statuses %v, %d look-ups; want at most 5 tokens looked up", got, lookups)
	}
	resp, body := e.form("/oauth/revoke", url.Values{"token": {"random"}})
	wantError(t, resp, body, http.StatusTooManyRequests, "too_many_requests")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// One budget: the refresh endpoint is limited too.
	resp, body = e.refresh(good)
	wantError(t, resp, body, http.StatusTooManyRequests, "too_many_requests")
	e.clock.Advance(time.Second)
	e.mustRefresh(good)
}

// TestRefreshLimitQueuesGoodTokens: good tokens arriving together beyond
// the budget wait for the look-ups in flight to give their tokens back
// instead of being refused.
func TestRefreshLimitQueuesGoodTokens(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) {
		c.RefreshFailureLimit = issuer.RateLimit{Burst: 2, Per: time.Minute}
	})
	e.signup("ann@example.com", "correct horse")
	const n = 20
	rts := make(chan string, n)
	for range n {
		rts <- e.signin("ann@example.com", "correct horse").RefreshToken
	}
	close(rts)
	got := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for rt := range rts {
		wg.Go(func() {
			resp, _ := e.refresh(rt)
			mu.Lock()
			got[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if got[200] != n {
		t.Fatalf("statuses %v, want %d × 200", got, n)
	}
}

// TestCookieSignoutLimitBurst: a sign-out with only a refresh cookie looks
// the token up like a refresh does, so it spends the same budget of bad
// tokens, taken before the look-up.
func TestCookieSignoutLimitBurst(t *testing.T) {
	const app = "http://app.test"
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) {
		c.CORSOrigins = []string{app}
		c.RefreshFailureLimit = issuer.RateLimit{Burst: 5, Per: time.Minute}
	})
	e.signup("ann@example.com", "correct horse")
	good := e.signin("ann@example.com", "correct horse").RefreshToken
	forged := good[:len(good)-4] + "AAAA"
	signout := func(cookie string) int {
		resp, _ := e.do("POST", "/v1/signout", nil, "Origin", app, "X-Signet-CSRF", "1", "Cookie", "__Host-signet_refresh="+cookie)
		return resp.StatusCode
	}
	got, lookups := e.burstInFlight(100, 5, func() int { return signout(forged) })
	if lookups > 5 || got[http.StatusNoContent] > 5 || got[http.StatusNoContent]+got[http.StatusTooManyRequests] != 100 {
		t.Fatalf("statuses %v, %d look-ups; want at most 5 cookies looked up", got, lookups)
	}
}

package httpapi_test

import (
	"fmt"
	"net/http"
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

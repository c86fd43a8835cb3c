package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// behindProxy is an env whose loopback proxy's X-Forwarded-For is
// believed, so that tests can choose the client address.
func behindProxy(t *testing.T, db *store.DB, opts ...func(*settings, *keys.Policy)) *env {
	t.Helper()
	return newEnv(t, db, append([]func(*settings, *keys.Policy){func(c *settings, _ *keys.Policy) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}}, opts...)...)
}

func from(ip string) []string { return []string{"X-Forwarded-For", ip} }

// TestSigninThrottleKeysIPv6OnItsNetwork: one IPv6 host holds a whole /64,
// so the per-address throttle counts the /64, not each address in it.
func TestSigninThrottleKeysIPv6OnItsNetwork(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	e := behindProxy(t, db)
	e.signup("ann@example.com", "correct horse")
	for i := range 21 {
		// Spelt in several ways, all in 2001:db8:1:2::/64.
		ip := fmt.Sprintf("2001:db8:1:2:%x::%x", i*977, i+1)
		if i%3 == 0 {
			ip = fmt.Sprintf("2001:DB8:1:2:0:%X:0:%X", i*977, i+1)
		}
		resp, body := e.signinStatus(fmt.Sprintf("user%d@example.com", i), "wrong horse", from(ip)...)
		wantError(t, resp, body, 401, "invalid_grant")
	}
	resp, body := e.signinStatus("ann@example.com", "correct horse", from("2001:db8:1:2:ffff:ffff:ffff:fffe")...)
	wantError(t, resp, body, 429, "too_many_requests")
	// The next /64 is another client.
	if resp, body := e.signinStatus("ann@example.com", "correct horse", from("2001:db8:1:3::1")...); resp.StatusCode != 200 {
		t.Fatalf("another /64: %d %s", resp.StatusCode, body)
	}
	// The audit keeps each full address, in its canonical form.
	ev, _ := db.Events(context.Background(), "signin_failed")
	if got := *ev[0].IP; got != "2001:db8:1:2::1" {
		t.Fatalf("audit IP %q, want 2001:db8:1:2::1", got)
	}
}

// TestSigninThrottleUnmapsIPv4: an IPv4-mapped IPv6 address is the IPv4
// address it maps, for the throttle and the audit.
func TestSigninThrottleUnmapsIPv4(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	e := behindProxy(t, db)
	e.signup("ann@example.com", "correct horse")
	for i := range 21 {
		ip := "203.0.113.9"
		if i%2 == 0 {
			ip = "::ffff:203.0.113.9"
		}
		resp, body := e.signinStatus(fmt.Sprintf("user%d@example.com", i), "wrong horse", from(ip)...)
		wantError(t, resp, body, 401, "invalid_grant")
	}
	resp, body := e.signinStatus("ann@example.com", "correct horse", from("203.0.113.9")...)
	wantError(t, resp, body, 429, "too_many_requests")
	resp, body = e.signinStatus("ann@example.com", "correct horse", from("::ffff:cb00:7109")...)
	wantError(t, resp, body, 429, "too_many_requests")
	// IPv4 addresses are keyed one by one: the neighbour is not blocked.
	if resp, body := e.signinStatus("ann@example.com", "correct horse", from("203.0.113.10")...); resp.StatusCode != 200 {
		t.Fatalf("neighbour: %d %s", resp.StatusCode, body)
	}
	ev, _ := db.Events(context.Background(), "signin_failed")
	for _, x := range ev {
		if *x.IP != "203.0.113.9" {
			t.Fatalf("audit IP %q, want 203.0.113.9", *x.IP)
		}
	}
}

// TestIPv6PrefixSetting: the prefix length is a setting; 128 keys on the
// exact address.
func TestIPv6PrefixSetting(t *testing.T) {
	for _, tc := range []struct {
		prefix  int
		blocked bool // is 2001:db8:1:2:3::1 blocked after 21 failures of 2001:db8:1:2:4::/80?
	}{{0, true}, {48, true}, {80, false}, {128, false}} {
		t.Run(fmt.Sprint(tc.prefix), func(t *testing.T) {
			e := behindProxy(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) { c.IPv6Prefix = tc.prefix })
			e.signup("ann@example.com", "correct horse")
			for i := range 21 {
				e.signinStatus(fmt.Sprintf("user%d@example.com", i), "wrong horse", from(fmt.Sprintf("2001:db8:1:2:4::%x", i+1))...)
			}
			resp, _ := e.signinStatus("ann@example.com", "correct horse", from("2001:db8:1:2:3::1")...)
			if got := resp.StatusCode == 429; got != tc.blocked {
				t.Fatalf("IPv6Prefix %d: status %d", tc.prefix, resp.StatusCode)
			}
		})
	}
	for _, bad := range []int{-1, 129} {
		cfg := issuer.Config{IssuerURL: "http://issuer.test", Audience: []string{"x"}, BcryptCost: 4, IPv6Prefix: bad}
		if _, err := issuer.NewAccounts(cfg, nil); err == nil {
			t.Errorf("IPv6Prefix %d accepted", bad)
		}
	}
}

// TestAddressLimitsKeyIPv6OnItsNetwork: the sign-up and refresh-failure
// limits key on the /64 too.
func TestAddressLimitsKeyIPv6OnItsNetwork(t *testing.T) {
	e := behindProxy(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) {
		c.SignupLimit = issuer.RateLimit{Burst: 3, Per: time.Minute}
		c.RefreshFailureLimit = issuer.RateLimit{Burst: 3, Per: time.Minute}
	})
	for i := range 3 {
		resp, body := e.do("POST", "/v1/signup", map[string]string{"email": fmt.Sprintf("u%d@example.com", i), "password": "correct horse"},
			from(fmt.Sprintf("2001:db8:9:9::%x", i+1))...)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("signup %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := e.do("POST", "/v1/signup", map[string]string{"email": "u3@example.com", "password": "correct horse"},
		from("2001:db8:9:9:abcd::1")...)
	wantError(t, resp, body, http.StatusTooManyRequests, "too_many_requests")

	good := e.signin("u0@example.com", "correct horse").RefreshToken
	forged := good[:len(good)-4] + "AAAA"
	for i := range 3 {
		resp, body := e.do("POST", "/v1/token/refresh", map[string]string{"refresh_token": forged}, from(fmt.Sprintf("2001:db8:7:7::%x", i+1))...)
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
	}
	resp, body = e.do("POST", "/v1/token/refresh", map[string]string{"refresh_token": good}, from("2001:db8:7:7:1:2:3:4")...)
	wantError(t, resp, body, http.StatusTooManyRequests, "too_many_requests")
	// Another /64 is not limited.
	resp, body = e.do("POST", "/v1/token/refresh", map[string]string{"refresh_token": good}, from("2001:db8:7:8::1")...)
	if resp.StatusCode != 200 {
		t.Fatalf("another /64: %d %s", resp.StatusCode, body)
	}
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// signinWith signs in with an optional device token in the body and
// returns the response, its body and the device token handed out.
func (e *env) signinWith(email, password, device string, header ...string) (*http.Response, []byte, string) {
	e.t.Helper()
	req := map[string]any{"email": email, "password": password}
	if device != "" {
		req["device_token"] = device
	}
	resp, body := e.do("POST", "/v1/signin", req, header...)
	var out struct {
		DeviceToken string `json:"device_token"`
	}
	_ = json.Unmarshal(body, &out)
	return resp, body, out.DeviceToken
}

// ownerSignin signs the owner in with its device token and returns the
// next one.
func (e *env) ownerSignin(device string, header ...string) string {
	e.t.Helper()
	resp, body, next := e.signinWith("ann@example.com", "correct horse", device, header...)
	if resp.StatusCode != 200 || !strings.HasPrefix(next, "sgt_dv_") || next == device {
		e.t.Fatalf("owner with a device token: %d %s", resp.StatusCode, body)
	}
	return next
}

// retryAfter reads Retry-After as a duration.
func retryAfter(t testing.TB, resp *http.Response) time.Duration {
	t.Helper()
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n <= 0 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	return time.Duration(n) * time.Second
}

// TestDeviceTokenKeepsOwnerIn: an attacker who does not know the password
// cannot keep the owner out. One wrong guess each time the account's block
// ends keeps the account blocked for anonymous clients, and failures on
// random emails from the owner's own address (an office NAT) block the
// address; a device the owner signed in on still gets in, with the right
// password only.
func TestDeviceTokenKeepsOwnerIn(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := behindProxy(t, db)
		e.signup("ann@example.com", "correct horse")
		const office, attacker = "203.0.113.5", "198.51.100.66"
		device := e.ownerSignin("", from(office)...)

		for range 6 {
			e.signinWith("ann@example.com", "wrong horse", "", from(attacker)...)
		}
		resp, body, _ := e.signinWith("ann@example.com", "correct horse", "", from(office)...)
		wantError(t, resp, body, 429, "too_many_requests")
		device = e.ownerSignin(device, from(office)...)

		// The attacker keeps the account blocked, round after round.
		for round := range 20 {
			resp, _, _ := e.signinWith("ann@example.com", "wrong horse", "", from(attacker)...)
			if resp.StatusCode != 429 {
				t.Fatalf("round %d: the account is not blocked: %d", round, resp.StatusCode)
			}
			e.clock.Advance(retryAfter(t, resp))
			resp, body, _ := e.signinWith("ann@example.com", "wrong horse", "", from(attacker)...)
			wantError(t, resp, body, 401, "invalid_grant")
			resp, body, _ = e.signinWith("ann@example.com", "correct horse", "", from(office)...)
			wantError(t, resp, body, 429, "too_many_requests")
			device = e.ownerSignin(device, from(office)...)
		}
		// Only the right password gets in, and a wrong one with the device
		// token is counted against the token, not refused.
		resp, body, _ = e.signinWith("ann@example.com", "wrong horse", device, from(office)...)
		wantError(t, resp, body, 401, "invalid_grant")

		// Failures on random emails from the office block its address.
		for i := range 21 {
			e.signinWith(fmt.Sprintf("user%d@example.com", i), "wrong horse", "", from(office)...)
		}
		resp, body, _ = e.signinWith("bob@example.com", "wrong horse", "", from(office)...)
		wantError(t, resp, body, 429, "too_many_requests")
		e.ownerSignin(device, from(office)...)
	})
}

// TestDeviceTokenLockout: a device token has its own budget of failures
// and is locked once it is spent (then it counts as no token); its
// failures do not count against the account.
func TestDeviceTokenLockout(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	e := newEnv(t, db)
	e.signup("ann@example.com", "correct horse")
	device := e.ownerSignin("")
	free := e.iss.Throttle.Policy().DeviceFree
	for range free + 1 {
		resp, body, _ := e.signinWith("ann@example.com", "wrong horse", device)
		wantError(t, resp, body, 401, "invalid_grant")
	}
	// The account was not touched: the right password signs in without a
	// token (and with the locked one, which now counts as none).
	fresh := e.ownerSignin("")
	e.ownerSignin(device)
	// With the account blocked too, the locked token gets nowhere; a
	// fresh one does.
	for range 6 {
		e.signinWith("ann@example.com", "wrong horse", "")
	}
	resp, body, _ := e.signinWith("ann@example.com", "correct horse", device)
	wantError(t, resp, body, 429, "too_many_requests")
	e.ownerSignin(fresh)
	if m := e.scrape(); m[`signet_signin_blocks_total{key="device"}`] != 1 {
		t.Fatalf("device blocks %v, want 1", m[`signet_signin_blocks_total{key="device"}`])
	}
	ev, _ := db.Events(context.Background(), "signin_blocked")
	if len(ev) == 0 || ev[0].UserID == nil || !strings.Contains(ev[0].Detail, `"key":"device"`) {
		t.Fatalf("signin_blocked events %+v, want the device's first", ev)
	}
}

// TestDeviceTokenIsBoundToItsAccount: a device token counts only for the
// account it was handed out for, only until it expires, and a malformed
// one is no error: the attempt is anonymous.
func TestDeviceTokenIsBoundToItsAccount(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	e.signup("ann@example.com", "correct horse")
	e.signup("bob@example.com", "battery staple")
	device := e.ownerSignin("")
	blockAnonymous := func(email string) {
		for range 6 {
			e.signinWith(email, "wrong horse", "")
		}
	}
	blockAnonymous("bob@example.com")
	for _, tok := range []string{device, "sgt_dv_" + strings.Repeat("A", 64), "garbage", tampered(device)} {
		resp, body, _ := e.signinWith("bob@example.com", "battery staple", tok)
		wantError(t, resp, body, 429, "too_many_requests")
	}
	// The email is compared in its normalised form.
	device = e.ownerSignin(device)
	blockAnonymous("ann@example.com")
	resp, body, _ := e.signinWith(" Ann@Example.COM", "correct horse", device)
	if resp.StatusCode != 200 {
		t.Fatalf("normalised email: %d %s", resp.StatusCode, body)
	}
	// Past its lifetime (180 days) a token counts as none.
	e.clock.Advance(e.iss.Throttle.Policy().DeviceTokenTTL)
	blockAnonymous("ann@example.com")
	resp, body, _ = e.signinWith("ann@example.com", "correct horse", device)
	wantError(t, resp, body, 429, "too_many_requests")
}

// TestDeviceCookie: in cookie mode the device token is an HttpOnly
// __Host- cookie, read only from requests that pass the cookie checks.
func TestDeviceCookie(t *testing.T) {
	const app = "http://app.test"
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) { c.CORSOrigins = []string{app} })
	e.signup("ann@example.com", "correct horse")
	browser := []string{"Origin", app, "X-Signet-CSRF", "1"}
	creds := map[string]any{"email": "ann@example.com", "password": "correct horse", "refresh_cookie": true}
	resp, body := e.do("POST", "/v1/signin", creds, browser...)
	if resp.StatusCode != 200 || strings.Contains(string(body), "device_token") {
		t.Fatalf("cookie sign-in: %d %s", resp.StatusCode, body)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-signet_device" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" ||
		cookie.Domain != "" || cookie.MaxAge <= 0 || !strings.HasPrefix(cookie.Value, "sgt_dv_") {
		t.Fatalf("device cookie = %+v", cookie)
	}
	for range 6 {
		e.signinWith("ann@example.com", "wrong horse", "")
	}
	withCookie := append([]string{"Cookie", cookie.Name + "=" + cookie.Value}, browser...)
	resp, body = e.do("POST", "/v1/signin", creds, withCookie...)
	if resp.StatusCode != 200 {
		t.Fatalf("cookie sign-in with the device cookie: %d %s", resp.StatusCode, body)
	}
	// Without the CSRF header and origin the cookie is not used.
	resp, body = e.do("POST", "/v1/signin", map[string]any{"email": "ann@example.com", "password": "correct horse"},
		"Cookie", cookie.Name+"="+cookie.Value)
	wantError(t, resp, body, 429, "too_many_requests")
}

// TestDeviceTokensAcrossReplicas: every replica shares the device key,
// which is stored sealed under the key-encryption key; another
// deployment's tokens are not valid.
func TestDeviceTokensAcrossReplicas(t *testing.T) {
	u := storetest.URL(t, store.SQLite)
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
		replicas[i] = newEnv(t, db)
	}
	a, b := replicas[0], replicas[1]
	a.signup("ann@example.com", "correct horse")
	device := a.ownerSignin("")
	for range 6 {
		a.signinWith("ann@example.com", "wrong horse", "")
	}
	b.ownerSignin(device)

	var sealed []byte
	if err := a.db.SQL().Get(&sealed, `SELECT sealed FROM issuer_secrets WHERE name = 'device_token_key'`); err != nil {
		t.Fatal(err)
	}
	if key, err := a.sealer.Open("device_token_key", sealed); err != nil || len(key) != 32 || len(sealed) <= 32 {
		t.Fatalf("device key: sealed %d bytes, opened %d, %v", len(sealed), len(key), err)
	}

	other := newEnv(t, storetest.Open(t, store.SQLite))
	other.signup("ann@example.com", "correct horse")
	for range 6 {
		other.signinWith("ann@example.com", "wrong horse", "")
	}
	resp, body, _ := other.signinWith("ann@example.com", "correct horse", device)
	wantError(t, resp, body, 429, "too_many_requests")
}

// TestDeviceTokenBurst: concurrent guesses with one device token get at
// most DeviceFree+1 password checks, like anonymous ones.
func TestDeviceTokenBurst(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) { c.BcryptConcurrency = 64 })
	e.signup("ann@example.com", "correct horse")
	device := e.ownerSignin("")
	free := e.iss.Throttle.Policy().DeviceFree
	got, checks := burstInFlight([]*atomic.Pointer[func()]{&e.store.beforeUserRead}, 40, free+1, func() int {
		resp, _, _ := e.signinWith("ann@example.com", "wrong horse", device)
		return resp.StatusCode
	})
	// Refused on its counter, an attempt goes on as an anonymous one,
	// which has its own free failures.
	anon := e.iss.Throttle.Policy().AccountFree
	if checks > free+1+anon+1 || got[401] != checks || got[401]+got[429] != 40 {
		t.Fatalf("statuses %v, %d password checks; want at most %d", got, checks, free+anon+2)
	}
}

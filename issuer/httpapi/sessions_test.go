package httpapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

func (e *env) refresh(rt string) (*http.Response, []byte) {
	e.t.Helper()
	return e.do("POST", "/v1/token/refresh", map[string]string{"refresh_token": rt})
}

func (e *env) mustRefresh(rt string) tokens {
	e.t.Helper()
	resp, body := e.refresh(rt)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("refresh: %d %s", resp.StatusCode, body)
	}
	var tk tokens
	if err := json.Unmarshal(body, &tk); err != nil {
		e.t.Fatal(err)
	}
	return tk
}

// me reports whether the access token still works on /v1/me.
func (e *env) me(at string) bool {
	e.t.Helper()
	resp, body := e.do("GET", "/v1/me", nil, "Authorization", "Bearer "+at)
	switch resp.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusUnauthorized:
		wantError(e.t, resp, body, 401, "invalid_token")
		return false
	}
	e.t.Fatalf("/v1/me: %d %s", resp.StatusCode, body)
	return false
}

// refreshes reports whether the refresh token is still accepted; it must
// be a token whose use is harmless (a current one, which it rotates).
func (e *env) refreshes(rt string) bool {
	e.t.Helper()
	resp, body := e.refresh(rt)
	if resp.StatusCode == http.StatusOK {
		return true
	}
	wantError(e.t, resp, body, 401, "invalid_grant")
	return false
}

// sessionOf returns the stored session of a token response.
func (e *env) sessionOf(tk tokens) issuer.Session {
	e.t.Helper()
	list, err := e.db.SessionsByUser(context.Background(), tk.User.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	sid := sidOf(e.t, tk.AccessToken)
	for _, s := range list {
		if s.ID == sid {
			return s
		}
	}
	e.t.Fatalf("no stored session %s", sid)
	return issuer.Session{}
}

func sidOf(t testing.TB, accessToken string) string {
	t.Helper()
	parts := strings.Split(accessToken, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Sid string }
	_ = json.Unmarshal(payload, &c)
	return c.Sid
}

func TestSigninCreatesSession(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		long := strings.Repeat("é", 400)
		resp, body := e.do("POST", "/v1/signin", map[string]string{"email": "ann@example.com", "password": "correct horse"}, "User-Agent", long)
		if resp.StatusCode != 200 {
			t.Fatalf("signin: %d %s", resp.StatusCode, body)
		}
		var tk tokens
		_ = json.Unmarshal(body, &tk)
		if !strings.HasPrefix(tk.RefreshToken, "sgt_rt2_") || len(tk.RefreshToken) != 88 {
			t.Fatalf("refresh token %q", tk.RefreshToken)
		}
		if tk.RefreshExpiresIn != int((168*time.Hour).Seconds()) || tk.User.Email != "ann@example.com" {
			t.Fatalf("signin = %+v", tk)
		}
		s := e.sessionOf(tk)
		now := e.clock.Now()
		if s.UserID != tk.User.ID || s.RefreshCounter != 0 || s.IP != "127.0.0.1" ||
			!s.IdleExpiresAt.Equal(now.Add(168*time.Hour)) || !s.AbsoluteExpiresAt.Equal(now.Add(720*time.Hour)) {
			t.Fatalf("session = %+v", s)
		}
		if len(s.UserAgent) > 256 || !strings.HasPrefix(long, s.UserAgent) || s.UserAgent == "" {
			t.Fatalf("user agent stored as %d bytes: %q", len(s.UserAgent), s.UserAgent)
		}
		// The token is MACed under the server-wide key: the session keeps
		// no secret of its own.
		var stored []byte
		if err := e.db.SQL().QueryRow(e.db.SQL().Rebind(`SELECT refresh_secret FROM sessions WHERE id = ?`), s.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if s.RefreshSecret != nil || len(stored) != 0 {
			t.Fatalf("the session stores a secret of %d bytes", len(stored))
		}
	})
}

func TestRefreshRotation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		first := e.signin("ann@example.com", "correct horse")

		e.clock.Advance(time.Minute)
		second := e.mustRefresh(first.RefreshToken)
		if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
			t.Fatal("refresh did not rotate")
		}
		if second.User.ID != first.User.ID || second.TokenType != "Bearer" || second.ExpiresIn != 900 ||
			second.RefreshExpiresIn != int((168*time.Hour).Seconds()) || sidOf(t, second.AccessToken) != sidOf(t, first.AccessToken) {
			t.Fatalf("refresh = %+v", second)
		}
		if s := e.sessionOf(second); s.RefreshCounter != 1 || !s.IdleExpiresAt.Equal(e.clock.Now().Add(168*time.Hour)) {
			t.Fatalf("after refresh: %+v", s)
		}

		// Within the grace window the old token returns the same successor.
		e.clock.Advance(10 * time.Second)
		again := e.mustRefresh(first.RefreshToken)
		if again.RefreshToken != second.RefreshToken {
			t.Fatal("a repeat within the grace window got a different successor")
		}
		if s := e.sessionOf(second); s.RefreshCounter != 1 {
			t.Fatalf("a repeat within the grace window wrote: counter %d", s.RefreshCounter)
		}

		// Once the successor has been presented, the old token is theft:
		// the session dies, successor too.
		e.clock.Advance(time.Second)
		third := e.mustRefresh(second.RefreshToken)
		resp, body := e.refresh(first.RefreshToken)
		wantError(t, resp, body, 401, "invalid_grant")
		s := e.sessionOf(second)
		if !s.Revoked() || s.RevokedReason != "refresh_token_reused" {
			t.Fatalf("session after reuse: %+v", s)
		}
		if e.refreshes(third.RefreshToken) {
			t.Fatal("the successor still refreshes after a reuse")
		}
		if e.me(third.AccessToken) {
			t.Fatal("an access token of the revoked session still works on /v1/me")
		}
		ev, _ := db.Events(context.Background(), "refresh_token_reused")
		if len(ev) != 1 || *ev[0].SessionID != s.ID || *ev[0].UserID != s.UserID || ev[0].IP == nil {
			t.Fatalf("refresh_token_reused events = %+v", ev)
		}
		// A revoked session never reopens the grace window.
		if e.refreshes(first.RefreshToken) {
			t.Fatal("revoked session refreshed")
		}
	})
}

func TestRefreshOlderTokenIsTheftEvenInGrace(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	e.signup("ann@example.com", "correct horse")
	t0 := e.signin("ann@example.com", "correct horse")
	t1 := e.mustRefresh(t0.RefreshToken)
	t2 := e.mustRefresh(t1.RefreshToken)
	// t0 is two rotations old: no grace applies.
	resp, body := e.refresh(t0.RefreshToken)
	wantError(t, resp, body, 401, "invalid_grant")
	if e.refreshes(t2.RefreshToken) {
		t.Fatal("the session survived the reuse of a token two rotations old")
	}
}

// TestConcurrentRefreshInGrace: many tabs refresh with one token at once;
// they all get the same successor and the session lives on.
func TestConcurrentRefreshInGrace(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		tk := e.signin("ann@example.com", "correct horse")
		const n = 50
		got := make([]string, n)
		status := make([]int, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req, _ := http.NewRequest("POST", e.srv.URL+"/v1/token/refresh", strings.NewReader(`{"refresh_token":"`+tk.RefreshToken+`"}`))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				var out tokens
				_ = json.NewDecoder(resp.Body).Decode(&out)
				got[i], status[i] = out.RefreshToken, resp.StatusCode
			}()
		}
		close(start)
		wg.Wait()
		for i := range n {
			if status[i] != 200 || got[i] != got[0] || got[0] == "" {
				t.Fatalf("request %d: %d %q, want 200 and the successor %q", i, status[i], got[i], got[0])
			}
		}
		s := e.sessionOf(tk)
		if s.Revoked() || s.RefreshCounter != 1 {
			t.Fatalf("session after the race: %+v", s)
		}
		if !e.refreshes(got[0]) {
			t.Fatal("the shared successor does not refresh")
		}
	})
}

// mintToken forges a refresh token for a counter with the issuer's real
// refresh MAC key (key 1), the way only the issuer can.
func (e *env) mintToken(s issuer.Session, counter uint64) string {
	e.t.Helper()
	return e.mintTokenKey(s, 1, counter)
}

// mintTokenKey is mintToken with the key id written in the token (the
// MAC is still made with key 1).
func (e *env) mintTokenKey(s issuer.Session, kid uint32, counter uint64) string {
	e.t.Helper()
	return e.mintTokenWith(s, 1, kid, counter)
}

// mintTokenWith forges a refresh token MACed with refresh MAC key macKey
// that names key kid.
func (e *env) mintTokenWith(s issuer.Session, macKey, kid uint32, counter uint64) string {
	e.t.Helper()
	var sealed []byte
	if err := e.db.SQL().QueryRow(e.db.SQL().Rebind(`SELECT sealed_key FROM refresh_mac_keys WHERE id = ?`), macKey).Scan(&sealed); err != nil {
		e.t.Fatal(err)
	}
	key, err := e.sealer.Open(fmt.Sprintf("refresh-mac-key:%d", macKey), sealed)
	if err != nil {
		e.t.Fatal(err)
	}
	sid, err := hex.DecodeString(strings.ReplaceAll(s.ID, "-", ""))
	if err != nil {
		e.t.Fatal(err)
	}
	head := binary.BigEndian.AppendUint32(nil, kid)
	ctr := binary.BigEndian.AppendUint64(nil, counter)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("signet-refresh-v2"))
	m.Write(head)
	m.Write(sid)
	m.Write(ctr)
	tok := append(append(append(head, sid...), ctr...), m.Sum(nil)...)
	return "sgt_rt2_" + base64.RawURLEncoding.EncodeToString(tok)
}

// giveSecret turns the session of tk into one started before the
// server-wide keys: a sealed secret of its own in its row, as every
// session had then.
func (e *env) giveSecret(tk tokens) issuer.Session {
	e.t.Helper()
	s := e.sessionOf(tk)
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.SQL().Exec(e.db.SQL().Rebind(`UPDATE sessions SET refresh_secret = ? WHERE id = ?`), e.sealer.Seal(s.ID, secret), s.ID); err != nil {
		e.t.Fatal(err)
	}
	return e.sessionOf(tk)
}

// mintTokenV1 forges a refresh token of the first format (the session's
// own sealed secret), as sessions started before the current format hold.
func (e *env) mintTokenV1(s issuer.Session, counter uint64) string {
	e.t.Helper()
	return e.mintTokenV1With(s, s.RefreshSecret, counter)
}

// mintTokenV1With is mintTokenV1 under a given sealed secret.
func (e *env) mintTokenV1With(s issuer.Session, sealed []byte, counter uint64) string {
	e.t.Helper()
	secret, err := e.sealer.Open(s.ID, sealed)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := hex.DecodeString(strings.ReplaceAll(s.ID, "-", ""))
	if err != nil {
		e.t.Fatal(err)
	}
	ctr := binary.BigEndian.AppendUint64(nil, counter)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("signet-refresh-v1"))
	m.Write(raw)
	m.Write(ctr)
	tok := append(append(raw, ctr...), m.Sum(nil)...)
	return "sgt_rt_" + base64.RawURLEncoding.EncodeToString(tok)
}

// TestRefreshRejectionsIdentical: whatever is wrong with a refresh token,
// the answer is the same 401 body.
func TestRefreshRejectionsIdentical(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, func(c *settings, _ *keys.Policy) {
			c.RefreshTokenTTL = time.Hour
			c.SessionMaxAge = 2 * time.Hour
		})
		e.signup("ann@example.com", "correct horse")
		live := e.signin("ann@example.com", "correct horse")
		if e.mintToken(e.sessionOf(live), 0) != live.RefreshToken {
			t.Fatal("the test's token minting disagrees with the issuer's")
		}
		flipped := []byte(live.RefreshToken)
		flipped[len(flipped)-3] ^= 'A' ^ 'B'
		revoked := e.signin("ann@example.com", "correct horse")
		e.do("POST", "/v1/signout", nil, "Authorization", "Bearer "+revoked.AccessToken)
		legacy := e.signin("ann@example.com", "correct horse")
		legacySession := e.giveSecret(legacy)

		cases := map[string]func() string{
			"empty-ish":    func() string { return "x" },
			"no prefix":    func() string { return strings.TrimPrefix(live.RefreshToken, "sgt_rt2_") },
			"wrong prefix": func() string { return "sgt_xx_" + strings.TrimPrefix(live.RefreshToken, "sgt_rt2_") },
			"old prefix":   func() string { return "sgt_rt_" + strings.TrimPrefix(live.RefreshToken, "sgt_rt2_") },
			"too long":     func() string { return live.RefreshToken + "A" },
			"too short":    func() string { return live.RefreshToken[:87] },
			"padded":       func() string { return live.RefreshToken[:87] + "=" },
			"std alphabet": func() string { return live.RefreshToken[:8] + "+" + live.RefreshToken[9:] },
			"bad MAC":      func() string { return string(flipped) },
			"unknown":      func() string { return "sgt_rt2_" + strings.Repeat("A", 80) },
			"unknown v1":   func() string { return "sgt_rt_" + strings.Repeat("A", 75) },
			"other key id": func() string { return e.mintTokenKey(e.sessionOf(live), 2, 0) },
			"v1 bad MAC": func() string {
				v1 := []byte(e.mintTokenV1(legacySession, 0))
				v1[len(v1)-3] ^= 'A' ^ 'B'
				return string(v1)
			},
			// A first-format token naming a session that has no secret of
			// its own, MACed under a secret the attacker chose.
			"v1 for a keyless session": func() string {
				return e.mintTokenV1With(e.sessionOf(live), e.sealer.Seal(e.sessionOf(live).ID, make([]byte, 32)), 0)
			},
			"revoked":        func() string { return revoked.RefreshToken },
			"counter ahead":  func() string { return e.mintToken(e.sessionOf(live), 5) },
			"idle-expired":   nil,
			"absolute-ended": nil,
		}
		var want []byte
		check := func(name, rt string) {
			t.Helper()
			resp, body := e.refresh(rt)
			wantError(t, resp, body, 401, "invalid_grant")
			if want == nil {
				want = body
			}
			if string(body) != string(want) {
				t.Fatalf("%s: body %s differs from %s", name, body, want)
			}
		}
		for name, tok := range cases {
			if tok != nil {
				check(name, tok())
			}
		}
		// The counter-ahead token did not harm the live session.
		if e.sessionOf(live).Revoked() {
			t.Fatal("a rejected token revoked the session")
		}

		idle := e.signin("ann@example.com", "correct horse")
		e.clock.Advance(time.Hour)
		check("idle-expired", idle.RefreshToken)

		// Refreshing every 50 minutes keeps a session past its idle
		// lifetime, never past its absolute one.
		abs := e.signin("ann@example.com", "correct horse")
		rt := abs.RefreshToken
		for i := range 2 {
			e.clock.Advance(50 * time.Minute)
			tk := e.mustRefresh(rt)
			rt = tk.RefreshToken
			if wantIn := min(3600, 7200-3000*(i+1)); tk.RefreshExpiresIn != wantIn {
				t.Fatalf("refresh %d: refresh_expires_in = %d, want %d", i, tk.RefreshExpiresIn, wantIn)
			}
		}
		e.clock.Advance(20 * time.Minute) // 120 minutes after sign-in
		check("absolute-ended", rt)
	})
}

// TestRefreshRoundTrips pins the number of store calls (each one SQL
// statement) of a refresh: one on the common path (the user's roles come
// with it), none for a token whose MAC is wrong, three for a grace repeat
// (the failed spend, the read, the user's roles).
func TestRefreshRoundTrips(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		tk := e.signin("ann@example.com", "correct horse")
		before := e.store.calls()
		next := e.mustRefresh(tk.RefreshToken)
		if n := e.store.calls() - before; n != 1 {
			t.Fatalf("rotation took %d round trips, want 1", n)
		}
		if !e.me(next.AccessToken) || next.User.Email != "ann@example.com" {
			t.Fatalf("the rotation's access token or user is wrong: %+v", next.User)
		}
		before = e.store.calls()
		if again := e.mustRefresh(tk.RefreshToken); again.RefreshToken != next.RefreshToken {
			t.Fatal("grace repeat differs")
		}
		if n := e.store.calls() - before; n != 3 {
			t.Fatalf("grace repeat took %d round trips, want 3", n)
		}
		forged := []byte(next.RefreshToken)
		forged[len(forged)-3] ^= 'A' ^ 'B'
		before = e.store.calls()
		resp, body := e.refresh(string(forged))
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
		if n := e.store.calls() - before; n != 0 {
			t.Fatalf("a token with a wrong MAC took %d round trips, want 0", n)
		}
	})
}

// TestRefreshFirstFormat: a session started before the server-wide MAC
// key holds a token of the first format (MAC under its own secret). It
// keeps working until it rotates once; its successor is of the current
// format, the grace repeat returns that same successor, and a late reuse
// still revokes the family.
func TestRefreshFirstFormat(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		tk := e.signin("ann@example.com", "correct horse")
		old := e.mintTokenV1(e.giveSecret(tk), 0)
		next := e.mustRefresh(old)
		if !strings.HasPrefix(next.RefreshToken, "sgt_rt2_") || next.RefreshToken != e.mintToken(e.sessionOf(tk), 1) {
			t.Fatalf("successor %q is not the current format's token 1", next.RefreshToken)
		}
		if !e.me(next.AccessToken) {
			t.Fatal("the access token does not work")
		}
		if again := e.mustRefresh(old); again.RefreshToken != next.RefreshToken {
			t.Fatal("grace repeat of a first-format token differs")
		}
		third := e.mustRefresh(next.RefreshToken)
		e.wantReused(old, tk)
		resp, body := e.refresh(third.RefreshToken)
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
	})
}

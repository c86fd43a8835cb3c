package verifier

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// remoteConfig is a Config against srv with fast refresh settings.
func remoteConfig(srv *jwksServer, clk *clock) Config {
	return Config{
		Issuer:             testIssuer,
		Audience:           testAudience,
		JWKSURL:            srv.jwksURL(),
		Now:                clk.Now,
		MinRefreshInterval: 10 * time.Millisecond,
		MaxRefreshInterval: time.Hour,
		UnknownKIDCooldown: 10 * time.Millisecond,
		MaxStaleness:       2 * time.Hour,
	}
}

func newRemote(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	v, err := New(context.Background(), cfg)
	must(t, err)
	t.Cleanup(func() { v.Close() })
	return v
}

func verifies(v *Verifier, tok string) error {
	_, err := v.Verify(context.Background(), tok)
	return err
}

func TestRotation(t *testing.T) {
	a, b := newEdKey(t), newEdKey(t)
	srv := newJWKSServer(t, jwksOf(t, a.pub))
	srv.cacheCtl = "public, max-age=0"
	clk := newClock(testNow)
	cfg := remoteConfig(srv, clk)
	cfg.MinRefreshInterval = 100 * time.Millisecond
	v := newRemote(t, cfg)

	must(t, verifies(v, a.token(t, testNow, nil)))
	tokB := b.token(t, testNow, nil)
	if err := verifies(v, tokB); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unpublished key: %v", err)
	}

	// The new key is published: past the cooldown, an unknown kid
	// triggers a refresh and the key verifies soon after.
	srv.set(jwksOf(t, a.pub, b.pub), http.StatusOK)
	clk.Add(cfg.UnknownKIDCooldown)
	eventually(t, "new key to verify", func() bool { return verifies(v, tokB) == nil })

	// The old key is removed; a scheduled refresh drops it (max-age 0 is
	// clamped to MinRefreshInterval).
	srv.set(jwksOf(t, b.pub), http.StatusOK)
	tokA := a.token(t, testNow, nil)
	eventually(t, "removed key to stop verifying", func() bool { return errors.Is(verifies(v, tokA), ErrUnknownKey) })
	must(t, verifies(v, tokB))
}

func TestUnknownKIDWait(t *testing.T) {
	a, b := newEdKey(t), newEdKey(t)
	srv := newJWKSServer(t, jwksOf(t, a.pub))
	cfg := remoteConfig(srv, newClock(testNow))
	cfg.UnknownKIDWait = 2 * time.Second
	v := newRemote(t, cfg)
	srv.set(jwksOf(t, a.pub, b.pub), http.StatusOK)
	if err := verifies(v, b.token(t, testNow, nil)); err != nil {
		t.Fatalf("first token of a rotated key: %v", err)
	}
}

// The cooldown runs on Config.Now: moving the clock, not waiting, ends it.
func TestUnknownKIDCooldownFollowsClock(t *testing.T) {
	a, b, never := newEdKey(t), newEdKey(t), newEdKey(t)
	srv := newJWKSServer(t, jwksOf(t, a.pub)) // max-age 300: no scheduled fetch in this test
	clk := newClock(testNow)
	cfg := remoteConfig(srv, clk)
	cfg.UnknownKIDCooldown = 0 // the default, 5 s
	cfg.UnknownKIDWait = 2 * time.Second
	v := newRemote(t, cfg)
	start := srv.fetches.Load()
	fetches := func() int64 { return srv.fetches.Load() - start }

	// A kid that is never published starts a fetch, and the cooldown.
	if err := verifies(v, never.token(t, clk.Now(), nil)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unpublished key: %v", err)
	}
	if got := fetches(); got != 1 {
		t.Fatalf("%d fetches for the first unknown kid, want 1", got)
	}
	srv.set(jwksOf(t, a.pub, b.pub), http.StatusOK)
	clk.Add(DefaultUnknownKIDCooldown - time.Millisecond)
	if err := verifies(v, b.token(t, clk.Now(), nil)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("within the cooldown: %v", err)
	}
	if got := fetches(); got != 1 {
		t.Fatalf("%d fetches within the cooldown, want 1", got)
	}
	clk.Add(time.Millisecond)
	if err := verifies(v, b.token(t, clk.Now(), nil)); err != nil {
		t.Fatalf("after the cooldown: %v", err)
	}
	if got := fetches(); got != 2 {
		t.Fatalf("%d fetches, want 2", got)
	}
}

// After an emergency rotation the issuer's new key must verify at once, even
// when a scheduled fetch (or New's) has just run: only fetches that tokens
// started count against the cooldown.
func TestScheduledFetchDoesNotStartCooldown(t *testing.T) {
	a, b := newEdKey(t), newEdKey(t)
	srv := newJWKSServer(t, jwksOf(t, a.pub)) // max-age 300: the scheduled fetch schedules no other
	srv.firstCC = "max-age=0"                 // New's answer schedules a fetch at once
	cfg := remoteConfig(srv, newClock(testNow))
	cfg.UnknownKIDCooldown = 0 // the default, 5 s, on a clock that does not move
	cfg.UnknownKIDWait = 2 * time.Second
	v := newRemote(t, cfg)
	first := v.keys.current.Load()
	eventually(t, "the scheduled fetch", func() bool { return v.keys.current.Load() != first && v.keys.idle() })
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want New's and one scheduled", n)
	}

	srv.set(jwksOf(t, a.pub, b.pub), http.StatusOK)
	before := srv.fetches.Load()
	if err := verifies(v, b.token(t, testNow, nil)); err != nil {
		t.Fatalf("first token of the new key right after a scheduled fetch: %v", err)
	}
	if got := srv.fetches.Load() - before; got != 1 {
		t.Fatalf("%d fetches, want 1", got)
	}
}

// A 200 with a usable key is authoritative: a key it no longer lists (the
// issuer revoked it) stops verifying, unusable keys beside it or not.
func TestRevocationByRemoval(t *testing.T) {
	a, b := newEdKey(t), newEdKey(t)
	srv := newJWKSServer(t, jwksOf(t, a.pub, b.pub))
	srv.cacheCtl = "no-cache"
	v := newRemote(t, remoteConfig(srv, newClock(testNow)))
	tok := a.token(t, testNow, nil)
	must(t, verifies(v, tok))
	srv.set(jwksOf(t, b.pub, newRSAKey(t, 1024, false).pub), http.StatusOK)
	eventually(t, "revoked key to stop verifying", func() bool { return errors.Is(verifies(v, tok), ErrUnknownKey) })
	must(t, verifies(v, b.token(t, testNow, nil)))
}

// A 200 whose set has no usable key is a failed fetch, not a revocation of
// every key: the last good set stays until MaxStaleness, the failure is
// logged, and then Verify fails closed as in an outage.
func TestNoUsableKeyIsAFailedFetch(t *testing.T) {
	a := newEdKey(t)
	unusable := newEdKey(t)
	must(t, unusable.pub.Set("use", "enc"))
	for name, body := range map[string][]byte{
		"empty":         []byte(`{"keys":[]}`),
		"only unusable": jwksOf(t, newRSAKey(t, 1024, false).pub, unusable.pub),
	} {
		t.Run(name, func(t *testing.T) {
			srv := newJWKSServer(t, jwksOf(t, a.pub))
			srv.cacheCtl = "no-cache"
			clk := newClock(testNow)
			cfg := remoteConfig(srv, clk)
			logs := &syncBuffer{}
			cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
			v := newRemote(t, cfg)

			srv.set(body, http.StatusOK)
			before := srv.fetches.Load()
			eventually(t, "refreshes", func() bool { return srv.fetches.Load() > before+2 })
			must(t, verifies(v, a.token(t, clk.Now(), nil)))
			eventually(t, "the failure logged", func() bool { return strings.Contains(logs.String(), "jwks has no usable key") })

			clk.Add(cfg.MaxStaleness + time.Minute)
			if err := verifies(v, a.token(t, clk.Now(), nil)); !errors.Is(err, ErrKeySetUnavailable) {
				t.Fatalf("after MaxStaleness: %v", err)
			}

			// As the first fetch, New fails.
			if v, err := New(context.Background(), remoteConfig(srv, clk)); err == nil {
				v.Close()
				t.Fatal("New succeeded with no usable key")
			} else if !strings.Contains(err.Error(), "no usable key") {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

func TestOutageKeepsLastGoodSetThenFailsClosed(t *testing.T) {
	a := newEdKey(t)
	srv := newJWKSServer(t, jwksOf(t, a.pub))
	srv.cacheCtl = "no-cache"
	clk := newClock(testNow)
	v := newRemote(t, remoteConfig(srv, clk))

	srv.set(nil, http.StatusServiceUnavailable)
	before := srv.fetches.Load()
	eventually(t, "failed refreshes", func() bool { return srv.fetches.Load() > before+2 })
	clk.Add(time.Hour) // within MaxStaleness (2h)
	if err := verifies(v, a.token(t, clk.Now(), nil)); err != nil {
		t.Fatalf("during the outage: %v", err)
	}
	clk.Add(61 * time.Minute) // beyond it
	if err := verifies(v, a.token(t, clk.Now(), nil)); !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("after MaxStaleness: %v", err)
	}
	if err := verifies(v, a.token(t, clk.Now(), nil)); ErrorKind(err) != "keyset_unavailable" {
		t.Fatalf("kind of %v", err)
	}
	srv.set(nil, http.StatusOK)
	eventually(t, "recovery", func() bool { return verifies(v, a.token(t, clk.Now(), nil)) == nil })
}

// A clock jump alone (no failed fetch) does not fail closed: it asks for a
// refresh, which succeeds and makes the set fresh again.
func TestClockJumpWithoutOutage(t *testing.T) {
	a := newEdKey(t)
	srv := newJWKSServer(t, jwksOf(t, a.pub))
	clk := newClock(testNow)
	v := newRemote(t, remoteConfig(srv, clk)) // max-age 300: no scheduled fetch soon
	start := srv.fetches.Load()
	clk.Add(30 * time.Hour)
	must(t, verifies(v, a.token(t, clk.Now(), nil)))
	eventually(t, "refresh after the jump", func() bool { return srv.fetches.Load() > start })
	eventually(t, "fresh set", func() bool { return clk.Now().Sub(v.keys.current.Load().fetched) < time.Hour })
}

func TestBadResponsesKeepLastGoodSet(t *testing.T) {
	a := newEdKey(t)
	oversized := append(jwksOf(t, a.pub)[:0:0], jwksOf(t, a.pub)...)
	oversized = append(oversized[:len(oversized)-1], append([]byte(`,"pad":"`), append(bytes.Repeat([]byte("x"), DefaultMaxJWKSSize), `"}`...)...)...)
	bad := []struct {
		name   string
		body   []byte
		status int
	}{
		{"oversized", oversized, http.StatusOK},
		{"not json", []byte(`<html>oops</html>`), http.StatusOK},
		{"keys not an array", []byte(`{"keys":"x"}`), http.StatusOK},
		{"no keys member", []byte(`{}`), http.StatusOK},
		{"empty keys", []byte(`{"keys":[]}`), http.StatusOK},
		{"only unusable keys", jwksOf(t, newRSAKey(t, 1024, false).pub), http.StatusOK},
		{"truncated", jwksOf(t, a.pub)[:40], http.StatusOK},
		{"server error", jwksOf(t, a.pub), http.StatusInternalServerError},
		{"not found", jwksOf(t, a.pub), http.StatusNotFound},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			// As the first fetch, New fails.
			srv := newJWKSServer(t, tt.body)
			srv.status = tt.status
			if v, err := New(context.Background(), remoteConfig(srv, newClock(testNow))); err == nil {
				v.Close()
				t.Fatal("New succeeded")
			}
			// As a refresh, the last good set stays.
			srv.set(jwksOf(t, a.pub), http.StatusOK)
			srv.cacheCtl = "no-cache"
			v := newRemote(t, remoteConfig(srv, newClock(testNow)))
			srv.set(tt.body, tt.status)
			before := srv.fetches.Load()
			eventually(t, "refreshes", func() bool { return srv.fetches.Load() > before+2 })
			must(t, verifies(v, a.token(t, testNow, nil)))
		})
	}
}

func TestUnusableKeysDroppedAlone(t *testing.T) {
	good, weak := newEdKey(t), newRSAKey(t, 1024, false)
	encKey := newEdKey(t)
	must(t, encKey.pub.Set("use", "enc"))
	noKID := newEdKey(t)
	must(t, noKID.pub.Remove("kid"))
	wrongAlg := newEdKey(t)
	must(t, wrongAlg.pub.Set("alg", "RS256"))
	set := jwksOf(t, weak.pub, good.pub, encKey.pub, noKID.pub, wrongAlg.pub)
	// Add keys jwx cannot represent or we must not use.
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	must(t, json.Unmarshal(set, &doc))
	doc.Keys = append(doc.Keys,
		json.RawMessage(`{"kty":"oct","kid":"hmac","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}`),
		json.RawMessage(`{"kty":"XYZ","kid":"future"}`),
		json.RawMessage(`{"kty":"OKP","crv":"X25519","kid":"dh","x":"`+base64.RawURLEncoding.EncodeToString(make([]byte, 32))+`"}`),
		json.RawMessage(`42`),
	)
	body, _ := json.Marshal(doc)
	srv := newJWKSServer(t, body)
	v := newRemote(t, remoteConfig(srv, newClock(testNow)))

	must(t, verifies(v, good.token(t, testNow, nil)))
	for name, k := range map[string]*testKey{"weak rsa": weak, "use enc": encKey, "alg mismatch": wrongAlg} {
		if err := verifies(v, k.token(t, testNow, nil)); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := len(v.keys.current.Load().keys); n != 1 {
		t.Fatalf("%d usable keys, want 1", n)
	}
}

func TestDuplicateKIDsDropped(t *testing.T) {
	a, b := newEdKey(t), newEdKey(t)
	must(t, b.pub.Set("kid", a.kid))
	c := newEdKey(t)
	v, err := New(context.Background(), Config{Issuer: testIssuer, Audience: testAudience, StaticJWKS: jwksOf(t, a.pub, b.pub, c.pub), Now: func() time.Time { return testNow }})
	must(t, err)
	if err := verifies(v, a.token(t, testNow, nil)); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("ambiguous kid: %v", err)
	}
	must(t, verifies(v, c.token(t, testNow, nil)))
}

// TestForgedKIDFlood: many concurrent tokens with random kids cost one fetch
// (the cooldown, on a clock that does not move, refuses any other), and no
// request waits on the network longer than UnknownKIDWait: the fetch is held
// open until every request has returned.
func TestForgedKIDFlood(t *testing.T) {
	a := newEdKey(t)
	const n = 1000
	tokens := make([]string, n)
	for i := range tokens {
		kid := make([]byte, 32)
		_, _ = rand.Read(kid)
		tokens[i] = a.craft(t, a.header(map[string]any{"kid": base64.RawURLEncoding.EncodeToString(kid)}), claimsAt(testNow, nil), "EdDSA")
	}
	for _, wait := range []time.Duration{0, 100 * time.Millisecond} {
		t.Run("wait="+wait.String(), func(t *testing.T) {
			srv := newJWKSServer(t, jwksOf(t, a.pub))
			cfg := remoteConfig(srv, newClock(testNow))
			cfg.UnknownKIDCooldown = 0 // the default, 5 s
			cfg.UnknownKIDWait = wait
			v := newRemote(t, cfg)
			gate := make(chan struct{})
			srv.mu.Lock()
			srv.gate = gate
			srv.mu.Unlock()
			start := srv.fetches.Load()

			var wg sync.WaitGroup
			errs := make(chan error, n)
			for _, tok := range tokens {
				wg.Go(func() { errs <- verifies(v, tok) })
			}
			flooded := make(chan struct{})
			go func() { wg.Wait(); close(flooded) }()
			select {
			case <-flooded:
			case <-time.After(time.Minute): // a deadlock guard, far above any wait
				close(gate)
				t.Fatal("requests waited on the held fetch beyond UnknownKIDWait")
			}
			close(gate)
			close(errs)
			for err := range errs {
				if !errors.Is(err, ErrUnknownKey) {
					t.Fatalf("forged kid: %v", err)
				}
			}
			eventually(t, "the triggered fetch to end", func() bool { return srv.fetches.Load() > start && v.keys.idle() })
			if got := srv.fetches.Load() - start; got != 1 {
				t.Fatalf("%d fetches for %d forged kids, want 1", got, n)
			}
			if v.keys.requestRefresh() != nil {
				t.Fatal("another token-triggered fetch allowed within the cooldown")
			}
		})
	}
}

// Tokens that could never pass (wrong issuer or audience, expired) do not
// trigger a fetch even with an unknown kid, so they cannot use up the
// cooldown that the first token of a genuine new key needs.
func TestUnknownKIDJunkDoesNotFetch(t *testing.T) {
	a, b := newEdKey(t), newEdKey(t)
	srv := newJWKSServer(t, jwksOf(t, a.pub))
	cfg := remoteConfig(srv, newClock(testNow))
	cfg.UnknownKIDCooldown = 0 // the default, 5 s, on a clock that does not move
	cfg.UnknownKIDWait = 2 * time.Second
	v := newRemote(t, cfg)
	srv.set(jwksOf(t, a.pub, b.pub), http.StatusOK)
	start := srv.fetches.Load()
	for _, edits := range []map[string]any{
		{"iss": "https://evil.test"},
		{"aud": "other"},
		{"iat": testNow.Add(-time.Hour).Unix(), "exp": testNow.Add(-time.Minute).Unix()},
	} {
		// Had it fetched, b would be known and the error would name the claim.
		if err := verifies(v, b.token(t, testNow, edits)); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("%v: %v", edits, err)
		}
	}
	if got := srv.fetches.Load() - start; got != 0 {
		t.Fatalf("%d fetches for junk tokens", got)
	}
	must(t, verifies(v, b.token(t, testNow, nil)))
	if got := srv.fetches.Load() - start; got != 1 {
		t.Fatalf("%d fetches for the genuine token, want 1", got)
	}
}

func TestDiscovery(t *testing.T) {
	a := newEdKey(t)
	srv := newJWKSServer(t, jwksOf(t, a.pub))
	cfg := Config{Issuer: srv.URL, Audience: testAudience, Now: func() time.Time { return testNow }}
	v := newRemote(t, cfg)
	tok := a.token(t, testNow, map[string]any{"iss": srv.URL})
	must(t, verifies(v, tok))

	srv.discovery = "https://impostor.test"
	if v, err := New(context.Background(), cfg); err == nil {
		v.Close()
		t.Fatal("discovery with another issuer accepted")
	} else if !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("error: %v", err)
	}
}

func TestConditionalRequests(t *testing.T) {
	a := newEdKey(t)
	srv := newJWKSServer(t, jwksOf(t, a.pub))
	srv.cacheCtl = "no-cache"
	srv.etag = `"v1"`
	v := newRemote(t, remoteConfig(srv, newClock(testNow)))
	eventually(t, "304 answers", func() bool { return srv.notMod.Load() > 2 })
	must(t, verifies(v, a.token(t, testNow, nil)))
}

func TestLazyStart(t *testing.T) {
	a := newEdKey(t)
	srv := newJWKSServer(t, jwksOf(t, a.pub))
	srv.status = http.StatusServiceUnavailable
	cfg := remoteConfig(srv, newClock(testNow))
	cfg.Lazy = true
	v := newRemote(t, cfg)
	tok := a.token(t, testNow, nil)
	if err := verifies(v, tok); !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("before the first fetch: %v", err)
	}
	srv.set(nil, http.StatusOK)
	eventually(t, "lazy fetch", func() bool { return verifies(v, tok) == nil })
}

// Lazy is the way to start while the issuer is down: New succeeds on an
// address where nothing listens, Verify answers keyset_unavailable, and a
// bad configuration still fails at once.
func TestLazyStartUnreachableIssuer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	down := "http://" + ln.Addr().String() // nothing listens there once closed
	ln.Close()
	cfg := Config{Issuer: down, Audience: testAudience, Lazy: true, Now: func() time.Time { return testNow }}
	v := newRemote(t, cfg)
	a := newEdKey(t)
	if err := verifies(v, a.token(t, testNow, map[string]any{"iss": down})); !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("Verify before any key: %v", err)
	}
	if _, err := New(context.Background(), Config{Issuer: down, Audience: testAudience}); err == nil {
		t.Fatal("New without Lazy succeeded with the issuer down")
	}
	for _, issuer := range []string{"issuer.example.com", "http://issuer.example.com"} {
		cfg.Issuer = issuer
		if v, err := New(context.Background(), cfg); err == nil {
			v.Close()
			t.Fatalf("Lazy New accepted the issuer %q", issuer)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		min, max time.Duration
		failures []time.Duration // delay after 1, 2, 3, ... failures
	}{
		{5 * time.Second, time.Hour, []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}},
		{time.Second, 3 * time.Second, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}},
		{2 * time.Minute, time.Hour, []time.Duration{2 * time.Minute, 2 * time.Minute}},
		{time.Millisecond, time.Hour, append(make([]time.Duration, 59), time.Minute)},
	}
	for _, tt := range tests {
		f := &fetcher{minEvery: tt.min, maxEvery: tt.max}
		for i, want := range tt.failures {
			f.failures = i + 1
			if got := f.retryDelay(); want != 0 && got != want {
				t.Errorf("min %v max %v, %d failures: %v, want %v", tt.min, tt.max, f.failures, got, want)
			}
		}
	}
}

func TestCloseStopsRefresh(t *testing.T) {
	a := newEdKey(t)
	srv := newJWKSServer(t, jwksOf(t, a.pub))
	srv.cacheCtl = "no-cache"
	ctx, cancel := context.WithCancel(context.Background())
	v, err := New(ctx, remoteConfig(srv, newClock(testNow)))
	must(t, err)
	eventually(t, "refreshes", func() bool { return srv.fetches.Load() > 2 })
	cancel()
	must(t, v.Close())
	must(t, v.Close())
	select {
	case <-v.done:
	default:
		t.Fatal("the refresh goroutine is still running after Close")
	}
	if v.keys.requestRefresh() != nil {
		t.Fatal("a fetch can still be requested after Close")
	}
	must(t, verifies(v, a.token(t, testNow, nil))) // the last set still works
	other := newEdKey(t)
	if err := verifies(v, other.token(t, testNow, nil)); !errors.Is(err, ErrUnknownKey) {
		t.Fatal(err)
	}
}

func TestRefreshInterval(t *testing.T) {
	f := &fetcher{minEvery: time.Minute, maxEvery: time.Hour}
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", DefaultRefreshInterval},
		{"public, max-age=300", 5 * time.Minute},
		{"public, MAX-AGE=600", 10 * time.Minute},
		{"max-age=5", time.Minute},
		{"max-age=999999999999", time.Hour},
		{`max-age="120"`, 2 * time.Minute},
		{"max-age=-5", DefaultRefreshInterval},
		{"max-age=abc", DefaultRefreshInterval},
		{"no-cache", time.Minute},
		{"no-store, max-age=3000", time.Minute},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Cache-Control", tt.header)
		}
		if got := f.interval(h); got != tt.want {
			t.Errorf("interval(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

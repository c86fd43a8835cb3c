package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// clientJWKS is a client's own JWKS endpoint: it serves the public keys
// set on it, with a Cache-Control header, and counts the requests.
type clientJWKS struct {
	mu           sync.Mutex
	body         []byte
	cacheControl string
	status       int
	fetches      atomic.Int64
	srv          *httptest.Server
}

func newClientJWKS(t *testing.T) *clientJWKS {
	j := &clientJWKS{status: http.StatusOK}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.cacheControl != "" {
			w.Header().Set("Cache-Control", j.cacheControl)
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(j.status)
		_, _ = w.Write(j.body)
	}))
	t.Cleanup(j.srv.Close)
	return j
}

// publish serves the public halves of keys (by kid).
func (j *clientJWKS) publish(t *testing.T, keys map[string]ed25519.PrivateKey) {
	t.Helper()
	set := jwk.NewSet()
	for kid, priv := range keys {
		k, err := jwk.FromRaw(priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		_ = k.Set(jwk.KeyIDKey, kid)
		_ = set.AddKey(k)
	}
	b, _ := json.Marshal(set)
	j.mu.Lock()
	j.body = b
	j.mu.Unlock()
}

// kidAssertion is a client assertion whose header names kid.
func kidAssertion(t *testing.T, priv ed25519.PrivateKey, kid, clientID string, now time.Time, jti string) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Issuer(clientID).Subject(clientID).Audience([]string{"http://issuer.test"}).
		IssuedAt(now).Expiration(now.Add(time.Minute)).JwtID(jti).Build()
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	if kid != "" {
		_ = h.Set(jws.KeyIDKey, kid)
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// TestClientJWKSURICache: a client registered with a jwks_uri has its
// keys fetched once for many assertions, kept as long as its max-age says
// (within bounds); assertions naming a kid the set lacks cause one
// refetch per cooldown, not one each; a rotated key is picked up on its
// first assertion once the cooldown has passed; many concurrent first
// assertions share one fetch.
func TestClientJWKSURICache(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		registerDemo(t, e)
		ctx := context.Background()
		j := newClientJWKS(t)
		k1 := newEd25519(t)
		j.publish(t, map[string]ed25519.PrivateKey{"k1": k1})
		j.cacheControl = "public, max-age=600"
		if _, _, err := e.iss.Registry.CreateClient(ctx, issuer.Caller{}, issuer.Client{ID: "shop-api", GrantTypes: []string{issuer.GrantClientCredentials},
			Resources: []string{videoURI}, Scopes: []string{"video:read"}, JWKSURI: j.srv.URL + "/jwks.json"}); err != nil {
			t.Fatal(err)
		}
		n := 0
		try := func(priv ed25519.PrivateKey, kid string) int {
			t.Helper()
			n++
			a := kidAssertion(t, priv, kid, "shop-api", e.clock.Now(), fmt.Sprintf("jti-%d", n))
			resp, body := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {issuer.JWTBearerAssertion},
				"client_assertion": {a}, "resource": {videoURI}, "scope": {"video:read"}})
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("token endpoint: %d %s", resp.StatusCode, body)
			}
			return resp.StatusCode
		}
		wantFetches := func(step string, want int64) {
			t.Helper()
			if got := j.fetches.Load(); got != want {
				t.Fatalf("%s: %d fetches of the jwks_uri, want %d", step, got, want)
			}
			// The metric counts the same fetches, good and failed.
			m := e.scrape()
			if got := m[`signet_client_jwks_fetches_total{outcome="ok"}`] + m[`signet_client_jwks_fetches_total{outcome="error"}`]; got != float64(want) {
				t.Fatalf("%s: signet_client_jwks_fetches_total = %v, want %d", step, got, want)
			}
		}

		// Concurrent first assertions share one fetch.
		var wg sync.WaitGroup
		statuses := make([]int, 8)
		for w := range statuses {
			a := kidAssertion(t, k1, "k1", "shop-api", e.clock.Now(), fmt.Sprintf("concurrent-%d", w))
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", e.srv.URL+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"},
					"client_assertion_type": {issuer.JWTBearerAssertion}, "client_assertion": {a}, "resource": {videoURI}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					statuses[w] = resp.StatusCode
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		for w, s := range statuses {
			if s != http.StatusOK {
				t.Fatalf("concurrent assertion %d: status %d", w, s)
			}
		}
		wantFetches("8 concurrent first assertions", 1)

		// N more assertions within the max-age: no fetch.
		for range 20 {
			e.clock.Advance(time.Second)
			if s := try(k1, "k1"); s != http.StatusOK {
				t.Fatalf("assertion with the published key: %d", s)
			}
		}
		wantFetches("20 assertions within max-age", 1)

		// An attacker's assertions with an unknown kid: one refetch, then
		// the cooldown holds however many follow.
		rogue := newEd25519(t)
		for range 30 {
			if s := try(rogue, "rogue"); s != http.StatusUnauthorized {
				t.Fatalf("assertion signed by an unknown key: %d", s)
			}
		}
		wantFetches("30 assertions with an unknown kid", 2)
		e.clock.Advance(11 * time.Second)
		for range 30 {
			try(rogue, "rogue")
		}
		wantFetches("30 more after the cooldown", 3)

		// The client rotates: its new key is published and used at once.
		// Once the cooldown has passed, the first assertion with it
		// refetches and passes; later ones use the cache.
		k2 := newEd25519(t)
		j.publish(t, map[string]ed25519.PrivateKey{"k2": k2})
		e.clock.Advance(11 * time.Second)
		if s := try(k2, "k2"); s != http.StatusOK {
			t.Fatalf("rotated key: %d", s)
		}
		wantFetches("rotated key", 4)
		if s := try(k2, "k2"); s != http.StatusOK {
			t.Fatalf("rotated key, again: %d", s)
		}
		wantFetches("rotated key, cached", 4)
		// The old key left the set the client publishes: refused.
		if s := try(k1, "k1"); s != http.StatusUnauthorized {
			t.Fatalf("retired key: %d", s)
		}

		// Past the max-age (600 s) the set is fetched again.
		e.clock.Advance(601 * time.Second)
		try(k2, "k2")
		wantFetches("past max-age", 5)

		// A max-age above the ceiling is kept one hour at most; below the
		// floor, one minute at least.
		j.cacheControl = "max-age=86400"
		e.clock.Advance(601 * time.Second)
		try(k2, "k2")
		wantFetches("max-age 1 day, first", 6)
		e.clock.Advance(59 * time.Minute)
		try(k2, "k2")
		wantFetches("max-age 1 day, 59 min later", 6)
		e.clock.Advance(2 * time.Minute)
		try(k2, "k2")
		wantFetches("max-age 1 day, past the 1 h ceiling", 7)
		j.cacheControl = "no-store"
		e.clock.Advance(61 * time.Minute)
		try(k2, "k2")
		wantFetches("no-store, first", 8)
		e.clock.Advance(30 * time.Second)
		try(k2, "k2")
		wantFetches("no-store, 30 s later (1 min floor)", 8)

		// While the client's server fails, the last good set goes on
		// verifying, and failures are retried once per cooldown.
		j.mu.Lock()
		j.status = http.StatusInternalServerError
		j.mu.Unlock()
		e.clock.Advance(61 * time.Second)
		for range 5 {
			if s := try(k2, "k2"); s != http.StatusOK {
				t.Fatalf("last good set while the jwks_uri fails: %d", s)
			}
		}
		wantFetches("jwks_uri failing", 9)
		if !strings.Contains(e.logs.String(), "client jwks_uri fetch failed") {
			t.Fatal("a failed jwks_uri fetch is not logged")
		}
	})
}

// TestClientJWKSURIRefusals: a jwks_uri body over the size cap, one with
// a private key, a redirect (not followed) and a 404 are refused (401
// invalid_client), and each costs the client's server one request for
// five assertions within the cooldown.
func TestClientJWKSURIRefusals(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		registerDemo(t, e)
		ctx := context.Background()
		priv := newEd25519(t)
		pubKey, _ := jwk.FromRaw(priv.Public())
		pub, _ := json.Marshal(map[string]any{"keys": []any{pubKey}})
		privKey, _ := jwk.FromRaw(priv)
		private, _ := json.Marshal(map[string]any{"keys": []any{privKey}})
		big := append(append([]byte(`{"keys":[`), pub[9:len(pub)-2]...), []byte(`],"pad":"`+strings.Repeat("a", 70<<10)+`"}`)...)

		var fetches atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fetches.Add(1)
			switch r.URL.Path {
			case "/big":
				_, _ = w.Write(big)
			case "/private":
				_, _ = w.Write(private)
			case "/redirect":
				http.Redirect(w, r, "/good", http.StatusFound)
			case "/good":
				_, _ = w.Write(pub)
			default:
				http.NotFound(w, r)
			}
		}))
		t.Cleanup(srv.Close)
		n := 0
		for _, path := range []string{"/big", "/private", "/redirect", "/missing", "/good"} {
			id := "svc" + strings.ReplaceAll(path, "/", "-")
			if _, _, err := e.iss.Registry.CreateClient(ctx, issuer.Caller{}, issuer.Client{ID: id, GrantTypes: []string{issuer.GrantClientCredentials},
				Resources: []string{videoURI}, JWKSURI: srv.URL + path}); err != nil {
				t.Fatal(err)
			}
			before := fetches.Load()
			for range 5 {
				n++
				a := kidAssertion(t, priv, "", id, e.clock.Now(), fmt.Sprintf("r-%d", n))
				resp, body := e.form("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {issuer.JWTBearerAssertion},
					"client_assertion": {a}, "resource": {videoURI}})
				if path == "/good" {
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
					}
					continue
				}
				wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
			}
			if got := fetches.Load() - before; got != 1 {
				t.Fatalf("%s: %d fetches for 5 assertions, want 1", path, got)
			}
		}
		if strings.Contains(e.logs.String(), `"d":`) {
			t.Fatal("a private key reached the log")
		}
	})
}

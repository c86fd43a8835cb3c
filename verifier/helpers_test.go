package verifier

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

const (
	testIssuer   = "https://issuer.test"
	testAudience = "orders-api"
)

var testNow = time.Unix(1_700_000_000, 0)

// testKey is a signing key with its public JWK (kid = RFC 7638 thumbprint).
type testKey struct {
	kid  string
	alg  string
	priv crypto.Signer
	pub  jwk.Key
}

func newTestKey(t testing.TB, priv crypto.Signer, alg string) *testKey {
	t.Helper()
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	must(t, pub.Set(jwk.KeyIDKey, kid))
	must(t, pub.Set(jwk.KeyUsageKey, "sig"))
	if alg != "" {
		must(t, pub.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg)))
	}
	return &testKey{kid: kid, alg: alg, priv: priv, pub: pub}
}

func newEdKey(t testing.TB) *testKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newTestKey(t, priv, "EdDSA")
}

// rsaKeys caches generated RSA keys by size: generation is slow.
var rsaKeys sync.Map

func newRSAKey(t testing.TB, bits int, fresh bool) *testKey {
	t.Helper()
	if !fresh {
		if k, ok := rsaKeys.Load(bits); ok {
			return newTestKey(t, k.(*rsa.PrivateKey), "RS256")
		}
	}
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	if !fresh {
		rsaKeys.Store(bits, priv)
	}
	return newTestKey(t, priv, "RS256")
}

func newECKey(t testing.TB) *testKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newTestKey(t, priv, "ES256")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// toJSON marshals v, or returns it as is when it is already raw JSON.
func toJSON(t testing.TB, v any) []byte {
	switch v := v.(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	b, err := json.Marshal(v)
	must(t, err)
	return b
}

// signWith signs signingInput with priv as alg would.
func signWith(t testing.TB, priv crypto.Signer, alg string, signingInput []byte) []byte {
	t.Helper()
	switch alg {
	case "EdDSA":
		return ed25519.Sign(priv.(ed25519.PrivateKey), signingInput)
	case "RS256":
		sum := sha256.Sum256(signingInput)
		sig, err := rsa.SignPKCS1v15(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA256, sum[:])
		must(t, err)
		return sig
	case "PS256":
		sum := sha256.Sum256(signingInput)
		sig, err := rsa.SignPSS(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		must(t, err)
		return sig
	case "ES256":
		sum := sha256.Sum256(signingInput)
		r, s, err := ecdsa.Sign(rand.Reader, priv.(*ecdsa.PrivateKey), sum[:])
		must(t, err)
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	}
	t.Fatalf("signWith: unknown alg %q", alg)
	return nil
}

// craft builds a compact JWS by hand from any header and claims (maps or
// raw JSON), signed by k with the alg named in sigAlg.
func (k *testKey) craft(t testing.TB, header, claims any, sigAlg string) string {
	t.Helper()
	in := b64(toJSON(t, header)) + "." + b64(toJSON(t, claims))
	return in + "." + b64(signWith(t, k.priv, sigAlg, []byte(in)))
}

// token signs the standard header and claims, with edits applied to the
// claims (a nil value deletes the claim).
func (k *testKey) token(t testing.TB, now time.Time, edits map[string]any) string {
	t.Helper()
	return k.craft(t, k.header(nil), claimsAt(now, edits), k.alg)
}

// header returns the standard header with edits (nil deletes).
func (k *testKey) header(edits map[string]any) map[string]any {
	h := map[string]any{"alg": k.alg, "kid": k.kid, "typ": "at+jwt"}
	for name, v := range edits {
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
	}
	return h
}

func claimsAt(now time.Time, edits map[string]any) map[string]any {
	c := map[string]any{
		"iss":   testIssuer,
		"sub":   "user-42",
		"aud":   []string{testAudience, "billing-api"},
		"exp":   now.Add(15 * time.Minute).Unix(),
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"jti":   "tok-1",
		"sid":   "sess-1",
		"email": "ada@example.com",
		"scope": "orders:read orders:write",
	}
	for name, v := range edits {
		if v == nil {
			delete(c, name)
		} else {
			c[name] = v
		}
	}
	return c
}

func jwksOf(t testing.TB, keys ...jwk.Key) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		must(t, set.AddKey(k))
	}
	b, err := json.Marshal(set)
	must(t, err)
	return b
}

// clock is an adjustable Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// jwksServer is an httptest issuer whose JWKS response tests can change.
type jwksServer struct {
	*httptest.Server
	fetches   atomic.Int64 // JWKS requests
	notMod    atomic.Int64 // 304 answers
	mu        sync.Mutex
	body      []byte
	status    int
	cacheCtl  string
	etag      string
	firstCC   string        // when set, the Cache-Control of the first JWKS answer only
	gate      chan struct{} // when set, JWKS answers wait until it is closed
	discovery string        // issuer in the discovery document; "" = server URL
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	s := &jwksServer{body: body, status: http.StatusOK, cacheCtl: "public, max-age=300"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", s.serveJWKS)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		iss := s.discovery
		s.mu.Unlock()
		if iss == "" {
			iss = s.URL
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": s.URL + "/.well-known/jwks.json"})
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	n := s.fetches.Add(1)
	s.mu.Lock()
	body, status, cacheCtl, etag, gate := s.body, s.status, s.cacheCtl, s.etag, s.gate
	if n == 1 && s.firstCC != "" {
		cacheCtl = s.firstCC
	}
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if status != http.StatusOK {
		http.Error(w, "unavailable", status)
		return
	}
	if cacheCtl != "" {
		w.Header().Set("Cache-Control", cacheCtl)
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			s.notMod.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func (s *jwksServer) set(body []byte, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body != nil {
		s.body = body
	}
	s.status = status
}

func (s *jwksServer) jwksURL() string { return s.URL + "/.well-known/jwks.json" }

// eventually polls cond every few milliseconds for up to 5 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger on another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// idle reports whether no fetch is requested or running.
func (c *keyCache) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.round == nil
}

func mustSet(t testing.TB, keys ...*testKey) jwk.Set {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		must(t, set.AddKey(k.pub))
	}
	return set
}

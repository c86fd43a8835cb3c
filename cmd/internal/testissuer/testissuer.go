// Package testissuer starts a real Signet issuer in-process on 127.0.0.1
// for the tests of the demo commands, and checks resource servers against
// it.
package testissuer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/cmd/internal/resource"
	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/httpapi"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
	"github.com/signet-auth/signet/verifier"
)

// Issuer is a running issuer.
type Issuer struct {
	URL string
	t   testing.TB
}

// Start runs an issuer on a SQLite store whose tokens carry audiences.
func Start(t testing.TB, audiences ...string) *Issuer {
	t.Helper()
	db := storetest.Open(t, store.SQLite)
	sealer, _ := keys.NewSealer(bytes.Repeat([]byte{9}, 32))
	policy := keys.Policy{Alg: keys.EdDSA, RotationPeriod: 24 * time.Hour, JWKSMaxAge: time.Minute,
		ReloadInterval: time.Second, AccessTokenTTL: 15 * time.Minute, Leeway: 30 * time.Second}
	ring := keys.NewKeyring(db, sealer, policy, nil)
	rot := &keys.Rotator{Store: db, Sealer: sealer, Policy: policy}
	if _, err := rot.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := ring.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	iss, err := issuer.New(issuer.Config{IssuerURL: url, Audience: audiences, BcryptCost: 4,
		Lifecycle: issuer.LifecycleConfig{SignupMode: issuer.SignupOpen}}, db, ring, sealer)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.NewServer(iss, httpapi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	return &Issuer{URL: url, t: t}
}

// AccessToken signs up a new user and signs in, returning the access token.
func (i *Issuer) AccessToken(email string) string {
	i.t.Helper()
	body := `{"email":"` + email + `","password":"correct horse"}`
	for _, path := range []string{"/v1/signup", "/v1/signin"} {
		resp, err := http.Post(i.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			i.t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			i.t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		if path == "/v1/signin" {
			var tk struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.Unmarshal(b, &tk)
			return tk.AccessToken
		}
	}
	return ""
}

// FreeAddr returns a loopback address with a port free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitHealthy polls url/healthz until it answers 200 (at most 10 s).
func WaitHealthy(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not become healthy", url)
}

// CheckResourceServer runs a demo resource server (its name and routes)
// against a fresh issuer, and checks that GET /api/me accepts a token from
// the issuer and refuses, with the right error kind, a missing token, a
// tampered one, and tokens signed by a key the issuer never published.
func CheckResourceServer(t *testing.T, name string, routes func(resource.Config, *verifier.Verifier, *slog.Logger) http.Handler) {
	t.Helper()
	iss := Start(t, "shop-api", "video-api")
	addr := FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- resource.Run(ctx, name, addr, []string{"--issuer", iss.URL}, func(string) string { return "" }, io.Discard, routes)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
	apiURL := "http://" + addr
	WaitHealthy(t, apiURL)
	const path, email = "/api/me", "ann@example.com"

	good := iss.AccessToken(email)
	status, body, _ := get(t, apiURL+path, good)
	if status != 200 || body["email"] != email || body["sub"] == "" {
		t.Fatalf("valid token: %d %v", status, body)
	}
	parts := strings.Split(good, ".")
	var header map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(hb, &header)

	// tamper changes a claim and re-encodes: a well-formed payload the
	// signature does not cover.
	tamper := func(payload string) string {
		var claims map[string]any
		b, _ := base64.RawURLEncoding.DecodeString(payload)
		_ = json.Unmarshal(b, &claims)
		claims["email"] = "mallory@example.com"
		b, _ = json.Marshal(claims)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	_, rogue, _ := ed25519.GenerateKey(rand.Reader)
	forge := func(kid string) string {
		h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "at+jwt", "kid": kid})
		in := base64.RawURLEncoding.EncodeToString(h) + "." + parts[1]
		return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(rogue, []byte(in)))
	}
	cases := []struct {
		name, token, kind string
	}{
		{"no token", "", "missing_token"},
		{"garbage", "not-a-token", "malformed"},
		{"tampered payload", parts[0] + "." + tamper(parts[1]) + "." + parts[2], "bad_signature"},
		{"unpublished key, its own kid", forge("rogue-kid"), "unknown_key"},
		{"unpublished key, the issuer's kid", forge(header["kid"].(string)), "bad_signature"},
	}
	for _, c := range cases {
		status, body, h := get(t, apiURL+path, c.token)
		if status != 401 || body["error"] != "invalid_token" || body["kind"] != c.kind || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %v %q, want 401 kind %s", c.name, status, body, h.Get("WWW-Authenticate"), c.kind)
		}
	}
}

func get(t *testing.T, url, token string) (int, map[string]string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&raw)
	out := map[string]string{}
	for k, v := range raw {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return resp.StatusCode, out, resp.Header
}

// Package testissuer starts a real Signet issuer in-process on 127.0.0.1
// for the tests of the demo commands, and checks resource servers against
// it.
package testissuer

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/cmd/internal/resource"
	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/httpapi"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// Issuer is a running issuer.
type Issuer struct {
	URL string
	// Iss is the issuer's services, for what a test sets up behind
	// the HTTP API.
	Iss *issuer.Issuer
	t   testing.TB
	db  *store.DB
}

// Options choose the issuer's store, default audience and registry.
type Options struct {
	Dialect  string               // store.SQLite (the default) or store.Postgres
	Audience []string             // default: the issuer URL
	Registry *issuer.RegistryFile // applied before the issuer serves
}

// Start runs an issuer on a SQLite store whose tokens carry audiences.
func Start(t testing.TB, audiences ...string) *Issuer {
	t.Helper()
	return StartWith(t, Options{Audience: audiences})
}

// StartWith runs an issuer as opts say.
func StartWith(t testing.TB, opts Options) *Issuer {
	t.Helper()
	db := storetest.Open(t, cmp.Or(opts.Dialect, store.SQLite))
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
	if len(opts.Audience) == 0 {
		opts.Audience = []string{url} // as signet serve's default
	}
	iss, err := issuer.New(issuer.Config{IssuerURL: url, Audience: opts.Audience, BcryptCost: 4,
		Lifecycle: issuer.LifecycleConfig{SignupMode: issuer.SignupOpen}}, db, ring, sealer)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Registry != nil {
		if _, err := iss.Registry.Apply(context.Background(), issuer.Caller{}, *opts.Registry); err != nil {
			t.Fatal(err)
		}
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
	return &Issuer{URL: url, Iss: iss, t: t, db: db}
}

// DemoRegistry reads the demo's registry file (deploy/registry.json) with
// shop-api's jwks_uri pointed at shopURL.
func DemoRegistry(t testing.TB, shopURL string) *issuer.RegistryFile {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "deploy", "registry.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := issuer.ParseRegistryFile(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Clients {
		if f.Clients[i].JWKSURI != "" {
			f.Clients[i].JWKSURI = shopURL + "/.well-known/jwks.json"
		}
	}
	return &f
}

// AccessToken signs up a new user and signs in, returning the access token.
func (i *Issuer) AccessToken(email string) string {
	i.t.Helper()
	i.SignUp(email)
	return i.Token(email, "", "")
}

// AddRole gives the user with email a role (signet users roles add).
func (i *Issuer) AddRole(email, role string) {
	i.t.Helper()
	roles, err := issuer.NewRoles(issuer.Config{IssuerURL: i.URL, Audience: []string{i.URL}, BcryptCost: 4}, i.db)
	if err != nil {
		i.t.Fatal(err)
	}
	if _, err := roles.Add(context.Background(), issuer.Caller{}, email, role); err != nil {
		i.t.Fatal(err)
	}
}

// SignUp creates an account with the password "correct horse".
func (i *Issuer) SignUp(email string) {
	i.t.Helper()
	i.post("/v1/signup", map[string]string{"email": email, "password": "correct horse"})
}

// Token signs in (resource and scope may be empty) and returns the access
// token.
func (i *Issuer) Token(email, resource, scope string) string {
	i.t.Helper()
	b := i.post("/v1/signin", map[string]string{"email": email, "password": "correct horse", "resource": resource, "scope": scope})
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(b, &tk)
	if tk.AccessToken == "" {
		i.t.Fatalf("sign-in: no access token in %s", b)
	}
	return tk.AccessToken
}

func (i *Issuer) post(path string, fields map[string]string) []byte {
	i.t.Helper()
	body := map[string]string{}
	for k, v := range fields {
		if v != "" {
			body[k] = v
		}
	}
	in, _ := json.Marshal(body)
	resp, err := http.Post(i.URL+path, "application/json", bytes.NewReader(in))
	if err != nil {
		i.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		i.t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// RunServer runs a demo resource server against the issuer on addr (a
// free loopback port when empty), with args added to its command line
// (KEY_FILE is a file in a temporary directory), and returns its URL once
// it is healthy.
func RunServer(t testing.TB, s resource.Server, issuerURL, addr string, args ...string) string {
	t.Helper()
	if addr == "" {
		addr = FreeAddr(t)
	}
	keyFile := filepath.Join(t.TempDir(), "client.key")
	env := func(k string) string {
		if k == "KEY_FILE" {
			return keyFile
		}
		return ""
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- resource.Run(ctx, s, append([]string{"--addr", addr, "--issuer", issuerURL}, args...), env, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	})
	url := "http://" + addr
	WaitHealthy(t, url)
	return url
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

// CheckResourceServer runs a demo resource server against a fresh issuer
// with the demo registry, and checks that GET /api/me accepts a token
// from the issuer for the server's resource and refuses, with the right
// error kind, a missing token, a tampered one, tokens signed by a key the
// issuer never published, and a token for the issuer's default audience.
func CheckResourceServer(t *testing.T, s resource.Server) {
	t.Helper()
	addr := FreeAddr(t)
	iss := StartWith(t, Options{Registry: DemoRegistry(t, "http://"+addr)})
	apiURL := RunServer(t, s, iss.URL, addr)
	const path, email = "/api/me", "ann@example.com"

	iss.SignUp(email)
	good := iss.Token(email, s.DefaultAudience, "")
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
		{"the default audience", iss.Token(email, "", ""), "wrong_audience"},
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

package resource_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/signet-auth/signet/cmd/internal/resource"
	"github.com/signet-auth/signet/cmd/internal/testissuer"
	"github.com/signet-auth/signet/verifier"
)

// routes is a demo server's shape: /api/me behind verifier.Middleware with
// resource.Unauthorized as the error response.
func routes(cfg resource.Config, v *verifier.Verifier, _ *slog.Logger) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		resource.WriteJSON(w, http.StatusOK, resource.IdentityOf(cfg.Name, c))
	})
	return verifier.Middleware(v, verifier.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
		resource.Unauthorized(w, err)
	}))(mux), nil
}

// fakeIssuer serves discovery and a JWKS with one Ed25519 key, and signs
// tokens with it.
type fakeIssuer struct {
	url  string
	priv ed25519.PrivateKey
}

func (f *fakeIssuer) handler() http.Handler {
	pub := f.priv.Public().(ed25519.PublicKey)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": f.url, "jwks_uri": f.url + "/.well-known/jwks.json"})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "k1",
			"x": base64.RawURLEncoding.EncodeToString(pub),
		}}})
	})
	return mux
}

func (f *fakeIssuer) token(t *testing.T, audience string) string {
	t.Helper()
	now := time.Now()
	c := verifier.Claims{Issuer: f.url, Subject: "user-1", Audience: []string{audience}, Email: "ann@example.com",
		IssuedAt: now, Expiry: now.Add(15 * time.Minute)}
	header, _ := json.Marshal(map[string]string{"alg": "EdDSA", "kid": "k1", "typ": "at+jwt"})
	payload, err := c.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	in := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(f.priv, []byte(in)))
}

// TestStartsWhileIssuerIsDown: a resource server started before its issuer
// comes up, answers 503 keyset_unavailable with Retry-After (not 401, and
// it does not exit), then 200 once the issuer serves its keys.
func TestStartsWhileIssuerIsDown(t *testing.T) {
	issuerAddr := testissuer.FreeAddr(t) // nothing listens there yet
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	iss := &fakeIssuer{url: "http://" + issuerAddr, priv: priv}

	apiAddr := testissuer.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- resource.Run(ctx, resource.Server{Name: "shop-api", DefaultAddr: apiAddr, Routes: routes}, []string{"--issuer", iss.url}, func(string) string { return "" }, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	apiURL := "http://" + apiAddr
	testissuer.WaitHealthy(t, apiURL)
	tok := iss.token(t, "shop-api")

	status, h, body := get(t, apiURL+"/api/me", tok)
	if status != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || body["kind"] != "keyset_unavailable" ||
		h.Get("Retry-After") != "5" || h.Get("WWW-Authenticate") != "" {
		t.Fatalf("issuer down: %d %v Retry-After %q, want 503 temporarily_unavailable", status, body, h.Get("Retry-After"))
	}
	if status, _, body := get(t, apiURL+"/api/me", "not-a-token"); status != http.StatusUnauthorized || body["kind"] != "malformed" {
		t.Fatalf("bad token while the issuer is down: %d %v, want 401", status, body)
	}

	ln, err := net.Listen("tcp", issuerAddr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: iss.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })

	// The server retries with backoff from 1 s, and each request past the
	// 5 s cooldown starts a fetch: well within the deadline.
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, h, body = get(t, apiURL+"/api/me", tok)
		if status == http.StatusOK {
			break
		}
		if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Fatalf("while the keys arrive: %d %v", status, body)
		}
		if time.Now().After(deadline) {
			t.Fatal("still 503 long after the issuer came up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if body["sub"] != "user-1" || body["email"] != "ann@example.com" {
		t.Fatalf("identity %v", body)
	}
}

func get(t *testing.T, url, token string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

func TestSignupValidation(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	long := strings.Repeat("x", 73)
	cases := []struct {
		name   string
		body   any
		status int
		code   string
		says   string
	}{
		{"missing email", map[string]string{"password": "long enough"}, 400, "invalid_request", "email is required"},
		{"bad email", map[string]string{"email": "not-an-email", "password": "long enough"}, 400, "invalid_request", "not a valid address"},
		{"display name", map[string]string{"email": "Ann <ann@example.com>", "password": "long enough"}, 400, "invalid_request", "email"},
		{"short password", map[string]string{"email": "a@example.com", "password": "short"}, 400, "invalid_request", "shorter than 8"},
		{"73-byte password", map[string]string{"email": "a@example.com", "password": long}, 400, "invalid_request", "longer than 72"},
		{"missing password", map[string]string{"email": "a@example.com"}, 400, "invalid_request", "password is required"},
		{"unknown field", `{"email":"a@example.com","password":"long enough","admin":true}`, 400, "invalid_request", `unknown field "admin"`},
		{"wrong type", `{"email":1,"password":"long enough"}`, 400, "invalid_request", `"email" must be a string`},
		{"syntax", `{"email":`, 400, "invalid_request", "malformed JSON"},
		{"trailing data", `{"email":"a@example.com","password":"long enough"} {}`, 400, "invalid_request", "after the object"},
		{"empty", ` `, 400, "invalid_request", "empty"},
		{"array", `[]`, 400, "invalid_request", "object"},
		{"deep", `{"email":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}`, 400, "invalid_request", "nested too deeply"},
		{"too large", `{"email":"` + strings.Repeat("a", 20000) + `"}`, 413, "request_too_large", "larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := e.do("POST", "/v1/signup", c.body)
			desc := wantError(t, resp, body, c.status, c.code)
			if !strings.Contains(desc, c.says) {
				t.Fatalf("description %q does not say %q", desc, c.says)
			}
		})
	}
	t.Run("form body", func(t *testing.T) {
		resp, body := e.do("POST", "/v1/signup", "email=a", "Content-Type", "application/x-www-form-urlencoded")
		wantError(t, resp, body, 415, "unsupported_media_type")
	})
	t.Run("72-byte password accepted", func(t *testing.T) {
		e.signup("max@example.com", strings.Repeat("p", 72))
		e.signin("max@example.com", strings.Repeat("p", 72))
	})
}

func TestSignupAndSignin(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		resp, body := e.do("POST", "/v1/signup", map[string]string{"email": "  Ann@Example.COM ", "password": "correct horse"})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("signup: %d %s", resp.StatusCode, body)
		}
		if strings.Contains(string(body), "password") || strings.Contains(string(body), "$2a$") {
			t.Fatalf("signup response leaks the password or its hash: %s", body)
		}
		var created struct{ User issuer.User }
		_ = json.Unmarshal(body, &created)
		if created.User.Email != "ann@example.com" || created.User.ID == "" {
			t.Fatalf("created user = %+v", created.User)
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Fatalf("Cache-Control = %q", got)
		}

		resp, body = e.do("POST", "/v1/signup", map[string]string{"email": "ANN@example.com", "password": "another one"})
		wantError(t, resp, body, http.StatusConflict, "email_taken")

		tk := e.signin("ann@EXAMPLE.com", "correct horse")
		if tk.TokenType != "Bearer" || tk.ExpiresIn != 900 || tk.User.ID != created.User.ID || tk.AccessToken == "" {
			t.Fatalf("signin = %+v", tk)
		}

		wrong, wrongBody := e.do("POST", "/v1/signin", map[string]string{"email": "ann@example.com", "password": "wrong horse"})
		unknown, unknownBody := e.do("POST", "/v1/signin", map[string]string{"email": "nobody@example.com", "password": "wrong horse"})
		wantError(t, wrong, wrongBody, http.StatusUnauthorized, "invalid_grant")
		if wrong.StatusCode != unknown.StatusCode || string(wrongBody) != string(unknownBody) {
			t.Fatalf("wrong password and unknown email differ:\n%s\n%s", wrongBody, unknownBody)
		}
		ev, _ := db.Events(context.Background(), "signin_failed")
		if len(ev) != 2 {
			t.Fatalf("signin_failed events = %d, want 2", len(ev))
		}
	})
}

// TestAccessTokenContract parses a token from sign-in with jwx, using only
// the served JWKS, and checks its exact header and claims.
func TestAccessTokenContract(t *testing.T) {
	for _, alg := range []string{keys.EdDSA, keys.RS256} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, p *keys.Policy) { p.Alg = alg })
			e.signup("ann@example.com", "correct horse")
			tk := e.signin("ann@example.com", "correct horse")

			resp, body := e.do("GET", "/.well-known/jwks.json", nil)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") || resp.Header.Get("ETag") == "" {
				t.Fatalf("jwks: %d %v", resp.StatusCode, resp.Header)
			}
			set, err := jwk.Parse(body)
			if err != nil {
				t.Fatal(err)
			}
			for it := set.Keys(context.Background()); it.Next(context.Background()); {
				k := it.Pair().Value.(jwk.Key)
				if _, err := k.PublicKey(); err != nil {
					t.Fatal(err)
				}
				m, _ := k.AsMap(context.Background())
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
					if _, ok := m[private]; ok {
						t.Fatalf("JWKS publishes private parameter %q", private)
					}
				}
				if k.KeyUsage() != "sig" || k.Algorithm().String() != alg || k.KeyID() == "" {
					t.Fatalf("published key: use=%q alg=%q kid=%q", k.KeyUsage(), k.Algorithm(), k.KeyID())
				}
				tp, _ := k.Thumbprint(cryptoSHA256)
				if k.KeyID() != b64(tp) {
					t.Fatalf("kid %s is not the RFC 7638 thumbprint", k.KeyID())
				}
			}

			msg, err := jws.Parse([]byte(tk.AccessToken))
			if err != nil {
				t.Fatal(err)
			}
			h := msg.Signatures()[0].ProtectedHeaders()
			hm, _ := h.AsMap(context.Background())
			if len(hm) != 3 || h.Algorithm() != jwa.SignatureAlgorithm(alg) || h.Type() != "at+jwt" || h.KeyID() == "" {
				t.Fatalf("header = %v", hm)
			}
			tok, err := jwt.Parse([]byte(tk.AccessToken), jwt.WithKeySet(set),
				jwt.WithIssuer("http://issuer.test"), jwt.WithAudience("http://issuer.test"),
				jwt.WithClock(jwt.ClockFunc(e.clock.Now)), jwt.WithValidate(true))
			if err != nil {
				t.Fatalf("token does not verify against the served JWKS: %v", err)
			}
			var claims map[string]any
			_ = json.Unmarshal(msg.Payload(), &claims)
			want := []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "email", "scope", "email_verified", "client_id"}
			if len(claims) != len(want) {
				t.Fatalf("claims = %v, want exactly %v", claims, want)
			}
			for _, c := range want {
				if _, ok := claims[c]; !ok {
					t.Fatalf("claim %q missing from %v", c, claims)
				}
			}
			now := e.clock.Now()
			if tok.Subject() != tk.User.ID || claims["email"] != "ann@example.com" ||
				!tok.Expiration().Equal(now.Add(15*time.Minute)) || !tok.IssuedAt().Equal(now) {
				t.Fatalf("claims = %v", claims)
			}
			if strings.Contains(string(msg.Payload()), "$2a$") {
				t.Fatal("token carries a password hash")
			}
		})
	}
}

func TestJWKSConditionalAndDiscovery(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	resp, _ := e.do("GET", "/.well-known/jwks.json", nil)
	etag := resp.Header.Get("ETag")
	resp, body := e.do("GET", "/.well-known/jwks.json", nil, "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Fatalf("If-None-Match: %d %q", resp.StatusCode, body)
	}
	resp, _ = e.do("GET", "/.well-known/jwks.json", nil, "If-None-Match", `"other"`)
	if resp.StatusCode != 200 {
		t.Fatalf("stale ETag: %d", resp.StatusCode)
	}
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		resp, body := e.do("GET", p, nil)
		var d map[string]any
		if resp.StatusCode != 200 || json.Unmarshal(body, &d) != nil {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, body)
		}
		if d["issuer"] != "http://issuer.test" || d["jwks_uri"] != "http://issuer.test/.well-known/jwks.json" ||
			d["token_endpoint"] != "http://issuer.test/oauth/token" || d["revocation_endpoint"] != "http://issuer.test/oauth/revoke" {
			t.Fatalf("%s = %v", p, d)
		}
	}
	resp, body = e.do("GET", "/readyz", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ready"`) {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/nope", nil)
	wantError(t, resp, body, 404, "not_found")
	resp, body = e.do("GET", "/v1/signin", nil)
	wantError(t, resp, body, 405, "method_not_allowed")
}

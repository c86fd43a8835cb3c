package ginverifier_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/signet-auth/signet/verifier"
	"github.com/signet-auth/signet/verifier/ginverifier"
)

const issuer, audience = "https://issuer.test", "orders-api"

func setup(t *testing.T) (*verifier.Verifier, func(exp time.Time) string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := pub.Thumbprint(crypto.SHA256)
	kid := base64.RawURLEncoding.EncodeToString(tp)
	_ = pub.Set(jwk.KeyIDKey, kid)
	_ = pub.Set(jwk.AlgorithmKey, jwa.EdDSA)
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	now := time.Unix(1_700_000_000, 0)
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer: issuer, Audience: audience, StaticKeys: set,
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	mint := func(exp time.Time) string {
		tok, _ := jwt.NewBuilder().Issuer(issuer).Subject("user-42").Audience([]string{audience}).
			IssuedAt(exp.Add(-15*time.Minute)).Expiration(exp).Claim("scope", "orders:read").Build()
		hdr := jws.NewHeaders()
		_ = hdr.Set(jws.KeyIDKey, kid)
		_ = hdr.Set(jws.TypeKey, "at+jwt")
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, priv, jws.WithProtectedHeaders(hdr)))
		if err != nil {
			t.Fatal(err)
		}
		return string(signed)
	}
	return v, func(exp time.Time) string {
		if exp.IsZero() {
			exp = now.Add(10 * time.Minute)
		}
		return mint(exp)
	}
}

func TestMiddleware(t *testing.T) {
	gin.SetMode(gin.TestMode)
	v, mint := setup(t)
	r := gin.New()
	r.GET("/orders", ginverifier.Middleware(v, ginverifier.WithRealm("orders")), func(c *gin.Context) {
		claims, ok := ginverifier.Claims(c)
		fromReq, ok2 := verifier.ClaimsFrom(c.Request.Context())
		if !ok || !ok2 || claims != fromReq {
			t.Error("claims missing from the gin or request context")
		}
		c.JSON(http.StatusOK, gin.H{"sub": claims.Subject, "read": claims.HasScope("orders:read")})
	})
	r.GET("/custom", ginverifier.Middleware(v, ginverifier.WithErrorHandler(func(c *gin.Context, err error) {
		c.JSON(http.StatusUnauthorized, gin.H{"error": "invalid_token", "kind": verifier.ErrorKind(err)})
	})), func(c *gin.Context) { t.Error("handler ran after a failed check") })

	tests := []struct {
		name, path, auth string
		status           int
		challenge        string
		want             string // substring of the body
	}{
		{"valid", "/orders", "Bearer " + mint(time.Time{}), 200, "", `"sub":"user-42"`},
		{"missing", "/orders", "", 401, `Bearer realm="orders"`, `"error":"invalid_token"`},
		{"expired", "/orders", "Bearer " + mint(time.Unix(1_699_999_000, 0)), 401,
			`Bearer realm="orders", error="invalid_token", error_description="the access token expired"`, `the access token expired`},
		{"forged", "/orders", "BEARER " + mint(time.Time{})[:60] + "x.y", 401,
			`Bearer realm="orders", error="invalid_token", error_description="the access token is malformed"`, `malformed`},
		{"custom handler", "/custom", "Bearer nope", 401, "", `"kind":"malformed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if !json.Valid(rec.Body.Bytes()) || !strings.Contains(rec.Body.String(), tt.want) {
				t.Fatalf("body %s", rec.Body)
			}
		})
	}
}

// Without a usable key set the Gin middleware answers 503 with Retry-After
// and the temporarily_unavailable body; a bad token still gets 401.
func TestMiddlewareKeySetUnavailable(t *testing.T) {
	gin.SetMode(gin.TestMode)
	_, mint := setup(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer: issuer, Audience: audience, JWKSURL: down.URL + "/jwks",
		Lazy: true, UnknownKIDCooldown: 3 * time.Second,
		Now: func() time.Time { return time.Unix(1_700_000_000, 0) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	r := gin.New()
	r.GET("/orders", ginverifier.Middleware(v), func(c *gin.Context) { t.Error("handler ran") })

	for _, tt := range []struct {
		name, auth, challenge, retryAfter, body string
		status                                  int
	}{
		{"good token", "Bearer " + mint(time.Time{}), "", "3",
			`{"error":"temporarily_unavailable","error_description":"the signing keys are unavailable"}`, 503},
		{"malformed token", "Bearer nope", `Bearer error="invalid_token", error_description="the access token is malformed"`, "",
			`{"error":"invalid_token","error_description":"the access token is malformed"}`, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/orders", nil)
			req.Header.Set("Authorization", tt.auth)
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Fatalf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tt.body {
				t.Fatalf("body %s, want %s", got, tt.body)
			}
		})
	}
}

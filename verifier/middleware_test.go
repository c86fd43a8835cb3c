package verifier

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMiddleware(t *testing.T) {
	f := newRuleFixture(t)
	good := f.ed.token(t, testNow, nil)
	expired := f.ed.token(t, testNow, map[string]any{"iat": testNow.Add(-time.Hour).Unix(), "exp": testNow.Add(-time.Minute).Unix()})

	h := Middleware(f.v, WithRealm("orders"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := ClaimsFrom(r.Context())
		if !ok {
			t.Error("no claims in the context")
			return
		}
		_, _ = w.Write([]byte(c.Subject))
	}))

	tests := []struct {
		name       string
		auth       []string
		status     int
		challenge  string // exact WWW-Authenticate
		descSubstr string
	}{
		{"valid", []string{"Bearer " + good}, 200, "", ""},
		{"scheme case-insensitive", []string{"bearer " + good}, 200, "", ""},
		{"no header", nil, 401, `Bearer realm="orders"`, "no bearer token"},
		{"other scheme", []string{"Basic dXNlcjpwYXNz"}, 401, `Bearer realm="orders"`, "no bearer token"},
		{"empty bearer", []string{"Bearer "}, 401, `Bearer realm="orders", error="invalid_token", error_description="the access token is malformed"`, "malformed"},
		{"two headers", []string{"Bearer " + good, "Bearer " + good}, 401, `Bearer realm="orders", error="invalid_token", error_description="the access token is malformed"`, "malformed"},
		{"garbage", []string{"Bearer abc"}, 401, `Bearer realm="orders", error="invalid_token", error_description="the access token is malformed"`, "malformed"},
		{"expired", []string{"Bearer " + expired}, 401, `Bearer realm="orders", error="invalid_token", error_description="the access token expired"`, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/orders", nil)
			for _, a := range tt.auth {
				req.Header.Add("Authorization", a)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if tt.status == 200 {
				if rec.Body.String() != "user-42" {
					t.Fatalf("body %q", rec.Body)
				}
				return
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate = %q\nwant %q", got, tt.challenge)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body["error"] != "invalid_token" || !strings.Contains(body["error_description"], tt.descSubstr) {
				t.Fatalf("body %v", body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content type %q", ct)
			}
		})
	}
}

func TestMiddlewareWithoutRealmAndCustomError(t *testing.T) {
	f := newRuleFixture(t)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	rec := httptest.NewRecorder()
	Middleware(f.v)(next).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Get("WWW-Authenticate"); got != "Bearer" {
		t.Fatalf("challenge %q", got)
	}
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer x.y.z")
	Middleware(f.v)(next).ServeHTTP(rec, req)
	if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer error="invalid_token", error_description="the access token is malformed"` {
		t.Fatalf("challenge %q", got)
	}

	var kind string
	custom := Middleware(f.v, WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		kind = ErrorKind(err)
		w.WriteHeader(http.StatusTeapot)
	}))(next)
	rec = httptest.NewRecorder()
	custom.ServeHTTP(rec, req)
	if rec.Code != http.StatusTeapot || kind != "malformed" {
		t.Fatalf("custom handler: %d %q", rec.Code, kind)
	}
}

func TestWriteUnauthorizedEscapesRealm(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteUnauthorized(rec, "a\"b\\c\r\n", ErrNoToken)
	if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="a\"b\\c"` {
		t.Fatalf("challenge %q", got)
	}
}

// Without a usable key set the token may be good: the middleware answers
// 503 with Retry-After, not 401, while bad tokens still get 401.
func TestMiddlewareKeySetUnavailable(t *testing.T) {
	a := newEdKey(t)
	srv := newJWKSServer(t, jwksOf(t, a.pub))
	srv.status = http.StatusServiceUnavailable // the issuer is not serving keys yet
	cfg := remoteConfig(srv, newClock(testNow))
	cfg.Lazy = true
	cfg.UnknownKIDCooldown = 7 * time.Second
	v := newRemote(t, cfg)
	h := Middleware(v, WithRealm("orders"))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("handler ran without a verified token")
	}))

	tests := []struct {
		name, auth string
		status     int
		challenge  string
		retryAfter string
		body       map[string]string
	}{
		{"good token", "Bearer " + a.token(t, testNow, nil), 503, "", "7",
			map[string]string{"error": "temporarily_unavailable", "error_description": "the signing keys are unavailable"}},
		{"malformed token", "Bearer abc", 401, `Bearer realm="orders", error="invalid_token", error_description="the access token is malformed"`, "",
			map[string]string{"error": "invalid_token", "error_description": "the access token is malformed"}},
		{"no token", "", 401, `Bearer realm="orders"`, "",
			map[string]string{"error": "invalid_token", "error_description": "no bearer token in the request"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/orders", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Fatalf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if len(body) != len(tt.body) || body["error"] != tt.body["error"] || body["error_description"] != tt.body["error_description"] {
				t.Fatalf("body %v, want %v", body, tt.body)
			}
			if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("headers %v", rec.Header())
			}
		})
	}
}

func TestWriteUnavailableRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&KeySetUnavailableError{RetryAfter: 1500 * time.Millisecond}, "2"},
		{&KeySetUnavailableError{RetryAfter: 100 * time.Millisecond}, "1"},
		{&KeySetUnavailableError{RetryAfter: time.Minute}, "60"},
		{&KeySetUnavailableError{}, "5"},
		{ErrKeySetUnavailable, "5"},
	} {
		rec := httptest.NewRecorder()
		WriteError(rec, "", tt.err)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != tt.want {
			t.Errorf("%#v: %d, Retry-After %q, want 503 and %q", tt.err, rec.Code, rec.Header().Get("Retry-After"), tt.want)
		}
	}
}

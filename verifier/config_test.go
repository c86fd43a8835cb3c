package verifier

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckFetchURL(t *testing.T) {
	tests := []struct {
		url      string
		ok       bool // without AllowInsecureHTTP
		okUnsafe bool // with it
	}{
		{"https://auth.example.com", true, true},
		{"https://auth.example.com:8443/tenant", true, true},
		{"http://127.0.0.1:8080", true, true},
		{"http://127.8.9.10", true, true},
		{"http://localhost:8080/", true, true},
		{"http://LocalHost", true, true},
		{"http://[::1]:8080", true, true},
		{"HTTP://127.0.0.1", true, true},
		{"http://auth.example.com", false, true},
		{"http://10.0.0.1:8080", false, true},
		{"http://[::2]", false, true},
		{"http://128.0.0.1", false, true},
		{"http://localhost.example.com", false, true},
		{"http://127.0.0.1.example.com", false, true},
		{"http://0.0.0.0", false, true},
		{"ftp://127.0.0.1/jwks", false, false},
		{"/.well-known/jwks.json", false, false},
		{"http://", false, false},
	}
	for _, tt := range tests {
		if err := checkFetchURL(tt.url, false); (err == nil) != tt.ok {
			t.Errorf("checkFetchURL(%q) = %v", tt.url, err)
		}
		if err := checkFetchURL(tt.url, true); (err == nil) != tt.okUnsafe {
			t.Errorf("checkFetchURL(%q, AllowInsecureHTTP) = %v", tt.url, err)
		}
	}
}

// memTransport answers every request from h in memory, so tests can name
// hosts that are not loopback without any connection being made. It
// records the URLs asked for.
type memTransport struct {
	h    http.Handler
	mu   sync.Mutex
	urls []string
}

func (m *memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	m.mu.Lock()
	m.urls = append(m.urls, r.URL.String())
	m.mu.Unlock()
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func (m *memTransport) asked() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.urls...)
}

// TestPlainHTTPOnlyForLoopback: an http:// issuer, JWKS URL, discovered
// jwks_uri or redirect target on a host that is not loopback is refused,
// before anything is fetched from it, unless AllowInsecureHTTP is set.
func TestPlainHTTPOnlyForLoopback(t *testing.T) {
	a := newEdKey(t)
	jwks := jwksOf(t, a.pub)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{
			"issuer":   r.URL.Scheme + "://" + r.Host,  // the memTransport passes the client's URL
			"jwks_uri": "http://keys.example.com/jwks", // a downgrade
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://keys.example.com/jwks", http.StatusFound)
	})

	tests := []struct {
		name    string
		cfg     Config
		fetched bool // whether a request is made at all without AllowInsecureHTTP
	}{
		{"issuer", Config{Issuer: "http://auth.example.com"}, false},
		{"jwks url", Config{Issuer: "https://auth.example.com", JWKSURL: "http://keys.example.com/jwks"}, false},
		{"discovered jwks_uri", Config{Issuer: "https://auth.example.com"}, true},
		{"redirect", Config{Issuer: "https://auth.example.com", JWKSURL: "https://keys.example.com/moved"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, allow := range []bool{false, true} {
				mem := &memTransport{h: mux}
				cfg := tt.cfg
				cfg.Audience = testAudience
				cfg.Now = func() time.Time { return testNow }
				cfg.HTTPClient = &http.Client{Transport: mem}
				cfg.AllowInsecureHTTP = allow
				v, err := New(context.Background(), cfg)
				if allow {
					if err != nil {
						t.Fatalf("with AllowInsecureHTTP: %v", err)
					}
					v.Close()
					continue
				}
				if err == nil {
					v.Close()
					t.Fatal("New accepted plain http to a host that is not loopback")
				}
				if !strings.Contains(err.Error(), "plain http") || !strings.HasPrefix(err.Error(), "verifier: ") {
					t.Fatalf("error %q does not say why", err)
				}
				for _, u := range mem.asked() {
					if strings.HasPrefix(u, "http:") {
						t.Fatalf("fetched %s", u)
					}
				}
				if got := len(mem.asked()) > 0; got != tt.fetched {
					t.Fatalf("requests %v", mem.asked())
				}
			}
		})
	}
}

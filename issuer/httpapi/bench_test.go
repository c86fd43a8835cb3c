package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// Benchmarks interleave what they measure with its baseline in one loop,
// so that a noisy machine slows both alike; ns/op is the pair, and the
// <name>-ns/op metrics split it.

// productionLogs logs as signet serve does (JSON, info), to nowhere, so
// that the benchmarks pay for encoding the access log but not for I/O.
func productionLogs(c *settings, _ *keys.Policy) {
	c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// BenchmarkRefresh spends and rotates a refresh token through the issuer's
// handler (JSON in and out, the MAC check, the compare-and-swap, a new
// access token) on each store, interleaved with the store's one call of
// the common path (SpendRefresh) alone on another session. roundtrips/op counts the store calls, each one SQL
// statement, per HTTP refresh; x-store is the handler's cost as a multiple
// of the bare store calls.
func BenchmarkRefresh(b *testing.B) {
	for _, dialect := range storetest.Dialects {
		b.Run(dialect, func(b *testing.B) {
			db := storetest.Open(b, dialect)
			e := newEnv(b, db, productionLogs)
			e.signup("ann@example.com", "correct horse")
			rt := e.signin("ann@example.com", "correct horse").RefreshToken
			other := e.signin("ann@example.com", "correct horse")
			sid := sidOf(b, other.AccessToken)
			ctx := context.Background()
			h := e.server.Handler()
			var counter uint64

			var handler, bare time.Duration
			calls0 := e.store.calls()
			n := 0
			for b.Loop() {
				t0 := time.Now()
				req := httptest.NewRequest(http.MethodPost, "/v1/token/refresh",
					strings.NewReader(`{"refresh_token":"`+rt+`"}`))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				t1 := time.Now()
				if w.Code != http.StatusOK {
					b.Fatalf("refresh: %d %s", w.Code, w.Body)
				}
				var tk tokens
				if err := json.Unmarshal(w.Body.Bytes(), &tk); err != nil {
					b.Fatal(err)
				}
				rt = tk.RefreshToken
				calls := e.store.calls()

				t2 := time.Now()
				now := e.clock.Now()
				if _, _, _, ok, err := db.SpendRefresh(ctx, sid, counter, now, now.Add(time.Hour)); err != nil || !ok {
					b.Fatalf("rotate: %v %v", ok, err)
				}
				counter++
				handler += t1.Sub(t0)
				bare += time.Since(t2)
				n++
				if e.store.calls() != calls {
					b.Fatal("the baseline went through the counting store")
				}
			}
			reportPair(b, n, handler, bare, "handler", "store")
			b.ReportMetric(float64(e.store.calls()-calls0)/float64(n), "roundtrips/op")
		})
	}
}

// BenchmarkJWKS serves the JWK set through the Gin engine (every
// middleware, the ETag and Cache-Control) and, interleaved, through a bare
// net/http handler that writes the same headers and bytes.
func BenchmarkJWKS(b *testing.B) {
	e := newEnv(b, storetest.Open(b, store.SQLite), productionLogs)
	engine := e.server.Handler()
	set := e.ring.JWKS()
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("ETag", set.ETag)
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(set.Body)
	})
	serve := func(h http.Handler) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
		return w
	}
	if g, n := serve(engine), serve(bare); g.Code != 200 || !bytes.Equal(g.Body.Bytes(), n.Body.Bytes()) {
		b.Fatalf("the engine and the bare handler disagree: %d %s / %s", g.Code, g.Body, n.Body)
	}

	var gin, std time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		serve(engine)
		t1 := time.Now()
		serve(bare)
		gin += t1.Sub(t0)
		std += time.Since(t1)
		n++
	}
	reportPair(b, n, gin, std, "gin", "nethttp")
}

// BenchmarkBcrypt is the password check of a sign-in alone, at
// SIGNET_BCRYPT_COST (default 12, the production default): the ceiling of
// sign-in throughput is max-signins/s = GOMAXPROCS / (s/op).
func BenchmarkBcrypt(b *testing.B) {
	cost := 12
	if v := os.Getenv("SIGNET_BCRYPT_COST"); v != "" {
		var err error
		if cost, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), cost)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := bcrypt.CompareHashAndPassword(hash, []byte("correct horse")); err != nil {
			b.Fatal(err)
		}
	}
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(runtime.GOMAXPROCS(0))/perOp, "max-signins/s")
}

// reportPair reports two interleaved measurements and their ratio.
func reportPair(b *testing.B, n int, measured, base time.Duration, name, baseName string) {
	b.ReportMetric(float64(measured.Nanoseconds())/float64(n), name+"-ns/op")
	b.ReportMetric(float64(base.Nanoseconds())/float64(n), baseName+"-ns/op")
	b.ReportMetric(float64(measured)/float64(base), "x-"+baseName)
}

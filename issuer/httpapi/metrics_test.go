package httpapi_test

import (
	"bufio"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// scrape reads /metrics into series → value, the series written as in the
// exposition format (name{label="value",...}).
func (e *env) scrape() map[string]float64 {
	e.t.Helper()
	resp, body := e.do("GET", "/metrics", nil)
	if resp.StatusCode != 200 {
		e.t.Fatalf("metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			e.t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestRequestAndOutcomeMetrics exercises every outcome the issuer counts,
// then checks each series in /metrics.
func TestRequestAndOutcomeMetrics(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) {
		c.Throttle = issuer.ThrottlePolicy{AccountFree: 1, IPFree: 2}
		c.BcryptConcurrency = 1
		c.BcryptQueueWait = 20 * time.Millisecond
	})
	e.signup("ann@example.com", "correct horse")
	tk := e.signin("ann@example.com", "correct horse") // success
	e.form("/oauth/token", url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {"correct horse"}})

	// Refresh: rotate, repeat inside the grace, retry after it (the
	// successor unused), rotate again, repeat the first token (theft),
	// and a token that is no token.
	next := e.mustRefresh(tk.RefreshToken)
	e.mustRefresh(tk.RefreshToken)
	e.clock.Advance(11 * time.Second)
	e.mustRefresh(tk.RefreshToken)
	e.mustRefresh(next.RefreshToken)
	if e.refreshes(tk.RefreshToken) {
		t.Fatal("a token two rotations old refreshed")
	}
	e.refresh("sgt_rt_" + strings.Repeat("A", 75))

	// Two failures block the account (one free), a third failure from
	// the same address blocks the address (two free); then ann is
	// throttled.
	e.signinStatus("ann@example.com", "wrong horse")
	e.signinStatus("ann@example.com", "wrong horse")
	e.signinStatus("bob@example.com", "wrong horse")
	resp, body := e.signinStatus("ann@example.com", "correct horse")
	wantError(t, resp, body, 429, "too_many_requests")

	// No bcrypt slot in time: unavailable (the address block has passed).
	e.clock.Advance(time.Hour)
	release := e.iss.Accounts.HoldBcryptSlot()
	resp, body = e.signinStatus("carol@example.com", "correct horse")
	release()
	wantError(t, resp, body, 503, "temporarily_unavailable")

	e.do("GET", "/.well-known/jwks.json", nil)
	e.do("GET", "/no/such/secret-path", nil)

	m := e.scrape()
	for series, want := range map[string]float64{
		`signet_signins_total{outcome="success"}`:             2,
		`signet_signins_total{outcome="invalid_credentials"}`: 3,
		`signet_signins_total{outcome="throttled"}`:           1,
		`signet_signins_total{outcome="unavailable"}`:         1,
		`signet_signins_total{outcome="error"}`:               0,
		`signet_refreshes_total{outcome="rotated"}`:           2,
		`signet_refreshes_total{outcome="grace_replay"}`:      1,
		`signet_refreshes_total{outcome="reuse_detected"}`:    1,
		`signet_refreshes_total{outcome="invalid"}`:           1,
		`signet_refreshes_total{outcome="error"}`:             0,
		`signet_refreshes_total{outcome="retry_replay"}`:      1,
		// Two sign-ins and four successful refreshes.
		`signet_tokens_issued_total{type="access"}`:  6,
		`signet_tokens_issued_total{type="refresh"}`: 6,
		`signet_signin_blocks_total{key="account"}`:  1,
		`signet_signin_blocks_total{key="ip"}`:       1,
		`signet_bcrypt_in_flight`:                    0,
		// The sign-up, two sign-ins, three failures and the one that
		// gave up waited for a slot; the throttled one never asked.
		`signet_bcrypt_queue_wait_seconds_count`: 7,

		`signet_http_requests_total{method="POST",route="/v1/signin",status="200"}`:                        1,
		`signet_http_requests_total{method="POST",route="/v1/signin",status="401"}`:                        3,
		`signet_http_requests_total{method="POST",route="/v1/signin",status="429"}`:                        1,
		`signet_http_requests_total{method="POST",route="/v1/signin",status="503"}`:                        1,
		`signet_http_requests_total{method="POST",route="/oauth/token",status="200"}`:                      1,
		`signet_http_requests_total{method="POST",route="/v1/token/refresh",status="200"}`:                 4,
		`signet_http_requests_total{method="POST",route="/v1/token/refresh",status="401"}`:                 2,
		`signet_http_requests_total{method="GET",route="/.well-known/jwks.json",status="200"}`:             1,
		`signet_http_requests_total{method="GET",route="unmatched",status="404"}`:                          1,
		`signet_http_request_duration_seconds_count{method="POST",route="/v1/token/refresh",status="200"}`: 4,
	} {
		got, ok := m[series]
		if !ok {
			t.Errorf("no series %s", series)
			continue
		}
		if got != want {
			t.Errorf("%s = %g, want %g", series, got, want)
		}
	}
	// The key gauges and the pool statistics are still there.
	for _, series := range []string{`signet_jwks_keys`, `signet_signing_key_age_seconds{alg="EdDSA"}`} {
		if _, ok := m[series]; !ok {
			t.Errorf("no series %s", series)
		}
	}
	for series := range m {
		if strings.Contains(series, "secret-path") {
			t.Errorf("a raw path reached the metrics: %s", series)
		}
	}
}

// A client picks the request method; the method label must not grow with
// whatever it sends.
func TestMetricsMethodLabelIsBounded(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	for _, m := range []string{"FOO", "BAR", "X-" + strings.Repeat("Y", 40)} {
		e.do(m, "/v1/signin", nil)
	}
	for series := range e.scrape() {
		if strings.HasPrefix(series, "signet_http_requests_total{") && (strings.Contains(series, "FOO") || strings.Contains(series, "BAR") || strings.Contains(series, "YYYY")) {
			t.Fatalf("a client-chosen method became a label: %s", series)
		}
	}
	if e.scrape()[`signet_http_requests_total{method="other",route="unmatched",status="405"}`] != 3 {
		t.Fatal("requests with other methods are not counted under method=\"other\"")
	}
}

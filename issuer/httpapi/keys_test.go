package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// hourly rotates every hour: publication lead 5m10s, retention 20m40s.
func hourly(c *settings, p *keys.Policy) { p.RotationPeriod = time.Hour }

// step runs a rotation pass and a reload, as each replica's Maintainer does.
func (e *env) step() {
	e.t.Helper()
	if _, err := e.rot.Pass(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	if err := e.ring.Reload(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// jwks fetches the JWK set and returns its kids, max-age and ETag.
func (e *env) jwks() (kids []string, maxAge string, etag string) {
	e.t.Helper()
	resp, body := e.do("GET", "/.well-known/jwks.json", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		e.t.Fatalf("jwks: %d %v", resp.StatusCode, resp.Header)
	}
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		e.t.Fatal(err)
	}
	kids = []string{}
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	sort.Strings(kids)
	cc := resp.Header.Get("Cache-Control")
	age, ok := strings.CutPrefix(cc, "public, max-age=")
	if !ok {
		e.t.Fatalf("Cache-Control = %q", cc)
	}
	return kids, age, resp.Header.Get("ETag")
}

func (e *env) kidIn(state keys.State) string {
	e.t.Helper()
	ks, _ := e.db.ListKeys(context.Background())
	var out []string
	for _, k := range ks {
		if k.State == state {
			out = append(out, k.KID)
		}
	}
	if len(out) != 1 {
		e.t.Fatalf("%s keys: %v, want one", state, out)
	}
	return out[0]
}

func set(kids ...string) []string {
	s := slices.Clone(kids)
	sort.Strings(s)
	return s
}

// TestKeyLifecycleJWKS walks keys through every state on both stores and
// checks the served JWK set, its max-age and its ETag at each step.
func TestKeyLifecycleJWKS(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, hourly)
		ctx := context.Background()
		t0 := e.clock.Now()
		a := e.kidIn(keys.StateActive)
		lead, retention := e.policy.PublishLead(), e.policy.Retention()

		kids, age, etag0 := e.jwks()
		if !slices.Equal(kids, []string{a}) || age != "300" {
			t.Fatalf("new store: %v max-age %s", kids, age)
		}
		// 304 for the same ETag, with the caching headers.
		resp, body := e.do("GET", "/.well-known/jwks.json", nil, "If-None-Match", etag0)
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != etag0 ||
			!strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") {
			t.Fatalf("conditional GET: %d %v", resp.StatusCode, resp.Header)
		}

		// Two minutes before the next key is published, max-age drops to 120.
		e.clock.Advance(time.Hour - lead - 2*time.Minute)
		e.step()
		kids, age, etag := e.jwks()
		if !slices.Equal(kids, []string{a}) || age != "120" || etag != etag0 {
			t.Fatalf("before publication: %v max-age %s etag %s (was %s)", kids, age, etag, etag0)
		}

		// next: published, not signing.
		e.clock.Advance(2 * time.Minute)
		e.step()
		b := e.kidIn(keys.StateNext)
		kids, age, etag1 := e.jwks()
		if !slices.Equal(kids, set(a, b)) || age != "300" || etag1 == etag0 {
			t.Fatalf("next published: %v max-age %s", kids, age)
		}
		e.signup("ann@example.com", "correct horse")
		if kid := kidOf(t, e.signin("ann@example.com", "correct horse").AccessToken); kid != a {
			t.Fatalf("signed with %s, want the active %s", kid, a)
		}

		// active: b signs from its activation; a is retired, still published.
		e.clock.Set(t0.Add(time.Hour))
		e.step()
		if e.kidIn(keys.StateActive) != b || e.kidIn(keys.StateRetired) != a {
			t.Fatal("promotion did not happen")
		}
		kids, _, etag = e.jwks()
		if !slices.Equal(kids, set(a, b)) || etag != etag1 {
			t.Fatalf("after promotion: %v, etag changed %v", kids, etag != etag1)
		}
		if kid := kidOf(t, e.signin("ann@example.com", "correct horse").AccessToken); kid != b {
			t.Fatalf("signed with %s, want %s", kid, b)
		}
		// The removal of a is the next change: max-age counts down to it.
		e.clock.Advance(retention - time.Minute)
		if _, age, _ := e.jwks(); age != "60" {
			t.Fatalf("a minute before removal: max-age %s", age)
		}

		// removed: out of the set.
		e.clock.Advance(time.Minute)
		e.step()
		kids, _, etag2 := e.jwks()
		if !slices.Equal(kids, []string{b}) || etag2 == etag1 {
			t.Fatalf("after removal: %v", kids)
		}

		// revoked: out at once, and the promoted key signs.
		_, promoted, err := e.rot.Revoke(ctx, b, true)
		if err != nil {
			t.Fatal(err)
		}
		e.step()
		if kids, _, _ := e.jwks(); !slices.Equal(kids, []string{promoted.KID}) {
			t.Fatalf("after revocation: %v", kids)
		}
		if kid := kidOf(t, e.signin("ann@example.com", "correct horse").AccessToken); kid != promoted.KID {
			t.Fatalf("signed with %s after the revocation", kid)
		}
		events := map[string]int{}
		rows, _ := db.Events(ctx, "")
		for _, r := range rows {
			events[r.Type]++
		}
		for ev, n := range map[string]int{"key_created_active": 1, "key_published": 2, "key_activated": 2, "key_retired": 1, "key_removed": 1, "key_revoked": 1} {
			if events[ev] != n {
				t.Errorf("%s events: %d, want %d (all: %v)", ev, events[ev], n, events)
			}
		}
	})
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	h, _, _ := strings.Cut(token, ".")
	var hdr struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal([]byte(mustB64(t, h)), &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.KID
}

// TestMetrics: the key gauges come from the keyring at scrape time, and the
// rotator's changes are counted.
func TestMetrics(t *testing.T) {
	m := issuer.NewMetrics()
	e := newEnv(t, storetest.Open(t, store.SQLite), hourly, func(c *settings, p *keys.Policy) { c.Metrics = m })
	if err := m.Registry.Register(collectors.NewDBStatsCollector(e.db.SQL().DB, "signet")); err != nil {
		t.Fatal(err)
	}
	e.rot.OnChange = m.KeyChanged
	e.clock.Advance(20 * time.Minute)
	if _, err := e.rot.Rotate(context.Background(), keys.EdDSA, true); err != nil {
		t.Fatal(err)
	}
	e.step()
	e.clock.Advance(90 * time.Second)
	resp, body := e.do("GET", "/metrics", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`signet_signing_key_age_seconds{alg="EdDSA"} 90`,
		`signet_signing_key_next_rotation_seconds{alg="EdDSA"} 3510`,
		`signet_jwks_keys 2`,
		`signet_key_rotations_total{alg="EdDSA"} 1`,
		`go_goroutines `,
		`go_sql_open_connections{db_name="signet"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(body), "signet_key_revocations_total{") {
		t.Error("a revocation counted without one")
	}
}

func mustB64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

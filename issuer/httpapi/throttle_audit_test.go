package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// TestThrottleAuditsBlocksNotRefusals: a client hammering a blocked
// account writes one audit row per block, not one per refused request;
// refusals are counted in a metric.
func TestThrottleAuditsBlocksNotRefusals(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		for range 6 {
			e.signinStatus("ann@example.com", "wrong horse")
		}
		rows := func() int {
			ev, err := db.Events(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			return len(ev)
		}
		before := rows()
		for range 200 {
			resp, body := e.signinStatus("ann@example.com", "wrong horse")
			wantError(t, resp, body, 429, "too_many_requests")
		}
		if n := rows() - before; n != 0 {
			t.Fatalf("200 refused sign-ins wrote %d audit rows, want 0", n)
		}
		if n := strings.Count(e.logs.String(), `"event":"signin_throttled"`); n != 0 {
			t.Fatalf("%d audit log lines for refusals, want 0", n)
		}
		m := e.scrape()
		if got := m[`signet_signin_refusals_total{key="account"}`]; got != 200 {
			t.Fatalf("signet_signin_refusals_total{key=account} = %v, want 200", got)
		}
		// The block that started was audited once, with its end.
		ev, _ := db.Events(ctx, "signin_blocked")
		if len(ev) != 1 || ev[0].UserID == nil {
			t.Fatalf("signin_blocked events %+v, want one with the user", ev)
		}
		var detail map[string]string
		_ = json.Unmarshal([]byte(ev[0].Detail), &detail)
		until := e.clock.Now().Add(time.Second).UTC().Format(time.RFC3339)
		if detail["key"] != "account" || detail["failures"] != "6" || detail["until"] != until {
			t.Fatalf("signin_blocked detail %v, want key account, 6 failures, until %s", detail, until)
		}
		// The next block (after a failure once this one ended) is a new row.
		e.clock.Advance(time.Second)
		e.signinStatus("ann@example.com", "wrong horse")
		if ev, _ := db.Events(ctx, "signin_blocked"); len(ev) != 2 {
			t.Fatalf("%d signin_blocked events after the second block, want 2", len(ev))
		}
	})
}

// TestAuditRetention: the high-volume sign-in events are pruned after
// the retention period; security events are kept.
func TestAuditRetention(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, func(c *settings, _ *keys.Policy) { c.Throttle.AuditRetention = 48 * time.Hour })
		now := e.clock.Now()
		old, recent := now.Add(-49*time.Hour), now.Add(-47*time.Hour)
		kept := []string{"signin", "signup", "session_revoked", "refresh_token_reused", "user_deleted", "key_rotated", "key_revoked"}
		pruned := []string{"signin_failed", "signin_throttled", "signin_blocked"}
		for _, at := range []time.Time{old, recent} {
			for _, typ := range append(append([]string{}, kept...), pruned...) {
				if err := db.RecordEvent(ctx, issuer.AuditEvent{At: at, Type: typ, IP: "192.0.2.1"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		n, err := e.iss.Throttle.PruneAuditEvents(ctx)
		if err != nil || n != int64(len(pruned)) {
			t.Fatalf("pruned %d, %v; want %d", n, err, len(pruned))
		}
		for _, typ := range kept {
			if ev, _ := db.Events(ctx, typ); len(ev) != 2 {
				t.Errorf("%s: %d events left, want 2 (never pruned)", typ, len(ev))
			}
		}
		for _, typ := range pruned {
			if ev, _ := db.Events(ctx, typ); len(ev) != 1 || ev[0].At != recent.UnixMilli() {
				t.Errorf("%s: %+v left, want the recent one", typ, ev)
			}
		}
	})
}

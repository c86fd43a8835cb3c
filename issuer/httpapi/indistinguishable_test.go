package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// The lifecycle's store calls, counted like the others (countingStore).

var accountTxCalls, enqueueCalls atomic.Int64

func (s *countingStore) AccountTx(ctx context.Context, fn func(issuer.AccountTx) error) error {
	s.n.Add(1)
	accountTxCalls.Add(1)
	return s.DB.AccountTx(ctx, fn)
}

func (s *countingStore) EnqueueAccountRequest(ctx context.Context, r issuer.AccountRequest) error {
	s.n.Add(1)
	enqueueCalls.Add(1)
	return s.DB.EnqueueAccountRequest(ctx, r)
}

// work is what one request cost: store calls, queued requests,
// transactions, bcrypt computations.
type work struct{ calls, enqueues, txs, bcrypts int64 }

func (e *env) work() work {
	return work{calls: e.store.calls(), enqueues: enqueueCalls.Load(), txs: accountTxCalls.Load(),
		bcrypts: int64(e.scrape()["signet_bcrypt_queue_wait_seconds_count"])}
}

func (w work) minus(v work) work {
	return work{w.calls - v.calls, w.enqueues - v.enqueues, w.txs - v.txs, w.bcrypts - v.bcrypts}
}

// answer is what a client sees of a response, less what differs on every
// response (Date, X-Request-Id).
func answer(resp *http.Response, body []byte) string {
	h := resp.Header.Clone()
	h.Del("Date")
	h.Del("X-Request-Id")
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := fmt.Sprint(resp.StatusCode)
	for _, k := range keys {
		s += fmt.Sprintf("|%s=%v", k, h[k])
	}
	return s + "|" + string(body)
}

// TestAnswersRevealNoAccount: a private-mode sign-up, a password-reset
// request and a confirmation resend get the same status, headers and body
// for a registered address and an unknown one, after the same work: the
// same store calls (one queued request, no lookup), the same bcrypt
// computations. Over 200 requests of each the latencies are logged
// (median and p90), not asserted: a shared machine makes timing
// assertions flaky, while the same work is a structural guarantee.
func TestAnswersRevealNoAccount(t *testing.T) {
	storetest.ForEach(t, testAnswersRevealNoAccount)
}

func testAnswersRevealNoAccount(t *testing.T, db *store.DB) {
	mail := &captureSender{}
	e := newEnv(t, db, func(s *settings, p *keys.Policy) {
		withLifecycle(issuer.LifecycleConfig{SignupMode: issuer.SignupPrivate, RequireVerifiedEmail: true, MailSender: mail,
			MailRequestLimit: issuer.RateLimit{Burst: -1}, RecipientLimit: issuer.RateLimit{Burst: -1}})(s, p)
		s.SignupLimit = issuer.RateLimit{Burst: -1}
	})
	const known = "ann@example.com"
	e.do("POST", "/v1/signup", map[string]string{"email": known, "password": "correct horse battery"})
	e.pump()
	if len(mail.to(known, issuer.MailVerifyEmail)) != 1 {
		t.Fatal("the known account was not made")
	}
	const n = 200
	for _, ep := range []struct {
		path string
		body func(email string) map[string]string
	}{
		{"/v1/signup", func(email string) map[string]string {
			return map[string]string{"email": email, "password": "staple battery horse"}
		}},
		{"/v1/password/forgot", func(email string) map[string]string { return map[string]string{"email": email} }},
		{"/v1/verify/resend", func(email string) map[string]string { return map[string]string{"email": email} }},
	} {
		t.Run(ep.path, func(t *testing.T) {
			var want string
			var wantWork work
			lat := map[string][]time.Duration{}
			for i := range 2 * n {
				kind, email := "known", known
				if i%2 == 1 {
					kind, email = "unknown", fmt.Sprintf("nobody%d@%s.example.com", i, strings.ReplaceAll(ep.path[1:], "/", "-"))
				}
				var before work
				if i < 8 {
					before = e.work()
				}
				start := time.Now()
				resp, body := e.do("POST", ep.path, ep.body(email))
				lat[kind] = append(lat[kind], time.Since(start))
				got := answer(resp, body)
				if want == "" {
					want = got
					if resp.StatusCode != http.StatusAccepted || string(body) != "{}" {
						t.Fatalf("%s: %s", kind, got)
					}
				}
				if got != want {
					t.Fatalf("%s address answered\n%s\nwhere the other answered\n%s", kind, got, want)
				}
				if i < 8 { // the structure: same work on both paths
					w := e.work().minus(before)
					if i == 0 {
						wantWork = w
						if w.enqueues != 1 || w.txs != 0 || w.calls != 1 {
							t.Fatalf("request work = %+v, want one queued request and nothing else", w)
						}
					}
					if w != wantWork {
						t.Fatalf("%s address cost %+v, the other %+v", kind, w, wantWork)
					}
				}
			}
			for _, kind := range []string{"known", "unknown"} {
				d := lat[kind]
				slices.Sort(d)
				t.Logf("%s %-7s n=%d median=%v p90=%v", ep.path, kind, len(d), d[len(d)/2], d[len(d)*9/10])
			}
		})
	}
	// Then the worker does the address-dependent part, off the request
	// path: only the registered address hears about a reset or a resend,
	// and a new address only gets its confirmation. (Once: resolving the
	// 1,200 requests one transaction each is slow on Postgres, and the
	// worker is the same code on both.)
	if db.Dialect() != store.SQLite {
		return
	}
	mail.msgs = nil
	e.pump()
	for _, m := range mail.msgs {
		if m.To != known && m.Kind != issuer.MailVerifyEmail {
			t.Fatalf("an unknown address got %s", m.Kind)
		}
	}
	if len(mail.to(known, issuer.MailAccountExists)) == 0 || len(mail.to(known, issuer.MailPasswordReset)) == 0 {
		t.Fatalf("the registered address was not told: %d messages", len(mail.msgs))
	}
}

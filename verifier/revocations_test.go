package verifier

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var testSalt = []byte("0123456789abcdef")

func feedHashOf(id string) string {
	sum := sha256.Sum256(append(append([]byte{}, testSalt...), id...))
	return b64(sum[:revHashSize])
}

// feedServer is a revocation feed: it answers the events after the
// cursor at once, and a long-poll with none only when the request ends.
type feedServer struct {
	*httptest.Server
	mu     sync.Mutex
	events []map[string]any
	status int
	hits   atomic.Int64
}

func newFeedServer(t testing.TB) *feedServer {
	f := &feedServer{status: http.StatusOK}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		f.mu.Lock()
		status, events := f.status, f.events
		f.mu.Unlock()
		if status != http.StatusOK {
			w.WriteHeader(status)
			return
		}
		var after int
		fmt.Sscan(r.URL.Query().Get("after"), &after)
		if after >= len(events) && r.URL.Query().Get("wait") != "" {
			<-r.Context().Done()
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"salt": b64(testSalt), "cursor": fmt.Sprint(len(events)), "more": false, "events": events[min(after, len(events)):]})
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *feedServer) add(kind, id string, revokedAt, expires time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, map[string]any{"kind": kind, "hash": feedHashOf(id), "revoked_at": revokedAt.Unix(), "expires_at": expires.Unix()})
}

func TestRevokedSessionsAndSubjects(t *testing.T) {
	k := newEdKey(t)
	clk := newClock(testNow)
	feed := newFeedServer(t)
	feed.add("sid", "sess-1", testNow, testNow.Add(15*time.Minute))
	feed.add("sub", "user-7", testNow, testNow.Add(15*time.Minute))
	v, err := New(context.Background(), Config{Issuer: testIssuer, Audience: testAudience, StaticKeys: mustSet(t, k), Now: clk.Now,
		RevocationFeedURL: feed.URL})
	must(t, err)
	defer v.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		edits   map[string]any
		revoked bool
	}{
		{"revoked session", map[string]any{"sid": "sess-1"}, true},
		{"other session", map[string]any{"sid": "sess-2"}, false},
		{"revoked subject, token from before", map[string]any{"sid": "sess-3", "sub": "user-7", "iat": testNow.Add(-time.Minute).Unix()}, true},
		{"revoked subject, token from after", map[string]any{"sid": "sess-3", "sub": "user-7", "iat": testNow.Add(time.Second).Unix(), "nbf": testNow.Unix()}, false},
	} {
		_, err := v.Verify(ctx, k.token(t, testNow, tc.edits))
		if got := errors.Is(err, ErrRevoked); got != tc.revoked || (!tc.revoked && err != nil) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.revoked && ErrorKind(err) != "revoked" {
			t.Errorf("%s: kind %s", tc.name, ErrorKind(err))
		}
	}
	// An entry is dropped once no token it covers can be valid.
	clk.Add(16 * time.Minute)
	must(t, v.revoked.apply(&feedAnswer{Salt: b64(testSalt), Cursor: "2"}))
	if st := v.RevocationStats(); st.Entries != 0 {
		t.Fatalf("entries after their expiry: %+v", st)
	}
}

func TestRevocationFeedStaleness(t *testing.T) {
	for _, failClosed := range []bool{false, true} {
		t.Run(fmt.Sprint("fail_closed=", failClosed), func(t *testing.T) {
			k := newEdKey(t)
			clk := newClock(testNow)
			feed := newFeedServer(t)
			feed.status = http.StatusInternalServerError
			var staleCalls atomic.Int64
			v, err := New(context.Background(), Config{Issuer: testIssuer, Audience: testAudience, StaticKeys: mustSet(t, k), Now: clk.Now,
				RevocationFeedURL: feed.URL, RevocationFailClosed: failClosed, MaxRevocationStaleness: time.Minute,
				OnRevocationStale: func() { staleCalls.Add(1) }})
			must(t, err)
			defer v.Close()
			tok := k.token(t, testNow, nil)
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("within the staleness bound: %v", err)
			}
			clk.Add(2 * time.Minute)
			_, err = v.Verify(context.Background(), tok)
			if failClosed != errors.Is(err, ErrKeySetUnavailable) || (!failClosed && err != nil) {
				t.Fatalf("stale feed: %v", err)
			}
			eventually(t, "the stale hook", func() bool { return staleCalls.Load() > 0 })
			if st := v.RevocationStats(); st.FetchErrors == 0 || st.Lag < 2*time.Minute {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

// BenchmarkVerifyRevocations: Verify with no revoked entry and with
// 100,000 (the token's session not among them), and the memory the
// entries take.
func BenchmarkVerifyRevocations(b *testing.B) {
	for _, n := range []int{0, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := newBenchCase(b, newEdKey(b))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r := &revocations{now: func() time.Time { return testNow }, salt: testSalt, stale: time.Hour, lastOK: testNow,
				sids: map[revHash]time.Time{}, subs: map[revHash]subEntry{}}
			for i := range n {
				r.sids[r.hash(fmt.Sprint("session-", i))] = testNow.Add(time.Hour)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			c.v.revoked = r
			benchVerify(b, c)
			if n > 0 {
				b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/float64(n), "heap-bytes/entry")
			}
		})
	}
}

package httpapi_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// TestLinkLimitBurst: a burst of guessed links from one address is
// held to the per-address budget of rejected links, however many arrive
// at once: each takes its token before the look-up (the clock does not
// move, so nothing refills).
func TestLinkLimitBurst(t *testing.T) {
	const burst = 5
	e := newEnv(t, storetest.Open(t, store.SQLite), func(c *settings, _ *keys.Policy) {
		c.Lifecycle.TokenFailureLimit = issuer.RateLimit{Burst: burst, Per: time.Hour}
	})
	guess := func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return "sgt_ev_" + base64.RawURLEncoding.EncodeToString(b)
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			resp, _ := e.do("POST", "/v1/verify", map[string]string{"token": guess()})
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[http.StatusBadRequest] > burst || statuses[http.StatusBadRequest]+statuses[http.StatusTooManyRequests] != 40 {
		t.Fatalf("statuses %v: want at most %d links looked up, the rest 429", statuses, burst)
	}
}

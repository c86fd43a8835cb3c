package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
	"github.com/signet-auth/signet/verifier"
)

type feedAnswer struct {
	Salt   string `json:"salt"`
	Cursor string `json:"cursor"`
	More   bool   `json:"more"`
	Events []struct {
		Kind      string `json:"kind"`
		Hash      string `json:"hash"`
		RevokedAt int64  `json:"revoked_at"`
		ExpiresAt int64  `json:"expires_at"`
	} `json:"events"`
}

func feedHash(t testing.TB, salt, id string) string {
	t.Helper()
	s, err := base64.RawURLEncoding.DecodeString(salt)
	if err != nil || len(s) != 16 {
		t.Fatalf("salt %q: %v", salt, err)
	}
	sum := sha256.Sum256(append(s, id...))
	return b64(sum[:16])
}

// TestRevocationFeed: discovery advertises the feed; a sign-out wakes a
// waiting long-poll with the session's salted hash (never its id); an
// unchanged cursor answers 304 to its ETag; bad parameters are refused.
func TestRevocationFeed(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		resp, body := e.do("GET", "/.well-known/openid-configuration", nil)
		var disc struct {
			Feed string `json:"revocation_feed_endpoint"`
		}
		if err := json.Unmarshal(body, &disc); err != nil || disc.Feed != "http://issuer.test/v1/revocations" {
			t.Fatalf("discovery: %d %s", resp.StatusCode, body)
		}

		e.signup("ann@example.com", "correct horse")
		tk := e.signin("ann@example.com", "correct horse")
		sid, _ := claimsOf(t, tk.AccessToken)["sid"].(string)
		if sid == "" {
			t.Fatal("the access token has no sid")
		}

		resp, body = e.do("GET", "/v1/revocations", nil)
		var first feedAnswer
		if err := json.Unmarshal(body, &first); err != nil || resp.StatusCode != 200 || len(first.Events) != 0 || first.Cursor != "0" {
			t.Fatalf("empty feed: %d %s", resp.StatusCode, body)
		}
		etag := resp.Header.Get("ETag")
		if resp, body := e.do("GET", "/v1/revocations?after=0", nil, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Fatalf("unchanged feed with its ETag: %d %s", resp.StatusCode, body)
		}

		// A long-poll waits; the sign-out's commit wakes it.
		type result struct {
			status int
			body   []byte
			err    error
		}
		done := make(chan result, 1)
		go func() {
			r, err := http.Get(e.srv.URL + "/v1/revocations?after=" + first.Cursor + "&wait=30")
			if err != nil {
				done <- result{err: err}
				return
			}
			defer r.Body.Close()
			b, err := io.ReadAll(r.Body)
			done <- result{r.StatusCode, b, err}
		}()
		// Sign out once the long-poll is waiting (bounded), so that it is
		// the commit that wakes it.
		waiting := func() bool {
			_, m := e.do("GET", "/metrics", nil)
			return strings.Contains(string(m), "\nsignet_revocation_feed_waiting 1\n")
		}
		for i := 0; i < 5000 && !waiting(); i++ {
			time.Sleep(time.Millisecond)
		}
		if !waiting() {
			t.Fatal("the long-poll is not waiting")
		}
		if resp, body := e.do("POST", "/v1/signout", nil, "Authorization", "Bearer "+tk.AccessToken); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("signout: %d %s", resp.StatusCode, body)
		}
		r := <-done
		if r.err != nil || r.status != 200 {
			t.Fatalf("long-poll: %d %s %v", r.status, r.body, r.err)
		}
		var got feedAnswer
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Events) != 1 || got.Events[0].Kind != "sid" || got.Events[0].Hash != feedHash(t, got.Salt, sid) ||
			got.Events[0].ExpiresAt <= got.Events[0].RevokedAt || got.Cursor == first.Cursor {
			t.Fatalf("long-poll after sign-out: %s", r.body)
		}
		if strings.Contains(string(r.body), sid) || strings.Contains(string(r.body), tk.User.ID) {
			t.Fatalf("the feed serves raw ids: %s", r.body)
		}
		// The next cursor has nothing new.
		if resp, body := e.do("GET", "/v1/revocations?after="+got.Cursor, nil); resp.StatusCode != 200 || !strings.Contains(string(body), `"events":[]`) {
			t.Fatalf("after the event: %d %s", resp.StatusCode, body)
		}

		for _, q := range []string{"after=-1", "after=x", "wait=-1", "wait=1.5"} {
			resp, body := e.do("GET", "/v1/revocations?"+q, nil)
			wantError(t, resp, body, http.StatusBadRequest, "invalid_request")
		}
	})
}

// TestRevocationFeedLimits: requests are rate-limited per address, and a
// stopped feed (a draining server) answers a long-poll at once.
func TestRevocationFeedLimits(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), func(s *settings, _ *keys.Policy) {
		s.RevocationFeedLimit = issuer.RateLimit{Burst: 2, Per: time.Hour}
	})
	e.iss.Revocations.Stop()
	for range 2 {
		if resp, body := e.do("GET", "/v1/revocations?wait=25", nil); resp.StatusCode != 200 {
			t.Fatalf("feed: %d %s", resp.StatusCode, body)
		}
	}
	resp, body := e.do("GET", "/v1/revocations", nil)
	wantError(t, resp, body, http.StatusTooManyRequests, "too_many_requests")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

// TestVerifierRefusesRevokedToken: a verifier following a real issuer's
// feed refuses a signed-out session's access token with the kind
// "revoked" after one long-poll round trip, and keeps accepting the
// user's other session.
func TestVerifierRefusesRevokedToken(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		gone := e.signin("ann@example.com", "correct horse")
		kept := e.signin("ann@example.com", "correct horse")
		_, jwks := e.do("GET", "/.well-known/jwks.json", nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		v, err := verifier.New(ctx, verifier.Config{
			Issuer: "http://issuer.test", Audience: "http://issuer.test", StaticJWKS: jwks, Now: e.clock.Now,
			RevocationFeedURL: e.srv.URL + "/v1/revocations",
		})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		for _, tk := range []tokens{gone, kept} {
			if _, err := v.Verify(ctx, tk.AccessToken); err != nil {
				t.Fatalf("before sign-out: %v", err)
			}
		}
		if resp, body := e.do("POST", "/v1/signout", nil, "Authorization", "Bearer "+gone.AccessToken); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("signout: %d %s", resp.StatusCode, body)
		}
		// The waiting long-poll returns with the event (bounded wait for
		// the verifier's goroutine to apply it).
		for i := 0; i < 10000 && v.RevocationStats().Entries == 0; i++ {
			time.Sleep(time.Millisecond)
		}
		_, err = v.Verify(ctx, gone.AccessToken)
		if !errors.Is(err, verifier.ErrRevoked) || verifier.ErrorKind(err) != "revoked" {
			t.Fatalf("signed-out token: %v (kind %s)", err, verifier.ErrorKind(err))
		}
		if _, err := v.Verify(ctx, kept.AccessToken); err != nil {
			t.Fatalf("the other session: %v", err)
		}
		if st := v.RevocationStats(); !st.Enabled || st.Entries != 1 || st.FetchErrors != 0 {
			t.Fatalf("stats = %+v", st)
		}
	})
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// TestServeSessions starts the real program on 127.0.0.1:0 with the
// embedded store and checks that the session settings reach the issuer:
// sign-in returns a refresh token whose lifetime is SIGNET_REFRESH_TOKEN_TTL,
// and it rotates.
func TestServeSessions(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"SIGNET_DATA_DIR":            dir,
		"SIGNET_DATABASE_URL":        "sqlite://" + filepath.Join(dir, "signet.db"),
		"SIGNET_BCRYPT_COST":         "4",
		"SIGNET_REFRESH_TOKEN_TTL":   "2h",
		"SIGNET_SESSION_MAX_AGE":     "3h",
		"SIGNET_REFRESH_REUSE_GRACE": "5s",
		"SIGNET_TRUSTED_PROXIES":     "10.0.0.0/8",
		"SIGNET_LOG_LEVEL":           "info",
	}
	// Sign-up and sign-in in one go: open sign-up, no confirmation.
	env["SIGNET_SIGNUP_MODE"], env["SIGNET_REQUIRE_VERIFIED_EMAIL"] = "open", "false"
	base, _ := startServe(t, env)
	post := func(path, body string) map[string]any { return mustPostJSON(t, base+path, json.RawMessage(body)) }
	post("/v1/signup", `{"email":"ann@example.com","password":"correct horse"}`)
	tk := post("/v1/signin", `{"email":"ann@example.com","password":"correct horse"}`)
	if tk["refresh_expires_in"] != float64(7200) {
		t.Fatalf("signin = %v, want refresh_expires_in 7200 (SIGNET_REFRESH_TOKEN_TTL)", tk)
	}
	rt, _ := tk["refresh_token"].(string)
	next := post("/v1/token/refresh", `{"refresh_token":"`+rt+`"}`)
	again := post("/v1/token/refresh", `{"refresh_token":"`+rt+`"}`)
	if next["refresh_token"] == rt || next["refresh_token"] != again["refresh_token"] {
		t.Fatalf("rotation with a grace window: %v then %v", next["refresh_token"], again["refresh_token"])
	}
}

// TestServeGroupsRefreshes: on Postgres, refreshes that arrive together
// share statements, every one of them still rotates its own session, and
// /metrics counts the statements and the refreshes they spent.
func TestServeGroupsRefreshes(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"SIGNET_DATA_DIR":               dir,
		"SIGNET_DATABASE_URL":           storetest.URL(t, store.Postgres),
		"SIGNET_BCRYPT_COST":            "4",
		"SIGNET_SIGNUP_MODE":            "open",
		"SIGNET_REQUIRE_VERIFIED_EMAIL": "false",
		"SIGNET_SIGNUP_LIMIT":           "off",
		"SIGNET_REFRESH_FAILURE_LIMIT":  "off",
		"SIGNET_KEY_ENCRYPTION_KEY":     kekB64(1),
	}
	if _, _, err := signet(t, env, nil, "migrate up"); err != nil {
		t.Fatal(err)
	}
	base, _ := startServe(t, env)
	const sessions, rounds = 16, 8
	tokens := make([]string, sessions)
	for i := range tokens {
		body := fmt.Sprintf(`{"email":"u%d@example.com","password":"correct horse %d"}`, i, i)
		mustPostJSON(t, base+"/v1/signup", json.RawMessage(body))
		tk := mustPostJSON(t, base+"/v1/signin", json.RawMessage(body))
		tokens[i], _ = tk["refresh_token"].(string)
	}
	for round := range rounds {
		start := make(chan struct{})
		var wg sync.WaitGroup
		next := make([]string, sessions)
		errs := make([]string, sessions)
		for i := range tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resp, tk := postJSON(t, base+"/v1/token/refresh", map[string]string{"refresh_token": tokens[i]})
				next[i], _ = tk["refresh_token"].(string)
				if resp.StatusCode != http.StatusOK || next[i] == "" || next[i] == tokens[i] {
					errs[i] = fmt.Sprintf("session %d: %d %v", i, resp.StatusCode, tk)
				}
			}()
		}
		close(start)
		wg.Wait()
		if e := strings.Join(slices.DeleteFunc(errs, func(s string) bool { return s == "" }), "; "); e != "" {
			t.Fatalf("round %d: %s", round, e)
		}
		tokens = next
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	value := func(name string) float64 {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, name+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("%s: %v", l, err)
				}
				return f
			}
		}
		t.Fatalf("no %s in /metrics", name)
		return 0
	}
	statements, rows := value("signet_db_refresh_statements_total"), value("signet_db_refresh_statement_rows_total")
	if rows != sessions*rounds || statements >= rows {
		t.Fatalf("%v refreshes in %v statements, want %d in fewer", rows, statements, sessions*rounds)
	}
	t.Logf("%v refreshes in %v statements", rows, statements)
}

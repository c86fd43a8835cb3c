package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
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

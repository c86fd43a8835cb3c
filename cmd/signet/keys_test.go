package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// TestServeRefusesUnsafeKeyTiming: a rotation period shorter than the
// publication lead stops start-up with the numbers involved.
func TestServeRefusesUnsafeKeyTiming(t *testing.T) {
	env := map[string]string{
		"SIGNET_DATA_DIR":            t.TempDir(),
		"SIGNET_ROTATION_PERIOD":     "5m",
		"SIGNET_JWKS_MAX_AGE":        "5m",
		"SIGNET_KEY_RELOAD_INTERVAL": "10s",
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, envFrom(env), &stdout, &stderr)
	if err == nil || exitCode(err) != 2 {
		t.Fatalf("serve with an unsafe rotation period: %v (exit %d)", err, exitCode(err))
	}
	for _, want := range []string{"SIGNET_ROTATION_PERIOD: 5m0s", "SIGNET_JWKS_MAX_AGE (5m0s)", "SIGNET_KEY_RELOAD_INTERVAL (10s)", "= 5m10s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	// The flag is named when the flag gave the value.
	err = run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--rotation-period", "1m"}, envFrom(env), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--rotation-period (SIGNET_ROTATION_PERIOD): 1m0s") {
		t.Fatalf("flag: %v", err)
	}
}

func TestReorder(t *testing.T) {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	fs.Bool("promote", false, "")
	fs.String("database-url", "", "")
	fs.String("alg", "", "")
	got := reorder(fs, []string{"revoke", "KID", "--promote", "--database-url", "sqlite://x.db", "--alg=RS256", "--", "-odd"})
	want := []string{"--promote", "--database-url", "sqlite://x.db", "--alg=RS256", "revoke", "KID", "-odd"}
	if !slices.Equal(got, want) {
		t.Fatalf("reorder = %q\nwant      %q", got, want)
	}
	// A kid is base64url and may begin with '-': after the subcommand, a
	// word that names no flag is an argument.
	got = reorder(fs, []string{"revoke", "-Xk9", "--promote"})
	if want := []string{"--promote", "revoke", "-Xk9"}; !slices.Equal(got, want) {
		t.Fatalf("reorder = %q\nwant      %q", got, want)
	}
	// Before it, an unknown flag stays a flag, for parseFlags to report.
	got = reorder(fs, []string{"--bogus", "list"})
	if want := []string{"--bogus", "list"}; !slices.Equal(got, want) {
		t.Fatalf("reorder = %q\nwant      %q", got, want)
	}
}

// TestKeysCommandsAgainstRunningServer starts the real program, then runs
// the keys commands against its database and watches the served JWK set
// follow: on SQLite through the reload interval, on Postgres through the
// notification (the reload interval is left at 10s there).
func TestKeysCommandsAgainstRunningServer(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			env := map[string]string{
				"SIGNET_DATA_DIR":    t.TempDir(),
				"SIGNET_BCRYPT_COST": "4",
				"SIGNET_ACTOR":       "alice",
			}
			// Sign-up and sign-in in one go: open sign-up, no confirmation.
			env["SIGNET_SIGNUP_MODE"], env["SIGNET_REQUIRE_VERIFIED_EMAIL"] = "open", "false"
			dbURL := "sqlite://" + env["SIGNET_DATA_DIR"] + "/signet.db"
			if dialect == store.SQLite {
				env["SIGNET_KEY_RELOAD_INTERVAL"] = "200ms"
			} else {
				dbURL = storetest.URL(t, dialect)
				env["SIGNET_DATABASE_URL"] = dbURL
				env["SIGNET_KEY_ENCRYPTION_KEY"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
			}
			getenv := envFrom(env)
			ctx := context.Background()
			base, _ := startServe(t, env)

			keysCmd := func(args ...string) (string, error) {
				t.Helper()
				var out, errOut bytes.Buffer
				err := run(ctx, append([]string{"keys"}, args...), getenv, &out, &errOut)
				return out.String(), err
			}
			// The keys of one algorithm in the JWKS: the EdDSA keys sign the
			// access tokens; RS256 keys (ID tokens) are kept beside them.
			jwksAlg := func(alg string) []string {
				resp, err := http.Get(base + "/.well-known/jwks.json")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var set struct{ Keys []struct{ KID, Alg string } }
				if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, k := range set.Keys {
					if k.Alg == alg {
						out = append(out, k.KID)
					}
				}
				sort.Strings(out)
				return out
			}
			jwks := func() []string { return jwksAlg(keys.EdDSA) }
			served := func(want ...string) {
				t.Helper()
				sort.Strings(want)
				deadline := time.Now().Add(5 * time.Second)
				for got := jwks(); !slices.Equal(got, want); got = jwks() {
					if time.Now().After(deadline) {
						t.Fatalf("JWKS serves %v, want %v", got, want)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			list := func() map[keys.State][]keys.Key {
				t.Helper()
				out, err := keysCmd("list", "--json")
				if err != nil {
					t.Fatal(err)
				}
				var ks []keys.Key
				if err := json.Unmarshal([]byte(out), &ks); err != nil {
					t.Fatalf("list --json: %v\n%s", err, out)
				}
				m := map[keys.State][]keys.Key{}
				for _, k := range ks {
					if k.Alg == keys.EdDSA || k.State == keys.StateNext {
						m[k.State] = append(m[k.State], k)
					}
				}
				return m
			}
			rsActive := jwksAlg(keys.RS256)
			if len(rsActive) != 1 {
				t.Fatalf("RS256 keys published at start: %v, want the ID-token key", rsActive)
			}

			a := list()[keys.StateActive][0].KID
			served(a)

			out, err := keysCmd("rotate")
			if err != nil || !strings.Contains(out, "starts signing at") {
				t.Fatalf("rotate: %v %s", err, out)
			}
			b := list()[keys.StateNext][0].KID
			served(a, b)

			out, err = keysCmd("rotate", "--now")
			if err != nil || !strings.Contains(out, b+" (EdDSA) is now active") || !strings.Contains(out, "unknown kid") {
				t.Fatalf("rotate --now: %v %s", err, out)
			}
			if got := list(); got[keys.StateActive][0].KID != b || got[keys.StateRetired][0].KID != a {
				t.Fatalf("after rotate --now: %+v", got)
			}
			served(a, b)
			waitSigningKid(t, base, b)

			if out, err = keysCmd("revoke", a); err != nil || !strings.Contains(out, "is revoked") {
				t.Fatalf("revoke retired: %v %s", err, out)
			}
			served(b)

			out, err = keysCmd("revoke", b)
			if !errors.Is(err, keys.ErrOnlyActiveKey) || !strings.Contains(err.Error(), "--promote") {
				t.Fatalf("revoke the active key without --promote: %v %s", err, out)
			}
			served(b)

			if out, err = keysCmd("revoke", b, "--promote"); err != nil || !strings.Contains(out, "is now active") {
				t.Fatalf("revoke --promote: %v %s", err, out)
			}
			c := list()[keys.StateActive][0].KID
			served(c)
			waitSigningKid(t, base, c)

			if out, err = keysCmd("generate", "--alg", "RS256"); err != nil || !strings.Contains(out, "(RS256) is published") {
				t.Fatalf("generate: %v %s", err, out)
			}
			rs := list()[keys.StateNext][0]
			if rs.Alg != keys.RS256 {
				t.Fatalf("generated %+v", rs)
			}
			served(c)
			for deadline := time.Now().Add(5 * time.Second); !slices.Equal(jwksAlg(keys.RS256), sorted(append(rsActive, rs.KID)...)); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("RS256 keys published: %v, want %v and %s", jwksAlg(keys.RS256), rsActive, rs.KID)
				}
			}

			out, err = keysCmd("list")
			if err != nil || !strings.Contains(out, "KID  ") || !strings.Contains(out, "REMOVED AT") || strings.Count(out, "revoked") != 2 {
				t.Fatalf("list: %v\n%s", err, out)
			}

			db, err := store.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows, _ := db.Events(context.Background(), "")
			var trail []string
			for _, r := range rows {
				if strings.HasPrefix(r.Type, "cli_") {
					var d map[string]string
					_ = json.Unmarshal([]byte(r.Detail), &d)
					if d["actor"] != "alice" {
						t.Errorf("%s without the actor: %s", r.Type, r.Detail)
					}
					trail = append(trail, r.Type+":"+d["result"])
				}
			}
			want := []string{"cli_keys_list:ok", "cli_keys_rotate:ok", "cli_keys_list:ok", "cli_keys_rotate:ok", "cli_keys_list:ok",
				"cli_keys_revoke:ok", "cli_keys_revoke:refused", "cli_keys_revoke:ok", "cli_keys_list:ok", "cli_keys_generate:ok", "cli_keys_list:ok", "cli_keys_list:ok"}
			if !slices.Equal(trail, want) {
				t.Errorf("audit trail %v\nwant        %v", trail, want)
			}
		})
	}
}

// waitSigningKid signs up and in until the access token carries kid.
func waitSigningKid(t *testing.T, base, kid string) {
	t.Helper()
	body := `{"email":"kid-check@example.com","password":"correct horse"}`
	_, _ = http.Post(base+"/v1/signup", "application/json", strings.NewReader(body))
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Post(base+"/v1/signin", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var tk struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&tk)
		resp.Body.Close()
		h, _, _ := strings.Cut(tk.AccessToken, ".")
		hdr, _ := base64.RawURLEncoding.DecodeString(h)
		if strings.Contains(string(hdr), `"kid":"`+kid+`"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tokens are signed with %s, want %s", hdr, kid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKeysRotateRefresh: signet keys rotate-refresh makes the next refresh
// MAC key through the database while an issuer runs; the issuer's tokens
// of the older key keep working, and the command is audited with the key
// it made.
func TestKeysRotateRefresh(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			env := map[string]string{
				"SIGNET_DATA_DIR":               t.TempDir(),
				"SIGNET_BCRYPT_COST":            "4",
				"SIGNET_ACTOR":                  "alice",
				"SIGNET_SIGNUP_MODE":            "open",
				"SIGNET_REQUIRE_VERIFIED_EMAIL": "false",
			}
			dbURL := "sqlite://" + env["SIGNET_DATA_DIR"] + "/signet.db"
			if dialect != store.SQLite {
				dbURL = storetest.URL(t, dialect)
				env["SIGNET_DATABASE_URL"] = dbURL
				env["SIGNET_KEY_ENCRYPTION_KEY"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
			}
			base, _ := startServe(t, env)
			post := func(path, body string) map[string]any { return mustPostJSON(t, base+path, json.RawMessage(body)) }
			creds := `{"email":"ann@example.com","password":"correct horse"}`
			post("/v1/signup", creds)
			rt, _ := post("/v1/signin", creds)["refresh_token"].(string)

			var out, errOut bytes.Buffer
			if err := run(context.Background(), []string{"keys", "rotate-refresh"}, envFrom(env), &out, &errOut); err != nil {
				t.Fatalf("rotate-refresh: %v\n%s", err, errOut.String())
			}
			if !strings.Contains(out.String(), "refresh MAC key 2 is made") {
				t.Fatalf("output: %s", out.String())
			}
			// The token of key 1 still refreshes.
			next, _ := post("/v1/token/refresh", `{"refresh_token":"`+rt+`"}`)["refresh_token"].(string)
			if !strings.HasPrefix(next, "sgt_rt2_") {
				t.Fatalf("successor %q", next)
			}

			db, err := store.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ks, err := db.RefreshMACKeys(context.Background())
			if err != nil || len(ks) != 2 || ks[1].ID != 2 {
				t.Fatalf("refresh MAC keys: %+v %v", ks, err)
			}
			rows, _ := db.Events(context.Background(), "cli_keys_rotate-refresh")
			if len(rows) != 1 {
				t.Fatalf("audit events: %+v", rows)
			}
			var d map[string]string
			_ = json.Unmarshal([]byte(rows[0].Detail), &d)
			if d["result"] != "ok" || d["key_id"] != "2" || d["actor"] != "alice" {
				t.Fatalf("audit detail: %s", rows[0].Detail)
			}
		})
	}
}

func sorted(s ...string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

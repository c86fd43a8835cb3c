package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

func kekB64(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

// kekEnv is the environment of a signet process on a fresh store of the
// dialect, with key-encryption key kek; the database URL is returned too.
func kekEnv(t *testing.T, dialect, kek string) (map[string]string, string) {
	t.Helper()
	env := map[string]string{
		"SIGNET_DATA_DIR":            t.TempDir(),
		"SIGNET_BCRYPT_COST":         "4",
		"SIGNET_KEY_ENCRYPTION_KEY":  kek,
		"SIGNET_KEY_RELOAD_INTERVAL": "200ms",
		"SIGNET_ACTOR":               "alice",
	}
	u := "sqlite://" + env["SIGNET_DATA_DIR"] + "/signet.db"
	if dialect == store.Postgres {
		u = storetest.URL(t, dialect)
	}
	env["SIGNET_DATABASE_URL"] = u
	return env, u
}

func signetArgs(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, envFrom(env), &out, &errOut)
	return out.String(), errOut.String(), err
}

func storedKeys(t *testing.T, dbURL string) []keys.Key {
	t.Helper()
	db, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ks, err := db.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestKeysCommandsRefuseAnotherKEK: with a key-encryption key that does
// not open the active key, every keys command that writes is refused
// with a message naming the setting, and writes nothing; the issuer then
// starts with the right key. (Before, rotate --now wrote a key the issuer
// could not open, and every later start failed.)
func TestKeysCommandsRefuseAnotherKEK(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			right, dbURL := kekEnv(t, dialect, kekB64(1))
			if _, _, err := signetArgs(t, right, "migrate", "up"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := signetArgs(t, right, "keys", "rotate", "--now"); err != nil {
				t.Fatal(err)
			}
			before := storedKeys(t, dbURL)
			if len(before) != 1 || before[0].State != keys.StateActive {
				t.Fatalf("keys: %+v", before)
			}
			active := before[0].KID

			wrong := map[string]string{}
			for k, v := range right {
				wrong[k] = v
			}
			wrong["SIGNET_KEY_ENCRYPTION_KEY"] = kekB64(2)
			for _, args := range [][]string{
				{"rotate"}, {"rotate", "--now"}, {"generate", "--alg", "RS256"},
				{"revoke", active, "--promote"}, {"revoke", "--", active},
			} {
				_, _, err := signetArgs(t, wrong, append([]string{"keys"}, args...)...)
				if !errors.Is(err, errWrongKEK) || exitCode(err) != 1 ||
					!strings.Contains(err.Error(), "SIGNET_KEY_ENCRYPTION_KEY (fingerprint ") ||
					!strings.Contains(err.Error(), "does not open the active signing key "+active) {
					t.Errorf("keys %v with another key-encryption key: %v", args, err)
				}
			}
			if out, _, err := signetArgs(t, wrong, "keys", "list"); err != nil || !strings.Contains(out, active) {
				t.Fatalf("list is read-only and allowed: %v %s", err, out)
			}
			after := storedKeys(t, dbURL)
			if !slices.EqualFunc(before, after, func(a, b keys.Key) bool { return a.KID == b.KID && a.State == b.State }) {
				t.Fatalf("the refused commands wrote keys: %+v", after)
			}

			db, err := store.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows, _ := db.Events(context.Background(), "")
			var refused int
			for _, r := range rows {
				if strings.HasPrefix(r.Type, "cli_keys_") && strings.Contains(r.Detail, `"result":"refused"`) {
					refused++
				}
			}
			if refused != 5 {
				t.Errorf("%d refused commands in the audit trail, want 5", refused)
			}

			base, _ := startServe(t, right)
			if code := getStatus(t, base+"/readyz"); code != http.StatusOK {
				t.Fatalf("readyz = %d", code)
			}
		})
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeUnreadyOnKeysItCannotOpen: a running issuer that meets a key
// sealed under another key-encryption key (written by a process that
// skipped the checks) stops being ready and logs the line an alert
// matches; once the key is revoked it is ready again.
func TestServeUnreadyOnKeysItCannotOpen(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			env, dbURL := kekEnv(t, dialect, kekB64(1))
			base, logs := startServe(t, env)
			if code := getStatus(t, base+"/readyz"); code != http.StatusOK {
				t.Fatalf("readyz = %d", code)
			}
			db, err := store.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			other, _ := keys.NewSealer(bytes.Repeat([]byte{2}, 32))
			now := time.Now()
			k, err := keys.Generate(keys.EdDSA, 0, keys.StateNext, now, now.Add(time.Hour), other)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := db.UpdateKeys(ctx, func(tx keys.KeyTx) error { return tx.InsertKey(ctx, k) }); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "readyz 503", func() bool { return getStatus(t, base+"/readyz") == http.StatusServiceUnavailable })
			// The keyring turns unready within the reload; the line is
			// logged once the reload returns.
			waitFor(t, "the alert line", func() bool { return strings.Contains(logs.String(), `"msg":"key reload failed"`) })
			var line struct{ Msg, Error string }
			for _, l := range strings.Split(logs.String(), "\n") {
				if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "key reload failed" {
					break
				}
			}
			if line.Msg != "key reload failed" || !strings.Contains(line.Error, "next key "+k.KID) || !strings.Contains(line.Error, "wrong key-encryption key") {
				t.Fatalf("no alert line for the reload failure:\n%s", logs)
			}

			if _, _, err := signetArgs(t, env, "keys", "revoke", "--", k.KID); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "readyz 200", func() bool { return getStatus(t, base+"/readyz") == http.StatusOK })
		})
	}
}

// waitFor polls cond, which another process makes true, for 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeKEK writes a key-encryption key file with the given mode.
func writeKEK(t *testing.T, dir, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, "kek")
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// session signs ann up (once) and in, and returns the refresh token.
func signIn(t *testing.T, base string) string {
	t.Helper()
	creds := map[string]string{"email": "ann@example.com", "password": "correct horse"}
	postJSON(t, base+"/v1/signup", creds)
	resp, out := postJSON(t, base+"/v1/signin", creds)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signin: %d %v", resp.StatusCode, out)
	}
	return out["refresh_token"].(string)
}

func refresh(t *testing.T, base, rt string) string {
	t.Helper()
	resp, out := postJSON(t, base+"/v1/token/refresh", map[string]string{"refresh_token": rt})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %v", resp.StatusCode, out)
	}
	return out["refresh_token"].(string)
}

// TestKEKRotateWhileServing changes the key-encryption key from A to B as
// the runbook says: a replica given B then A keeps serving while kek
// rotate re-seals the store; afterwards B alone opens everything (the
// sessions signed in before the change refresh), A alone opens nothing,
// and a second run finds nothing to do. Each run is audited and logged.
func TestKEKRotateWhileServing(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			envA, dbURL := kekEnv(t, dialect, kekB64(1))
			envA["SIGNET_SIGNUP_MODE"], envA["SIGNET_REQUIRE_VERIFIED_EMAIL"] = "open", "false"
			with := func(kek string) map[string]string {
				env := maps.Clone(envA)
				env["SIGNET_KEY_ENCRYPTION_KEY"] = kek
				return env
			}
			newFile := writeKEK(t, t.TempDir(), kekB64(2), 0o600)
			fpA, fpB := keys.KEKFingerprint(bytes.Repeat([]byte{1}, 32)), keys.KEKFingerprint(bytes.Repeat([]byte{2}, 32))

			var rt1, rt2 string
			t.Run("before, with A", func(t *testing.T) {
				base, _ := startServe(t, envA)
				rt1 = signIn(t, base)
			})
			t.Run("during, with B then A", func(t *testing.T) {
				base, _ := startServe(t, with(kekB64(2)+","+kekB64(1)))
				rt1 = refresh(t, base, rt1) // sealed under A
				rt2 = signIn(t, base)       // sealed under B
				out, errOut, err := signetArgs(t, envA, "kek", "rotate", "--new-key-file", newFile)
				if err != nil {
					t.Fatalf("kek rotate: %v\n%s", err, errOut)
				}
				for _, want := range []string{"re-sealed under key-encryption key " + fpB + ":", "signing_keys: 2 re-sealed, 0 already",
					// Sessions keep no secret of their own; the refresh MAC
					// key, sealed under A, is what their tokens need.
					"sessions: 0 re-sealed, 0 already", "refresh_mac_keys: 1 re-sealed, 0 already"} {
					if !strings.Contains(out, want) {
						t.Fatalf("output %q lacks %q", out, want)
					}
				}
				if !strings.Contains(errOut, `"msg":"key-encryption key rotated"`) {
					t.Fatalf("no log line: %s", errOut)
				}
				rt1 = refresh(t, base, rt1)
				if code := getStatus(t, base+"/readyz"); code != http.StatusOK {
					t.Fatalf("readyz = %d during the change", code)
				}
			})
			t.Run("after, with B alone", func(t *testing.T) {
				base, _ := startServe(t, with(kekB64(2)))
				refresh(t, base, rt1)
				refresh(t, base, rt2)
			})
			// Bounded, so that a serve that wrongly starts fails the test
			// rather than hanging it.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, envFrom(envA), io.Discard, io.Discard)
			cancel()
			if !errors.Is(err, keys.ErrDecrypt) {
				t.Fatalf("serve with the old key alone: %v", err)
			}

			out, _, err := signetArgs(t, envA, "kek", "rotate", "--new-key-file", newFile)
			if err != nil || !strings.Contains(out, "signing_keys: 0 re-sealed, 2 already") || !strings.Contains(out, "refresh_mac_keys: 0 re-sealed, 1 already") {
				t.Fatalf("second run: %v %s", err, out)
			}

			db, err := store.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows, err := db.Events(context.Background(), "cli_kek_rotate")
			if err != nil || len(rows) != 2 {
				t.Fatalf("audit rows: %v %v", rows, err)
			}
			var d map[string]string
			_ = json.Unmarshal([]byte(rows[0].Detail), &d)
			if d["result"] != "ok" || d["from"] != fpA || d["to"] != fpB || d["signing_keys_resealed"] != "2" || d["refresh_mac_keys_resealed"] != "1" || d["actor"] != "alice" {
				t.Fatalf("audit detail: %v", d)
			}
		})
	}
}

// TestKEKRotateRefusals: a world-readable new key file, a file of several
// keys, and an environment whose key opens nothing in the store.
func TestKEKRotateRefusals(t *testing.T) {
	env, _ := kekEnv(t, store.SQLite, kekB64(1))
	for _, args := range [][]string{{"migrate", "up"}, {"keys", "rotate", "--now"}} {
		if _, _, err := signetArgs(t, env, args...); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for _, c := range []struct {
		content string
		mode    os.FileMode
		env     string
		want    string
	}{
		{kekB64(2), 0o644, kekB64(1), "every user of this machine can read it"},
		{kekB64(2) + "\n" + kekB64(3), 0o600, kekB64(1), "holds 2 keys"},
		{kekB64(2), 0o600, kekB64(4), "does not open the active signing key"},
	} {
		p := writeKEK(t, dir, c.content, c.mode)
		e := maps.Clone(env)
		e["SIGNET_KEY_ENCRYPTION_KEY"] = c.env
		if _, _, err := signetArgs(t, e, "kek", "rotate", "--new-key-file", p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("kek rotate with %s (mode %s): %v, want %q", c.content, c.mode, err, c.want)
		}
	}
	if _, _, err := signetArgs(t, env, "kek", "rotate"); err == nil || !strings.Contains(err.Error(), "--new-key-file is required") {
		t.Errorf("without --new-key-file: %v", err)
	}
	if out, _, err := signetArgs(t, env, "kek", "--help"); err != nil || !strings.Contains(out, "Usage: signet kek rotate --new-key-file PATH") {
		t.Errorf("kek --help: %v %q", err, out)
	}
	if out, _, _ := signetArgs(t, env, "help"); !strings.Contains(out, "signet kek rotate --new-key-file PATH") {
		t.Errorf("the command list lacks kek: %q", out)
	}
}

func TestCheckKEKFile(t *testing.T) {
	for _, c := range []struct {
		name          string
		file, dir     os.FileMode
		refuse, warns string
	}{
		{"owner only", 0o600, 0o700, "", ""},
		{"read-only", 0o400, 0o755, "", ""},
		{"group-readable", 0o640, 0o750, "", "readable by its group"},
		{"world-readable", 0o644, 0o700, "every user of this machine can read it", ""},
		{"group-writable", 0o660, 0o700, "users other than its owner can write it", ""},
		{"world-writable", 0o602, 0o700, "users other than its owner can write it", ""},
		{"directory writable by all", 0o600, 0o777, "its directory", ""},
		{"shared directory with the sticky bit", 0o600, 0o777 | os.ModeSticky, "", ""},
		{"group-writable directory", 0o600, 0o770, "", "directory is writable by its group"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			p := writeKEK(t, dir, kekB64(1), c.file)
			if err := os.Chmod(dir, c.dir); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			err := checkKEKFile(p, slog.New(slog.NewTextHandler(&logs, nil)))
			if c.refuse == "" && err != nil || c.refuse != "" && (err == nil || !strings.Contains(err.Error(), c.refuse)) {
				t.Errorf("checkKEKFile = %v, want refusal %q", err, c.refuse)
			}
			if c.warns == "" && logs.Len() > 0 || c.warns != "" && !strings.Contains(logs.String(), c.warns) {
				t.Errorf("logs %q, want warning %q", logs.String(), c.warns)
			}
		})
	}
}

// TestServeRefusesReadableKEKFiles: a key file given or generated that
// every user can read stops start-up with a message saying how to fix it.
func TestServeRefusesReadableKEKFiles(t *testing.T) {
	given := writeKEK(t, t.TempDir(), kekB64(1), 0o644)
	env := map[string]string{"SIGNET_DATA_DIR": t.TempDir(), "SIGNET_KEY_ENCRYPTION_KEY_FILE": given}
	_, _, err := signetArgs(t, env, "serve", "--addr", "127.0.0.1:0")
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "chmod 600 "+given) {
		t.Fatalf("serve with a world-readable key file: %v (exit %d)", err, exitCode(err))
	}

	// Where serve keeps the key it generates for the embedded store.
	env = map[string]string{"SIGNET_DATA_DIR": t.TempDir(), "SIGNET_BCRYPT_COST": "4"}
	writeKEK(t, env["SIGNET_DATA_DIR"], kekB64(1), 0o644)
	if err := os.Rename(filepath.Join(env["SIGNET_DATA_DIR"], "kek"), filepath.Join(env["SIGNET_DATA_DIR"], "key-encryption-key")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := signetArgs(t, env, "serve", "--addr", "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "every user of this machine can read it") {
		t.Fatalf("serve with a world-readable generated key: %v", err)
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// syncBuffer is a goroutine-safe bytes.Buffer for captured output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// startServe runs "signet serve" through run on 127.0.0.1:0 and returns its
// base URL once it serves. The server stops when the test ends.
func startServe(t *testing.T, env map[string]string, args ...string) (baseURL string, logs *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if _, ok := env["SIGNET_SHUTDOWN_DRAIN"]; !ok {
		env = maps.Clone(env)
		env["SIGNET_SHUTDOWN_DRAIN"] = "0s" // the tests stop the server at once
	}
	pr, pw := io.Pipe()
	logs = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), envFrom(env), io.Discard, io.MultiWriter(pw, logs))
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v after shutdown", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not shut down")
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
				addr <- line.Addr
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case a := <-addr:
		return "http://" + a, logs
	case err := <-done:
		t.Fatalf("serve exited early: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start:\n%s", logs)
	}
	return "", nil
}

func postJSON(t *testing.T, url string, body any) (*http.Response, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

func TestServeEndToEnd(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"SIGNET_DATA_DIR": dir, "SIGNET_BCRYPT_COST": "4", "SIGNET_LOG_LEVEL": "debug",
				"SIGNET_SIGNUP_MODE": "open", "SIGNET_REQUIRE_VERIFIED_EMAIL": "false"}
			if dialect == store.Postgres {
				env["SIGNET_DATABASE_URL"] = storetest.URL(t, store.Postgres)
				env["SIGNET_KEY_ENCRYPTION_KEY"] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
			}
			base, logs := startServe(t, env)
			if resp, out := postJSON(t, base+"/v1/signup", map[string]string{"email": "ann@example.com", "password": "correct horse"}); resp.StatusCode != 201 {
				t.Fatalf("signup: %d %v", resp.StatusCode, out)
			}
			resp, out := postJSON(t, base+"/v1/signin", map[string]string{"email": "ann@example.com", "password": "correct horse"})
			if resp.StatusCode != 200 || out["access_token"] == nil {
				t.Fatalf("signin: %d %v", resp.StatusCode, out)
			}
			r, err := http.Get(base + "/.well-known/jwks.json")
			if err != nil || r.StatusCode != 200 {
				t.Fatalf("jwks: %v %v", r, err)
			}
			r.Body.Close()
			var disc map[string]any
			r, _ = http.Get(base + "/.well-known/openid-configuration")
			_ = json.NewDecoder(r.Body).Decode(&disc)
			r.Body.Close()
			if disc["issuer"] != base {
				t.Fatalf("issuer %v, want the bound address %s", disc["issuer"], base)
			}
			if strings.Contains(logs.String(), "correct horse") {
				t.Fatal("the password reached the log")
			}
			if dialect == store.SQLite {
				fi, err := os.Stat(filepath.Join(dir, "key-encryption-key"))
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("generated key-encryption key: %v %v", fi, err)
				}
				if !strings.Contains(logs.String(), "generated a key-encryption key") {
					t.Fatal("no warning about the generated key-encryption key")
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"bad duration", map[string]string{"SIGNET_ACCESS_TOKEN_TTL": "soon"}, nil, []string{"SIGNET_ACCESS_TOKEN_TTL", `"soon" is not a duration`}},
		{"bad alg", map[string]string{"SIGNET_SIGNING_ALG": "HS256"}, nil, []string{"SIGNET_SIGNING_ALG", "HS256"}},
		{"flag names itself", nil, []string{"--bcrypt-cost", "3"}, []string{"--bcrypt-cost (SIGNET_BCRYPT_COST)", "4 to 31"}},
		{"bad rsa bits", map[string]string{"SIGNET_RSA_BITS": "1024"}, nil, []string{"SIGNET_RSA_BITS", "2048"}},
		{"bad issuer url", map[string]string{"SIGNET_ISSUER_URL": "ftp://x"}, nil, []string{"SIGNET_ISSUER_URL", "https://"}},
		{"bad kek", map[string]string{"SIGNET_KEY_ENCRYPTION_KEY": "c2hvcnQ="}, nil, []string{"SIGNET_KEY_ENCRYPTION_KEY", "32 bytes"}},
		{"timing rule", map[string]string{"SIGNET_ROTATION_PERIOD": "5m", "SIGNET_JWKS_MAX_AGE": "5m", "SIGNET_KEY_RELOAD_INTERVAL": "10s"}, nil,
			[]string{"SIGNET_ROTATION_PERIOD", "5m0s", "SIGNET_JWKS_MAX_AGE", "5m10s"}},
		{"postgres needs a kek", map[string]string{"SIGNET_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"}, nil,
			[]string{"SIGNET_KEY_ENCRYPTION_KEY", "required with Postgres"}},
		{"bad rate limit", map[string]string{"SIGNET_SIGNUP_LIMIT": "lots"}, nil, []string{"SIGNET_SIGNUP_LIMIT", "N/duration"}},
		{"bad proxies", map[string]string{"SIGNET_TRUSTED_PROXIES": "10.0.0.0/8, nonsense"}, nil, []string{"SIGNET_TRUSTED_PROXIES", "nonsense"}},
		{"access tokens the verifier refuses", map[string]string{"SIGNET_ACCESS_TOKEN_TTL": "48h"}, nil,
			[]string{"SIGNET_ACCESS_TOKEN_TTL", "48h0m0s", "24h0m0s", "verifier.DefaultMaxTokenLifetime"}},
		{"access tokens the verifier refuses, by flag", nil, []string{"--access-token-ttl", "25h"},
			[]string{"--access-token-ttl (SIGNET_ACCESS_TOKEN_TTL)", "25h0m0s", "24h0m0s"}},
		{"key=value database URL is Postgres", map[string]string{"SIGNET_DATABASE_URL": "host=127.0.0.1 user=postgres dbname=test sslmode=disable"}, nil,
			[]string{"SIGNET_KEY_ENCRYPTION_KEY", "required with Postgres"}},
		{"bare path database URL", map[string]string{"SIGNET_DATABASE_URL": "signet.db"}, nil,
			[]string{"SIGNET_DATABASE_URL", "postgres://", "key=value", "sqlite://PATH"}},
		{"unknown database scheme", map[string]string{"SIGNET_DATABASE_URL": "mysql://root:hunter2@db/signet"}, nil,
			[]string{"SIGNET_DATABASE_URL", "sqlite://PATH"}},
		{"bad throttle key", map[string]string{"SIGNET_SIGNIN_THROTTLE": "acount=3"}, nil, []string{"SIGNET_SIGNIN_THROTTLE", "acount=3", "account, ip, base, max or reset"}},
		{"throttle reset before max", map[string]string{"SIGNET_SIGNIN_THROTTLE": "max=2h,reset=1h"}, nil, []string{"SIGNET_SIGNIN_THROTTLE", "reset (1h0m0s) is shorter than max (2h0m0s)"}},
		{"bcrypt concurrency", map[string]string{"SIGNET_BCRYPT_CONCURRENCY": "0"}, nil, []string{"SIGNET_BCRYPT_CONCURRENCY", "1 to 4096"}},
		{"bcrypt queue wait", nil, []string{"--bcrypt-queue-wait", "forever"}, []string{"--bcrypt-queue-wait (SIGNET_BCRYPT_QUEUE_WAIT)", "not a duration"}},
		{"refresh longer than session", map[string]string{"SIGNET_REFRESH_TOKEN_TTL": "10h", "SIGNET_SESSION_MAX_AGE": "5h"}, nil,
			[]string{"SIGNET_REFRESH_TOKEN_TTL", "10h0m0s is longer than SIGNET_SESSION_MAX_AGE (5h0m0s)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"SIGNET_DATA_DIR": t.TempDir()}
			for k, v := range c.env {
				env[k] = v
			}
			var stderr bytes.Buffer
			args := append([]string{"serve", "--addr", "127.0.0.1:0"}, c.args...)
			// A configuration that is wrongly accepted serves until the
			// deadline, then fails the test.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := run(ctx, args, envFrom(env), io.Discard, &stderr)
			if err == nil {
				t.Fatal("serve accepted a bad configuration")
			}
			if exitCode(err) != 2 {
				t.Errorf("exit code %d, want 2", exitCode(err))
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q repeats a password", err)
			}
		})
	}
}

func TestKeyEncryptionKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	// A world-readable file is refused: TestServeRefusesReadableKEKFiles.
	if err := os.WriteFile(path, []byte("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, logs := startServe(t, map[string]string{"SIGNET_DATA_DIR": dir, "SIGNET_KEY_ENCRYPTION_KEY_FILE": path})
	if strings.Contains(logs.String(), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8") {
		t.Fatal("the key-encryption key reached the log")
	}
	if _, err := os.Stat(filepath.Join(dir, "key-encryption-key")); !os.IsNotExist(err) {
		t.Fatal("a key was generated although a key file was given")
	}
}

func TestCommandLine(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"version"}, envFrom(nil), &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "signet ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	for _, cmd := range []string{"serve", "migrate", "keys", "users"} {
		out.Reset()
		if err := run(context.Background(), []string{cmd, "--help"}, envFrom(nil), &out, &errOut); err != nil {
			t.Fatalf("%s --help: %v", cmd, err)
		}
		if !strings.Contains(out.String(), "Usage: signet "+cmd) {
			t.Fatalf("%s --help printed %q", cmd, out.String())
		}
	}
	if err := run(context.Background(), []string{"frobnicate"}, envFrom(nil), &out, &errOut); exitCode(err) != 2 {
		t.Fatalf("unknown command: %v", err)
	}
	if err := run(context.Background(), nil, envFrom(nil), &out, &errOut); exitCode(err) != 2 {
		t.Fatalf("no command: %v", err)
	}
}

func TestMigrateCommand(t *testing.T) {
	dir := t.TempDir()
	env := envFrom(map[string]string{"SIGNET_DATA_DIR": dir})
	var out bytes.Buffer
	for _, step := range []struct{ args, want string }{
		{"migrate up", fullSchema()},
		{"migrate version", fullSchema()},
		{"migrate down 1", schemaAt(migrationVersions[len(migrationVersions)-2])},
		{"migrate up", fullSchema()},
		{"migrate down --all --yes", schemaAt(0)},
		{"migrate up", fullSchema()},
	} {
		out.Reset()
		if err := run(context.Background(), strings.Fields(step.args), env, &out, io.Discard); err != nil {
			t.Fatalf("%s: %v", step.args, err)
		}
		if !strings.Contains(out.String(), step.want) {
			t.Fatalf("%s printed %q, want %q", step.args, out.String(), step.want)
		}
	}
}

// mustPostJSON is postJSON for a request that must succeed (2xx).
func mustPostJSON(t *testing.T, url string, body any) map[string]any {
	t.Helper()
	resp, out := postJSON(t, url, body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s: %d %v", url, resp.StatusCode, out)
	}
	return out
}

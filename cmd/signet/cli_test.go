package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/keys"
)

// TestHelpListsOwnSettings: each command's --help lists the flags of the
// settings that command reads, and no other setting.
func TestHelpListsOwnSettings(t *testing.T) {
	store := []string{"data-dir", "database-url", "db-statement-timeout"}
	keyFlags := append(slices.Clone(store), "key-encryption-key-file", "signing-alg", "rsa-bits", "access-token-ttl",
		"rotation-period", "jwks-max-age", "key-reload-interval", "clock-leeway", "auto-migrate", "log-format", "log-level")
	want := map[string][]string{
		"migrate": store,
		"users": append(slices.Clone(store), "auto-migrate", "key-encryption-key-file", "bcrypt-cost", "signup-mode", "require-verified-email", "password-min-length",
			"password-reset-ttl", "site-url", "mail-from", "mail-templates", "mail-request-limit", "mail-recipient-limit",
			"access-token-ttl", "clock-leeway"),
		"keys": keyFlags,
	}
	settingFlags := map[string]bool{}
	for _, s := range new(config).settings() {
		settingFlags[s.flag] = s.flag != ""
	}
	flagLine := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)
	for cmd, flags := range want {
		t.Run(cmd, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), []string{cmd, "--help"}, envFrom(nil), &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			var listed []string
			for _, m := range flagLine.FindAllStringSubmatch(out.String(), -1) {
				if settingFlags[m[1]] {
					listed = append(listed, m[1])
				}
			}
			slices.Sort(listed)
			flags = slices.Clone(flags)
			slices.Sort(flags)
			if !slices.Equal(listed, flags) {
				t.Fatalf("signet %s --help lists the settings\n  %v\nwant\n  %v", cmd, listed, flags)
			}
		})
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--help"}, envFrom(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for f, ok := range settingFlags {
		if ok && !strings.Contains(out.String(), "  -"+f+" ") {
			t.Errorf("signet serve --help does not list -%s", f)
		}
	}
	if !strings.Contains(out.String(), "Environment only:\n  SIGNET_KEY_ENCRYPTION_KEY") {
		t.Errorf("signet serve --help does not list SIGNET_KEY_ENCRYPTION_KEY:\n%s", out.String())
	}
}

// TestStrayArguments: every command refuses arguments it does not take,
// with status 2, before touching the database.
func TestStrayArguments(t *testing.T) {
	cases := []struct{ args, want string }{
		{"serve extra-arg", `signet serve: unexpected argument "extra-arg"`},
		{"migrate up now", `signet migrate up: unexpected argument "now"`},
		{"migrate version 3", `signet migrate version: unexpected argument "3"`},
		{"migrate down 1 2", `signet migrate down: unexpected argument "2"`},
		{"keys list all", `signet keys list: unexpected argument "all"`},
		{"keys rotate-refresh now", `signet keys rotate-refresh: unexpected argument "now"`},
		{"keys rotate now", `signet keys rotate: unexpected argument "now"`},
		{"keys generate RS256", `signet keys generate: unexpected argument "RS256"`},
		{"keys revoke", `signet keys revoke: missing KID`},
		{"keys revoke a b", `signet keys revoke: unexpected argument "b"`},
		{"users list everyone", `signet users list: unexpected argument "everyone"`},
		{"users delete", `signet users delete: missing ID`},
		{"users delete a b", `signet users delete: unexpected argument "b"`},
		{"users find", `signet users find: missing EMAIL`},
		{"resources show", `signet resources show: missing URI`},
		{"clients delete a b", `signet clients delete: unexpected argument "b"`},
	}
	for _, c := range cases {
		t.Run(c.args, func(t *testing.T) {
			dir := t.TempDir()
			var stderr bytes.Buffer
			args := append(strings.Fields(c.args), "--data-dir", dir)
			err := run(context.Background(), args, envFrom(nil), io.Discard, &stderr)
			if exitCode(err) != 2 {
				t.Fatalf("exit status %d (%v), want 2", exitCode(err), err)
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Fatalf("stderr %q does not say %q", stderr.String(), c.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Fatalf("the refused command left %v in the data directory", entries)
			}
		})
	}
}

// doubledPrefix reports an error prefix that appears twice in a chain of
// prefixes ("keys: keys: reload", "store: migrate: store: ...").
func doubledPrefix(msg string) bool {
	parts := strings.Split(msg, ": ")
	seen := map[string]bool{}
	for _, p := range parts[:len(parts)-1] {
		if seen[p] {
			return true
		}
		seen[p] = true
	}
	return false
}

// TestNoDoubledErrorPrefix: serve with a key-encryption key that does not
// open the stored keys says "keys: cannot decrypt ...", once.
func TestNoDoubledErrorPrefix(t *testing.T) {
	if !doubledPrefix("keys: keys: reload") || !doubledPrefix("store: migrate: store: x") || doubledPrefix("keys: store: list keys: x") {
		t.Fatal("doubledPrefix does not match what it should")
	}
	dir := t.TempDir()
	env := map[string]string{"SIGNET_DATA_DIR": dir, "SIGNET_BCRYPT_COST": "4"}
	t.Run("first start", func(t *testing.T) { startServe(t, env) })
	if err := os.WriteFile(filepath.Join(dir, "key-encryption-key"), []byte(keys.NewKEK()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, envFrom(env), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("serve started with the wrong key-encryption key")
	}
	if !strings.HasPrefix(err.Error(), "keys: cannot decrypt") || doubledPrefix(err.Error()) {
		t.Fatalf("error %q: want one \"keys: \" prefix", err)
	}
}

// TestLogFormatFollowsTerminal: without SIGNET_LOG_FORMAT, logs are text
// on a terminal and JSON elsewhere; the variable wins over both.
func TestLogFormatFollowsTerminal(t *testing.T) {
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal to test with: %v", err)
	}
	defer tty.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	for _, c := range []struct {
		name, format string
		w            io.Writer
		text         bool
	}{
		{"terminal", "", tty, true},
		{"pipe", "", pw, false},
		{"/dev/null", "", devNull, false},
		{"buffer", "", &bytes.Buffer{}, false},
		{"terminal, json asked", "json", tty, false},
		{"pipe, text asked", "text", pw, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			src := addSettings(fs, envFrom(map[string]string{"SIGNET_LOG_FORMAT": c.format}))
			cfg, err := loadConfig(src)
			if err != nil {
				t.Fatal(err)
			}
			if got := logFormat(cfg, c.w); (got == "text") != c.text {
				t.Fatalf("SIGNET_LOG_FORMAT=%q on a %s: format %s, want text=%v", c.format, c.name, got, c.text)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
)

var emlToken = regexp.MustCompile(`verify-email#token=(sgt_ev_[A-Za-z0-9_-]{43})`)

// TestServeDefaultsWithoutSMTP runs the program with the defaults a new
// install gets: private sign-up, confirmation required, no SMTP. The
// confirmation message lands as an .eml file in the data dir's mail/
// folder (the log says where, and never a token), its link confirms the
// address, and only then does sign-in work.
func TestServeDefaultsWithoutSMTP(t *testing.T) {
	dir := t.TempDir()
	base, logs := startServe(t, map[string]string{"SIGNET_DATA_DIR": dir, "SIGNET_BCRYPT_COST": "4", "SIGNET_LOG_LEVEL": "debug",
		"SIGNET_SITE_URL": "http://app.test"})
	creds := map[string]string{"email": "ann@example.com", "password": "correct horse battery"}
	if resp, out := postJSON(t, base+"/v1/signup", creds); resp.StatusCode != 202 || len(out) != 0 {
		t.Fatalf("signup: %d %v", resp.StatusCode, out)
	}
	mailDir := filepath.Join(dir, "mail")
	var token string
	deadline := time.Now().Add(10 * time.Second)
	for token == "" && time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(mailDir, "*.eml"))
		if len(files) > 0 {
			b, _ := os.ReadFile(files[len(files)-1])
			// Undo the quoted-printable encoding of the text part.
			b = bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("=\r\n"), nil), []byte("=3D"), []byte("="))
			if m := emlToken.FindSubmatch(b); m != nil {
				token = string(m[1])
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if token == "" {
		t.Fatalf("no confirmation message in %s:\n%s", mailDir, logs)
	}
	if resp, out := postJSON(t, base+"/v1/signin", creds); resp.StatusCode != 403 || out["error"] != "email_not_verified" {
		t.Fatalf("signin before confirmation: %d %v", resp.StatusCode, out)
	}
	if resp, out := postJSON(t, base+"/v1/verify", map[string]string{"token": token}); resp.StatusCode != 200 {
		t.Fatalf("verify: %d %v", resp.StatusCode, out)
	}
	if resp, out := postJSON(t, base+"/v1/signin", creds); resp.StatusCode != 200 {
		t.Fatalf("signin: %d %v", resp.StatusCode, out)
	}
	l := logs.String()
	if !strings.Contains(l, "written as .eml files") || !strings.Contains(l, mailDir) {
		t.Fatalf("the log does not say where mail goes:\n%s", l)
	}
	if strings.Contains(l, token) || strings.Contains(l, token[7:]) || strings.Contains(l, "correct horse battery") {
		t.Fatal("the log contains a token or a password")
	}
}

// TestUsersCreateAndDelete: with sign-up closed, an administrator makes
// accounts (an invitation, or a password from standard input) and deletes
// them by email or id.
func TestUsersCreateAndDelete(t *testing.T) {
	dir := t.TempDir()
	env := envFrom(map[string]string{"SIGNET_DATA_DIR": dir, "SIGNET_BCRYPT_COST": "4", "SIGNET_SIGNUP_MODE": "closed",
		"SIGNET_KEY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))})
	users := func(in string, args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := runWithInput(context.Background(), append([]string{"users"}, args...), env, strings.NewReader(in), &out, io.Discard)
		return out.String(), err
	}
	if err := run(context.Background(), []string{"migrate", "up"}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if out, err := users("", "create", "Ann@Example.com"); err != nil || !strings.Contains(out, "invitation") {
		t.Fatalf("create: %q %v", out, err)
	}
	if out, err := users("staple battery horse\n", "--password-stdin", "create", "bob@example.com"); err != nil || !strings.Contains(out, "confirmation") {
		t.Fatalf("create --password-stdin: %q %v", out, err)
	}
	if _, err := users("password1\n", "--password-stdin", "create", "carl@example.com"); err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "common") {
		t.Fatalf("a common password: %v", err)
	}
	if _, err := users("", "create", "ann@example.com"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("create twice: %v", err)
	}
	db, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out, _ := db.Outbox(context.Background())
	if len(out) != 2 || out[0].Kind != "invite" || out[0].Recipient != "ann@example.com" || out[1].Kind != "verify_email" {
		t.Fatalf("outbox: %+v", out)
	}
	if o, err := users("", "delete", "ANN@example.com"); err != nil || !strings.Contains(o, "deleted") {
		t.Fatalf("delete by email: %q %v", o, err)
	}
	if _, err := users("", "delete", "ann@example.com"); err == nil {
		t.Fatal("deleted twice")
	}
	list, _ := db.ListUsers(context.Background(), 10)
	if len(list) != 1 || list[0].Email != "bob@example.com" {
		t.Fatalf("users left: %+v", list)
	}
	if _, err := users("", "delete", list[0].ID); err != nil {
		t.Fatalf("delete by id: %v", err)
	}
	if out, _ := db.Outbox(context.Background()); len(out) != 0 {
		t.Fatalf("mail of deleted users left: %+v", out)
	}
}

// TestLifecycleConfigErrors: invalid lifecycle settings stop start-up with
// a message naming the variable, and never echo the SMTP URL.
func TestLifecycleConfigErrors(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"SIGNET_SIGNUP_MODE": "public"}, []string{"SIGNET_SIGNUP_MODE", "open, private or closed"}},
		{map[string]string{"SIGNET_REQUIRE_VERIFIED_EMAIL": "maybe"}, []string{"SIGNET_REQUIRE_VERIFIED_EMAIL"}},
		{map[string]string{"SIGNET_PASSWORD_MIN_LENGTH": "6"}, []string{"SIGNET_PASSWORD_MIN_LENGTH", "8 to 72"}},
		{map[string]string{"SIGNET_SMTP_URL": "smtp://u:hunter2hunter2@mail.example.com"}, []string{"SIGNET_MAIL_FROM", "required"}},
		{map[string]string{"SIGNET_SMTP_URL": "http://u:hunter2hunter2@mail.example.com", "SIGNET_MAIL_FROM": "a@example.com"}, []string{"SIGNET_SMTP_URL", "smtp://"}},
		{map[string]string{"SIGNET_MAIL_FROM": "not an address"}, []string{"SIGNET_MAIL_FROM"}},
		{map[string]string{"SIGNET_SITE_URL": "app.example"}, []string{"SIGNET_SITE_URL"}},
		{map[string]string{"SIGNET_MAIL_TEMPLATES": "/nonexistent"}, []string{"SIGNET_MAIL_TEMPLATES"}},
		{map[string]string{"SIGNET_PAGE_TEMPLATES": "/nonexistent"}, []string{"SIGNET_PAGE_TEMPLATES", "not a directory"}},
		{map[string]string{"SIGNET_MAIL_RECIPIENT_LIMIT": "lots"}, []string{"SIGNET_MAIL_RECIPIENT_LIMIT", "N/duration"}},
	} {
		env := map[string]string{"SIGNET_DATA_DIR": t.TempDir()}
		for k, v := range c.env {
			env[k] = v
		}
		err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, envFrom(env), io.Discard, io.Discard)
		if err == nil || exitCode(err) != 2 {
			t.Fatalf("%v: %v", c.env, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not mention %q", c.env, err, w)
			}
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error repeats the SMTP password: %v", err)
		}
	}
}

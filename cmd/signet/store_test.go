package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/migrations"
)

// signet runs one command line and returns its stdout, stderr and error.
func signet(t *testing.T, env map[string]string, stdin io.Reader, line string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = runWithInput(ctx, strings.Fields(line), envFrom(env), stdin, &out, &errOut)
	return out.String(), errOut.String(), err
}

func schemaVersion(t *testing.T, env map[string]string) string {
	t.Helper()
	out, _, err := signet(t, env, nil, "migrate version")
	if err != nil {
		t.Fatalf("migrate version: %v", err)
	}
	return strings.TrimSpace(out)
}

// TestAdminCommandsNeedAStore: only serve and migrate up create a store;
// every other command run where there is none says where it looked and
// creates nothing.
func TestAdminCommandsNeedAStore(t *testing.T) {
	for _, line := range []string{"keys list", "keys rotate", "keys generate --alg RS256", "users list", "users find a@example.com", "users delete x", "migrate version", "migrate down 1", "migrate down --all --yes"} {
		t.Run(line, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "signet-data")
			_, _, err := signet(t, map[string]string{"SIGNET_DATA_DIR": dir}, nil, line)
			if err == nil {
				t.Fatal("the command succeeded without a store")
			}
			want := "no database at " + filepath.Join(dir, "signet.db")
			if !strings.Contains(err.Error(), want) || exitCode(err) != 2 {
				t.Fatalf("error %q (status %d), want %q and status 2", err, exitCode(err), want)
			}
			if entries, _ := os.ReadDir(parent); len(entries) > 0 {
				t.Fatalf("the command created %v", entries)
			}
		})
	}
	t.Run("relative path", func(t *testing.T) {
		_, _, err := signet(t, map[string]string{"SIGNET_DATA_DIR": "no-such-signet-data"}, nil, "keys list")
		abs, _ := filepath.Abs("no-such-signet-data/signet.db")
		if err == nil || !strings.Contains(err.Error(), "no-such-signet-data/signet.db ("+abs+")") {
			t.Fatalf("error %v does not give the absolute path", err)
		}
		if _, err := os.Stat("no-such-signet-data"); !os.IsNotExist(err) {
			t.Fatal("keys list created the data directory")
		}
	})
	t.Run("migrate up creates it", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "signet-data")
		env := map[string]string{"SIGNET_DATA_DIR": dir}
		if out, _, err := signet(t, env, nil, "migrate up"); err != nil || !strings.Contains(out, fullSchema()) {
			t.Fatalf("migrate up: %v %q", err, out)
		}
		// The key-encryption key is serve's to generate: keys refuses
		// to make a second one that would not open serve's keys.
		_, _, err := signet(t, env, nil, "keys list")
		if err == nil || !strings.Contains(err.Error(), "no key-encryption key at "+filepath.Join(dir, "key-encryption-key")) {
			t.Fatalf("keys list without the generated key-encryption key: %v", err)
		}
		if out, _, err := signet(t, env, nil, "users list"); err != nil || !strings.HasPrefix(out, "ID") {
			t.Fatalf("users list needs no key-encryption key: %v %q", err, out)
		}
	})
}

// TestMigrateDownNeedsACount: "migrate down" alone drops nothing; --all
// needs a confirmation, which without a terminal is --yes.
func TestMigrateDownNeedsACount(t *testing.T) {
	env := map[string]string{"SIGNET_DATA_DIR": t.TempDir()}
	if _, _, err := signet(t, env, nil, "migrate up"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		line, stdin, want string
	}{
		{"migrate down", "", "give the number of migrations to revert (down 1), or --all"},
		{"migrate down --all", "", "standard input is not a terminal, so add --yes"},
		{"migrate down --all", "yes\n", "standard input is not a terminal, so add --yes"},
		{"migrate down 1 --all", "", "give N or --all, not both"},
		{"migrate down 0", "", `"0" is not a positive number`},
		{"migrate up --all", "", "--all goes with down only"},
	} {
		t.Run(c.line+" <"+c.stdin, func(t *testing.T) {
			_, _, err := signet(t, env, strings.NewReader(c.stdin), c.line)
			if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v (status %d), want %q and status 2", err, exitCode(err), c.want)
			}
			if v := schemaVersion(t, env); v != fullSchema() {
				t.Fatalf("after the refused %q: %s", c.line, v)
			}
		})
	}
	if out, _, err := signet(t, env, nil, "migrate down --all --yes"); err != nil || !strings.Contains(out, schemaAt(0)) {
		t.Fatalf("migrate down --all --yes: %v %q", err, out)
	}
}

// TestSchemaErrors: what is wrong with the schema, and the command that
// fixes it, instead of the migration library's or the driver's words.
func TestSchemaErrors(t *testing.T) {
	env := map[string]string{"SIGNET_DATA_DIR": t.TempDir()}
	if _, _, err := signet(t, env, nil, "migrate up"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ line, want string }{
		{"migrate down 99", "migrate down 99: only "},
		{"migrate down --all --yes", ""},
		{"migrate down 1", "migrate down 1: no migration is applied"},
		{"migrate down --all --yes", "migrate down --all: no migration is applied"},
		{"users list", "has no schema: run signet migrate up"},
	} {
		_, _, err := signet(t, env, nil, c.line)
		if c.want == "" {
			if err != nil {
				t.Fatalf("%s: %v", c.line, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || doubledPrefix(err.Error()) {
			t.Fatalf("%s: error %v, want %q", c.line, err, c.want)
		}
		for _, raw := range []string{"short", "file does not exist", "store: migrate"} {
			if strings.Contains(err.Error(), raw) {
				t.Fatalf("%s: error %q leaks %q", c.line, err, raw)
			}
		}
	}
	// users list did not apply the schema behind the operator's back.
	if v := schemaVersion(t, env); v != schemaAt(0) {
		t.Fatalf("after users list on an empty database: %s", v)
	}
}

// TestServeWithoutSchema: with SIGNET_AUTO_MIGRATE=false on a fresh
// database, serve says to run signet migrate up.
func TestServeWithoutSchema(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			env := map[string]string{"SIGNET_DATA_DIR": t.TempDir(), "SIGNET_AUTO_MIGRATE": "false", "SIGNET_BCRYPT_COST": "4"}
			if dialect == store.Postgres {
				env["SIGNET_DATABASE_URL"] = storetest.URL(t, dialect)
				env["SIGNET_KEY_ENCRYPTION_KEY"] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
			}
			_, _, err := signet(t, env, nil, "serve --addr 127.0.0.1:0")
			if err == nil || !strings.Contains(err.Error(), "has no schema: run signet migrate up (SIGNET_AUTO_MIGRATE is false)") {
				t.Fatalf("serve on a fresh database without auto-migrate: %v", err)
			}
			if strings.Contains(err.Error(), "signing_keys") {
				t.Fatalf("error %q leaks the driver's words", err)
			}
		})
	}
}

// TestUsersCommand: find by email, paging with --after, and no
// key-encryption key needed, on both stores.
func TestUsersCommand(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			dir := t.TempDir()
			u := "sqlite://" + filepath.Join(dir, "signet.db")
			if dialect == store.Postgres {
				u = storetest.URL(t, dialect)
			}
			// No SIGNET_KEY_ENCRYPTION_KEY, even with Postgres.
			env := map[string]string{"SIGNET_DATA_DIR": dir, "SIGNET_DATABASE_URL": u}
			if _, _, err := signet(t, env, nil, "migrate up"); err != nil {
				t.Fatal(err)
			}
			db, err := store.Open(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			start := time.Now().UTC().Truncate(time.Millisecond)
			var ids []string
			for i := range 5 {
				id := fmt.Sprintf("user-%d", i)
				ids = append(ids, id)
				at := start.Add(time.Duration(i/2) * time.Second) // pairs share a creation time
				if err := db.CreateUser(context.Background(), issuer.User{ID: id, Email: fmt.Sprintf("u%d@example.com", i), PasswordHash: "h", CreatedAt: at}); err != nil {
					t.Fatal(err)
				}
			}

			var seen []string
			after := ""
			for page := 0; ; page++ {
				line := "users list --limit 2"
				if after != "" {
					line += " --after " + after
				}
				out, stderr, err := signet(t, env, nil, line)
				if err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				var got []string
				for _, id := range ids {
					if strings.Contains(out, id) {
						got = append(got, id)
					}
				}
				seen = append(seen, got...)
				if page == 2 {
					if len(got) != 1 || stderr != "" {
						t.Fatalf("last page %v, stderr %q", got, stderr)
					}
					break
				}
				next := "more users follow: signet users list --after " + got[len(got)-1]
				if len(got) != 2 || !strings.Contains(stderr, next) {
					t.Fatalf("page %d: %v, stderr %q, want 2 users and %q", page, got, stderr, next)
				}
				after = got[len(got)-1]
			}
			if strings.Join(seen, " ") != strings.Join(ids, " ") {
				t.Fatalf("pages listed %v, want %v", seen, ids)
			}

			out, _, err := signet(t, env, nil, "users find U3@Example.com --json")
			if err != nil || !strings.Contains(out, `"id":"user-3"`) || strings.Contains(out, "user-2") {
				t.Fatalf("users find: %v %q", err, out)
			}
			if _, _, err := signet(t, env, nil, "users find nobody@example.com"); err == nil || !strings.Contains(err.Error(), "no user has the email nobody@example.com") {
				t.Fatalf("users find of an unknown email: %v", err)
			}
			if _, _, err := signet(t, env, nil, "users list --after nobody"); err == nil || !strings.Contains(err.Error(), "--after nobody: no user has this ID") {
				t.Fatalf("users list --after an unknown ID: %v", err)
			}

			if out, _, err := signet(t, env, nil, "users delete user-0"); err != nil || !strings.Contains(out, "user user-0 deleted") {
				t.Fatalf("users delete: %v %q", err, out)
			}
			if _, _, err := signet(t, env, nil, "users delete user-0"); err == nil || !strings.Contains(err.Error(), "no user has the ID or email user-0") {
				t.Fatalf("users delete of a deleted user: %v", err)
			}
			events, err := db.Events(context.Background(), "user_deleted")
			if err != nil || len(events) != 1 || events[0].UserID == nil || *events[0].UserID != "user-0" {
				t.Fatalf("audit events after users delete: %+v %v", events, err)
			}
		})
	}
}

// migrationVersions are the versions of the embedded migrations, in order.
var migrationVersions = func() []int {
	entries, err := fs.ReadDir(migrations.FS, "sqlite")
	if err != nil {
		panic(err)
	}
	var vs []int
	for _, e := range entries {
		if v, _, ok := strings.Cut(e.Name(), "_"); ok && strings.HasSuffix(e.Name(), ".up.sql") {
			n, _ := strconv.Atoi(v)
			vs = append(vs, n)
		}
	}
	slices.Sort(vs)
	return vs
}()

// schemaAt is what signet migrate prints at version v.
func schemaAt(v int) string {
	return fmt.Sprintf("schema version %d of %d", v, migrationVersions[len(migrationVersions)-1])
}

// fullSchema is schemaAt the latest version.
func fullSchema() string { return schemaAt(migrationVersions[len(migrationVersions)-1]) }

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// TestRegistryCommands: resources and clients are created, listed, shown,
// updated and deleted from the command line, every change audited; the
// built-in default resource and first-party client are listed and cannot
// be changed; a private key is refused; a client_secret_basic client gets
// a secret printed once and stored only as a hash.
func TestRegistryCommands(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			dir := t.TempDir()
			u := "sqlite://" + filepath.Join(dir, "signet.db")
			if dialect == store.Postgres {
				u = storetest.URL(t, dialect)
			}
			env := map[string]string{"SIGNET_DATA_DIR": dir, "SIGNET_DATABASE_URL": u, "SIGNET_AUDIENCE": "https://api.example"}
			run := func(line string) string {
				t.Helper()
				out, stderr, err := signet(t, env, nil, line)
				if err != nil {
					t.Fatalf("%s: %v\n%s", line, err, stderr)
				}
				return out
			}
			fails := func(line, want string) {
				t.Helper()
				_, stderr, err := signet(t, env, nil, line)
				if err == nil || !strings.Contains(err.Error()+stderr, want) {
					t.Fatalf("%s: %v %q, want an error saying %q", line, err, stderr, want)
				}
			}
			run("migrate up")
			out := run("resources create https://video.example --name video --scopes video:read,video:write --role editor=video:write")
			var r issuer.Resource
			if err := json.Unmarshal([]byte(out), &r); err != nil || r.URI != "https://video.example" || strings.Join(r.Scopes, " ") != "video:read video:write" || len(r.RoleScopes["editor"]) != 1 {
				t.Fatalf("resources create: %s (%v)", out, err)
			}
			fails("resources create https://video.example", "already exists")
			fails("resources create video", "absolute URI")
			fails("resources create https://x.example#frag", "absolute URI")
			fails("resources create https://api.example", "default resource")
			fails("resources delete https://api.example", "cannot be deleted")
			fails("resources create https://x.example --scopes a --role r=b", "does not define")
			fails("resources update https://video.example --scopes video:read", "does not define")
			run("resources update https://video.example --scopes video:read --role editor=video:read")
			fails("resources update https://video.example --role editor=video:write", "does not define")
			out = run("resources list")
			if !strings.Contains(out, "https://api.example") || !strings.Contains(out, "https://video.example  video    video:read\n") {
				t.Fatalf("resources list:\n%s", out)
			}
			out = run("resources show https://video.example")
			if !strings.Contains(out, `"name": "video"`) {
				t.Fatalf("update lost the name: %s", out)
			}

			pub := filepath.Join(dir, "pub.json")
			os.WriteFile(pub, []byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`), 0o600)
			priv := filepath.Join(dir, "priv.json")
			os.WriteFile(priv, []byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}`), 0o600)
			run("clients create shop-api --grants client_credentials --resources https://video.example --scopes video:read --jwks-file " + pub)
			fails("clients create shop-api --grants client_credentials --jwks-file "+pub, "already exists")
			fails("clients create leaky --grants client_credentials --jwks-file "+priv, "private key")
			fails("clients create nokeys --grants client_credentials", "exactly one of a JWKS")
			fails("clients create pub --type public --grants client_credentials", "confidential")
			fails("clients create bad --grants implicit --jwks-file "+pub, "grant type")
			fails("clients create far --grants client_credentials --resources https://nowhere.example --jwks-file "+pub, "not registered")
			fails("clients delete signet", "built in")
			out = run("clients create billing --grants client_credentials --auth-method client_secret_basic")
			if !strings.Contains(out, "client secret (shown once, store it now): sgt_cs_") {
				t.Fatalf("client_secret_basic create: %s", out)
			}
			secret := strings.TrimSpace(out[strings.LastIndex(out, " ")+1:])
			out = run("clients update shop-api --scopes video:read --name Shop")
			if !strings.Contains(out, `"client_name": "Shop"`) || !strings.Contains(out, `"jwks"`) {
				t.Fatalf("clients update: %s", out)
			}
			out = run("clients list")
			for _, want := range []string{"signet", "shop-api", "billing", "private_key_jwt", "client_secret_basic"} {
				if !strings.Contains(out, want) {
					t.Fatalf("clients list lacks %s:\n%s", want, out)
				}
			}
			run("clients delete shop-api")
			fails("clients show shop-api", "no client shop-api")
			run("resources delete https://video.example")

			db, err := store.Open(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			c, err := db.Client(context.Background(), "billing")
			if err != nil || len(c.SecretHash) != 32 {
				t.Fatalf("billing: %+v %v", c, err)
			}
			var raw string
			if err := db.SQL().QueryRow(`SELECT metadata FROM clients WHERE id = 'billing'`).Scan(&raw); err != nil || strings.Contains(raw, secret) {
				t.Fatalf("the client secret is stored: %v", err)
			}
			events, err := db.Events(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, e := range events {
				seen[e.Type]++
			}
			for typ, n := range map[string]int{"registry.resource.create": 1, "registry.resource.update": 1, "registry.resource.delete": 1,
				"registry.client.create": 2, "registry.client.update": 1, "registry.client.delete": 1} {
				if seen[typ] != n {
					t.Errorf("%d %s events, want %d (%v)", seen[typ], typ, n, seen)
				}
			}
		})
	}
}

// TestUserRolesCommand: roles are given, listed and taken away by email or
// id, each change audited once; unknown users and bad role names are
// refused.
func TestUserRolesCommand(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"SIGNET_DATA_DIR": dir}
	if _, _, err := signet(t, env, nil, "migrate up"); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateUser(context.Background(), issuer.User{ID: "u1", Email: "ann@example.com", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ line, want string }{
		{"users roles add ann@example.com editor", "role editor given to user ann@example.com"},
		{"users roles add u1 editor", "already has the role editor"},
		{"users roles add u1 admin", "role admin given"},
		{"users roles list ANN@example.com", "admin\neditor\n"},
		{"users roles remove ann@example.com admin", "role admin taken"},
		{"users roles remove u1 admin", "does not have the role admin"},
		{"users roles list u1", "editor\n"},
	} {
		out, stderr, err := signet(t, env, nil, c.line)
		if err != nil || !strings.Contains(out, c.want) {
			t.Fatalf("%s: %q %q %v, want %q", c.line, out, stderr, err, c.want)
		}
	}
	for _, c := range []struct{ line, want string }{
		{"users roles add bob@example.com editor", "no user has the ID or email bob@example.com"},
		{"users roles add u1 bad/role", "role \"bad/role\""},
		{"users roles add u1", "missing ROLE"},
		{"users roles grant u1 x", "unknown action"},
	} {
		_, _, err := signet(t, env, nil, c.line)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: %v, want %q", c.line, err, c.want)
		}
	}
	events, err := db.Events(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range events {
		n[e.Type]++
	}
	if n["user.role.add"] != 2 || n["user.role.remove"] != 1 {
		t.Fatalf("audit events %v", n)
	}
}

// TestServeAppliesRegistryFile: serve applies SIGNET_REGISTRY_FILE before
// serving, and a sign-in can then ask for the declared resource.
func TestServeAppliesRegistryFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "registry.json")
	if err := os.WriteFile(file, []byte(`{"resources":[{"uri":"https://video.example","scopes":["video:read"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SIGNET_DATA_DIR": dir, "SIGNET_BCRYPT_COST": "4", "SIGNET_REGISTRY_FILE": file,
		"SIGNET_SIGNUP_MODE": "open", "SIGNET_REQUIRE_VERIFIED_EMAIL": "false"}
	base, logs := startServe(t, env)
	if !strings.Contains(logs.String(), `"registry file applied"`) {
		t.Fatalf("no log line of the registry file:\n%s", logs)
	}
	creds := map[string]string{"email": "ann@example.com", "password": "correct horse battery"}
	if resp, out := postJSON(t, base+"/v1/signup", creds); resp.StatusCode != 201 {
		t.Fatalf("signup: %d %v", resp.StatusCode, out)
	}
	creds["resource"], creds["scope"] = "https://video.example", "video:read"
	if resp, out := postJSON(t, base+"/v1/signin", creds); resp.StatusCode != 200 || out["scope"] != "video:read" {
		t.Fatalf("signin for the declared resource: %d %v", resp.StatusCode, out)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-auth/signet/issuer/store"
)

// Rows written before emails were normalised are reported, not left
// silently: invisible characters, NFD, a Unicode domain and look-alikes,
// with exit status 1; a clean database exits 0.
func TestCheckEmailsReportsLegacyRows(t *testing.T) {
	dir := t.TempDir()
	env := envFrom(map[string]string{"SIGNET_DATA_DIR": dir})
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"migrate", "up"}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"check-emails"}, env, &out, io.Discard); err != nil {
		t.Fatalf("empty database: %v\n%s", err, out.String())
	}
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := []struct{ id, email string }{
		{"ok", "ann@example.com"},
		{"zwsp", "bo\u200bb@example.com"},
		{"bob", "bob@example.com"},
		{"nfd", "jose\u0301@example.com"},
		{"unicode-domain", "eve@b\u00fccher.de"},
		{"cyrillic", "\u0430dmin@example.com"},
		{"latin", "admin@example.com"},
	}
	for i, r := range rows {
		if _, err := db.SQL().ExecContext(ctx, `INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES (?, ?, 'h', ?, ?)`,
			r.id, r.email, 1000+i, 1000+i); err != nil {
			t.Fatal(err)
		}
	}
	// An upgrade runs migrate up, which stores the skeletons it can.
	if err := run(ctx, []string{"migrate", "up"}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = run(ctx, []string{"check-emails", "--json"}, env, &out, io.Discard)
	if exitCode(err) != 1 || err == nil {
		t.Fatalf("check-emails with findings: %v (exit %d), want exit status 1", err, exitCode(err))
	}
	var findings []emailFinding
	if err := json.Unmarshal(out.Bytes(), &findings); err != nil {
		t.Fatalf("--json output %q: %v", out.String(), err)
	}
	got := map[string]emailFinding{}
	for _, f := range findings {
		got[f.ID] = f
	}
	want := map[string]string{
		"zwsp":           "not valid",
		"bob":            "look-alike",
		"nfd":            "not in normal form",
		"unicode-domain": "not in normal form",
		"cyrillic":       "look-alike",
		"latin":          "look-alike",
	}
	if len(got) != len(want) {
		t.Errorf("findings for %d accounts, want %d: %+v", len(got), len(want), findings)
	}
	for id, says := range want {
		if !strings.Contains(got[id].Problem, says) {
			t.Errorf("%s: problem %q, want it to say %q", id, got[id].Problem, says)
		}
	}
	if got["unicode-domain"].Normal != "eve@xn--bcher-kva.de" || !strings.Contains(strings.Join(got["zwsp"].LooksLike, ","), "bob") {
		t.Errorf("details: %+v", findings)
	}
	out.Reset()
	if err := run(ctx, []string{"check-emails"}, env, &out, io.Discard); exitCode(err) != 1 {
		t.Fatalf("table form: %v", err)
	}
	if !strings.Contains(out.String(), `"bo\u200bb@example.com"`) || !strings.Contains(out.String(), "6 of 7 accounts") {
		t.Errorf("the table does not show the invisible character or the count:\n%s", out.String())
	}
}

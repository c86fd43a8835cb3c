package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
)

// TestSessionsCommand: list a user's sessions, end one and then the
// rest; each end is a revocation event for the feed and an audit event.
func TestSessionsCommand(t *testing.T) {
	dir := t.TempDir()
	env := envFrom(map[string]string{"SIGNET_DATA_DIR": dir})
	sessions := func(args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"sessions"}, args...), env, &out, io.Discard)
		return out.String(), err
	}
	ctx := context.Background()
	if err := run(ctx, []string{"migrate", "up"}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	if err := db.CreateUser(ctx, issuer.User{ID: "u1", Email: "ann@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s1", "s2", "s3"} {
		if err := db.CreateSession(ctx, issuer.Session{ID: id, UserID: "u1", RefreshSecret: []byte{1}, CreatedAt: now, RotatedAt: now,
			IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour), IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := sessions("list", "ann@example.com"); err != nil || strings.Count(out, "live") != 3 {
		t.Fatalf("list: %q %v", out, err)
	}
	if out, err := sessions("revoke", "s1"); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %q %v", out, err)
	}
	if _, err := sessions("revoke", "s1"); err == nil {
		t.Fatal("revoked twice")
	}
	if out, err := sessions("revoke-all", "u1"); err != nil || !strings.Contains(out, "2 sessions") {
		t.Fatalf("revoke-all: %q %v", out, err)
	}
	if out, err := sessions("--json", "list", "u1"); err != nil || strings.Count(out, `"state":"revoked"`) != 3 || !strings.Contains(out, `"revoked_reason":"admin"`) {
		t.Fatalf("list after: %q %v", out, err)
	}
	evs, err := db.RevocationsAfter(ctx, 0, now, 10)
	if err != nil || len(evs) != 3 {
		t.Fatalf("revocation events: %+v %v", evs, err)
	}
	var audits int
	if err := db.SQL().GetContext(ctx, &audits, `SELECT COUNT(*) FROM audit_events WHERE type = 'sessions_revoked'`); err != nil || audits != 2 {
		t.Fatalf("audit events: %d %v", audits, err)
	}
	if _, err := sessions("list", "nobody@example.com"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Fatalf("unknown user: %v", err)
	}
}

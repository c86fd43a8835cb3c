package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// TestUsersDisableCommand: users disable ends the user's sessions and
// records session and subject revocation events that live the configured
// SIGNET_ACCESS_TOKEN_TTL + SIGNET_CLOCK_LEEWAY (not the default); users
// list and find show the state; enable lifts it; sessions revoke and
// users delete use the same lifetime. Both stores.
func TestUsersDisableCommand(t *testing.T) {
	const ttl, leeway = time.Hour, 45 * time.Second
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			u := "sqlite://" + filepath.Join(dir, "signet.db")
			if dialect == store.Postgres {
				u = storetest.URL(t, dialect)
			}
			env := map[string]string{"SIGNET_DATA_DIR": dir, "SIGNET_DATABASE_URL": u,
				"SIGNET_ACCESS_TOKEN_TTL": ttl.String(), "SIGNET_CLOCK_LEEWAY": leeway.String()}
			if _, _, err := signet(t, env, nil, "migrate up"); err != nil {
				t.Fatal(err)
			}
			db, err := store.Open(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			now := time.Now().UTC().Truncate(time.Millisecond)
			for i, id := range []string{"u1", "u2"} {
				if err := db.CreateUser(ctx, issuer.User{ID: id, Email: fmt.Sprintf("%s@example.com", id), PasswordHash: "h", CreatedAt: now.Add(time.Duration(i) * time.Second)}); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range [][2]string{{"s1", "u1"}, {"s2", "u1"}, {"s3", "u2"}, {"s4", "u2"}} {
				if err := db.CreateSession(ctx, issuer.Session{ID: s[0], UserID: s[1], RefreshSecret: []byte{1}, CreatedAt: now, RotatedAt: now,
					IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			// events returns the live events after cursor, checking that
			// each lives ttl + leeway.
			cursor := int64(0)
			events := func(want int) map[string]issuer.RevocationKind {
				t.Helper()
				evs, err := db.RevocationsAfter(ctx, cursor, time.Now(), 100)
				if err != nil || len(evs) != want {
					t.Fatalf("revocation events after %d: %+v %v, want %d", cursor, evs, err, want)
				}
				out := map[string]issuer.RevocationKind{}
				for _, e := range evs {
					if life := e.ExpiresAt.Sub(e.RevokedAt); life != ttl+leeway {
						t.Fatalf("event %+v lives %s, want %s", e, life, ttl+leeway)
					}
					out[e.Subject] = e.Kind
					cursor = e.Seq
				}
				return out
			}

			out, _, err := signet(t, env, nil, "users disable U1@Example.com")
			if err != nil || !strings.Contains(out, "user u1 (u1@example.com) disabled; 2 sessions revoked") {
				t.Fatalf("users disable: %v %q", err, out)
			}
			if got := events(3); got["s1"] != issuer.RevokedSession || got["s2"] != issuer.RevokedSession || got["u1"] != issuer.RevokedSubject {
				t.Fatalf("events of users disable: %v", got)
			}
			if out, _, err := signet(t, env, nil, "users disable u1"); err != nil || !strings.Contains(out, "already disabled") {
				t.Fatalf("users disable twice: %v %q", err, out)
			}
			if _, _, err := signet(t, env, nil, "users disable nobody@example.com"); err == nil || !strings.Contains(err.Error(), "no user has the ID or email nobody@example.com") {
				t.Fatalf("users disable of an unknown user: %v", err)
			}
			out, _, err = signet(t, env, nil, "users list")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if err != nil || len(lines) != 3 || !strings.HasSuffix(strings.Fields(lines[0])[3], "STATE") ||
				!strings.Contains(lines[1], "u1@example.com") || !strings.Contains(lines[1], "disabled since ") ||
				!strings.HasSuffix(lines[2], "enabled") {
				t.Fatalf("users list: %v\n%s", err, out)
			}
			out, _, err = signet(t, env, nil, "users find u1@example.com --json")
			var found []struct {
				ID         string    `json:"id"`
				State      string    `json:"state"`
				DisabledAt time.Time `json:"disabled_at"`
			}
			if err != nil || json.Unmarshal([]byte(out), &found) != nil || len(found) != 1 || found[0].State != "disabled" || found[0].DisabledAt.IsZero() {
				t.Fatalf("users find --json: %v %s", err, out)
			}
			if u, err := db.UserByID(ctx, "u1"); err != nil || !u.Disabled() {
				t.Fatalf("the store: %+v %v", u, err)
			}

			out, _, err = signet(t, env, nil, "users enable u1")
			if err != nil || !strings.Contains(out, "user u1 (u1@example.com) enabled") {
				t.Fatalf("users enable: %v %q", err, out)
			}
			if out, _, err := signet(t, env, nil, "users find u1@example.com --json"); err != nil || !strings.Contains(out, `"state":"enabled"`) || strings.Contains(out, "disabled_at") {
				t.Fatalf("users find after enable: %v %s", err, out)
			}
			for typ, n := range map[string]int{"user_disabled": 1, "user_enabled": 1} {
				if evs, err := db.Events(ctx, typ); err != nil || len(evs) != n {
					t.Fatalf("%s audit events: %+v %v", typ, evs, err)
				}
			}

			// The other commands that revoke use the same lifetime.
			if _, _, err := signet(t, env, nil, "sessions revoke s3"); err != nil {
				t.Fatal(err)
			}
			if got := events(1); got["s3"] != issuer.RevokedSession {
				t.Fatalf("events of sessions revoke: %v", got)
			}
			if _, _, err := signet(t, env, nil, "sessions revoke-all u2"); err != nil {
				t.Fatal(err)
			}
			if got := events(1); got["s4"] != issuer.RevokedSession {
				t.Fatalf("events of sessions revoke-all: %v", got)
			}
			if _, _, err := signet(t, env, nil, "users delete u2"); err != nil {
				t.Fatal(err)
			}
			if got := events(1); got["u2"] != issuer.RevokedSubject {
				t.Fatalf("events of users delete: %v", got)
			}
		})
	}
}

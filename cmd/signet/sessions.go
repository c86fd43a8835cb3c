package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
)

const sessionsAbout = `Inspect and end sessions. Ending one records a revocation event in the
same transaction: verifiers following the revocation feed refuse its
access tokens within a long-poll round trip.

  list EMAIL|ID           a user's sessions, oldest first (--json)
  revoke SESSION_ID       end one session
  revoke-all EMAIL|ID     end every session of a user

The events live the access-token lifetime plus the clock leeway: give the
command the SIGNET_ACCESS_TOKEN_TTL and SIGNET_CLOCK_LEEWAY the issuer
runs with.`

func runSessions(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sessions", flag.ContinueOnError)
	src := addSettings(fs, getenv)
	asJSON := fs.Bool("json", false, "list: print JSON")
	commandUsage(fs, "signet sessions [flags] list EMAIL|ID | revoke SESSION_ID | revoke-all EMAIL|ID", sessionsAbout)
	if err := parseFlags(fs, reorder(fs, args), stdout, stderr); err != nil {
		return err
	}
	rest, err := subcommand("sessions", fs, stderr)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(src)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg, existingStore)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := checkSchema(db, cfg, existingStore, cfg.AutoMigrate); err != nil {
		return err
	}
	now := time.Now()
	switch rest[0] {
	case "list":
		u, err := findUser(ctx, db, rest[1])
		if err != nil {
			return fmt.Errorf("sessions list: %w", err)
		}
		ss, err := db.SessionsByUser(ctx, u.ID)
		if err != nil {
			return err
		}
		return printSessions(stdout, ss, now, *asJSON)
	case "revoke":
		ok, err := db.RevokeSession(ctx, rest[1], now, "admin")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("sessions revoke: no live session has the ID %s", rest[1])
		}
		recordAdminRevocation(ctx, db, stderr, issuer.AuditEvent{At: now, Type: "sessions_revoked", SessionID: rest[1],
			Detail: map[string]string{"by": "cli", "count": "1"}})
		fmt.Fprintf(stdout, "session %s revoked\n", rest[1])
		return nil
	default: // revoke-all
		u, err := findUser(ctx, db, rest[1])
		if err != nil {
			return fmt.Errorf("sessions revoke-all: %w", err)
		}
		n, err := db.RevokeUserSessions(ctx, u.ID, "", now, "admin")
		if err != nil {
			return err
		}
		recordAdminRevocation(ctx, db, stderr, issuer.AuditEvent{At: now, Type: "sessions_revoked", UserID: u.ID,
			Detail: map[string]string{"by": "cli", "count": fmt.Sprint(n)}})
		fmt.Fprintf(stdout, "%d sessions of user %s revoked\n", n, u.ID)
		return nil
	}
}

// findUser reads a user by id or, with an @, by email.
func findUser(ctx context.Context, db *store.DB, idOrEmail string) (issuer.User, error) {
	var u issuer.User
	var err error
	if strings.Contains(idOrEmail, "@") {
		u, err = db.UserByEmail(ctx, strings.TrimSpace(idOrEmail))
	} else {
		u, err = db.UserByID(ctx, idOrEmail)
	}
	if errors.Is(err, issuer.ErrNotFound) {
		return u, fmt.Errorf("no user has the ID or email %s", idOrEmail)
	}
	return u, err
}

// recordAdminRevocation writes the audit event; the revocation itself is
// done, so a failure is only reported.
func recordAdminRevocation(ctx context.Context, db *store.DB, stderr io.Writer, e issuer.AuditEvent) {
	if err := db.RecordEvent(ctx, e); err != nil {
		fmt.Fprintf(stderr, "signet sessions: the audit event was not written: %v\n", err)
	}
}

type sessionView struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	RotatedAt time.Time `json:"rotated_at"`
	ExpiresAt time.Time `json:"expires_at"`
	State     string    `json:"state"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Reason    string    `json:"revoked_reason,omitempty"`
	UserAgent string    `json:"user_agent"`
	IP        string    `json:"ip"`
}

func printSessions(w io.Writer, ss []issuer.Session, now time.Time, asJSON bool) error {
	views := make([]sessionView, len(ss))
	for i, s := range ss {
		exp := s.IdleExpiresAt
		if s.AbsoluteExpiresAt.Before(exp) {
			exp = s.AbsoluteExpiresAt
		}
		state := "live"
		switch {
		case s.Revoked():
			state = "revoked"
		case !now.Before(exp):
			state = "expired"
		}
		views[i] = sessionView{ID: s.ID, CreatedAt: s.CreatedAt, RotatedAt: s.RotatedAt, ExpiresAt: exp, State: state,
			UserAgent: s.UserAgent, IP: s.IP}
		if s.Revoked() {
			views[i].RevokedAt, views[i].Reason = s.RevokedAt, s.RevokedReason
		}
	}
	if asJSON {
		return json.NewEncoder(w).Encode(views)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tCREATED\tEXPIRES\tIP\tUSER AGENT")
	for _, v := range views {
		state := v.State
		if v.Reason != "" {
			state += " (" + v.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, state, v.CreatedAt.Format(time.RFC3339), v.ExpiresAt.Format(time.RFC3339), v.IP, v.UserAgent)
	}
	return tw.Flush()
}

package main

import (
	"context"
	"log/slog"
	"time"
)

// auditPruner deletes high-volume audit events past their retention
// (issuer.Throttle).
type auditPruner interface {
	PruneAuditEvents(ctx context.Context) (int64, error)
}

// janitorStore is what the janitor deletes from.
type janitorStore interface {
	DeleteEndedSessions(ctx context.Context, before time.Time) (int64, error)
	DeleteStaleSigninFailures(ctx context.Context, before, now time.Time) (int64, error)
	DeleteOldMail(ctx context.Context, before time.Time) (int64, error)
	DeleteExpiredAccountTokens(ctx context.Context, now time.Time) (int64, error)
	DeleteExpiredRevocations(ctx context.Context, before time.Time) (int64, error)
	DeleteExpiredOIDC(ctx context.Context, codesBefore, now time.Time) (int64, error)
	// CheckpointWAL moves SQLite's write-ahead log into the database and
	// truncates it (nothing on Postgres).
	CheckpointWAL(ctx context.Context) error
}

const (
	janitorEvery = time.Hour
	// endedSessionRetention keeps ended sessions this long after they end,
	// for investigations; audit events are kept regardless.
	endedSessionRetention = 7 * 24 * time.Hour
	// sentMailRetention keeps delivered mail (without its body) as long
	// as the per-recipient limit counts it.
	sentMailRetention = 24 * time.Hour
)

// runJanitor deletes ended sessions, sign-in failure counts older than the
// throttle's reset (they no longer count), delivered mail, expired account
// tokens, sign-in audit events past their retention and revocation events
// past their lifetime every hour until ctx is done. Every replica runs it; the
// deletes are idempotent, so replicas need no coordination.
func runJanitor(ctx context.Context, db janitorStore, pruner auditPruner, log *slog.Logger, throttleReset time.Duration) {
	t := time.NewTicker(janitorEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sweep(ctx, db, log, time.Now(), throttleReset)
		if n, err := pruner.PruneAuditEvents(ctx); err != nil {
			log.Warn("janitor: pruning sign-in audit events failed", "error", err)
		} else if n > 0 {
			log.Info("janitor", "audit_events_deleted", n)
		}
	}
}

func sweep(ctx context.Context, db janitorStore, log *slog.Logger, now time.Time, throttleReset time.Duration) {
	sessions, err := db.DeleteEndedSessions(ctx, now.Add(-endedSessionRetention))
	if err != nil {
		log.Warn("janitor: deleting ended sessions failed", "error", err)
	}
	failures, err := db.DeleteStaleSigninFailures(ctx, now.Add(-throttleReset), now)
	if err != nil {
		log.Warn("janitor: deleting stale sign-in failures failed", "error", err)
	}
	mail, err := db.DeleteOldMail(ctx, now.Add(-sentMailRetention))
	if err != nil {
		log.Warn("janitor: deleting old mail failed", "error", err)
	}
	tokens, err := db.DeleteExpiredAccountTokens(ctx, now)
	if err != nil {
		log.Warn("janitor: deleting expired account tokens failed", "error", err)
	}
	revocations, err := db.DeleteExpiredRevocations(ctx, now)
	if err != nil {
		log.Warn("janitor: deleting expired revocation events failed", "error", err)
	}
	// Codes are kept a day past their expiry, so that a late replay still
	// revokes what the code issued.
	oidc, err := db.DeleteExpiredOIDC(ctx, now.Add(-24*time.Hour), now)
	if err != nil {
		log.Warn("janitor: deleting expired authorization codes and browser sessions failed", "error", err)
	}
	if err := db.CheckpointWAL(ctx); err != nil {
		log.Warn("janitor: WAL checkpoint failed", "error", err)
	}
	if sessions+failures+mail+tokens+revocations+oidc > 0 {
		log.Info("janitor", "sessions_deleted", sessions, "signin_failures_deleted", failures, "mail_deleted", mail, "account_tokens_deleted", tokens,
			"revocation_events_deleted", revocations, "codes_and_browser_sessions_deleted", oidc)
	}
}

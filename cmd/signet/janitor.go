package main

import (
	"context"
	"log/slog"
	"time"
)

// janitorStore is what the janitor deletes from.
type janitorStore interface {
	DeleteEndedSessions(ctx context.Context, before time.Time) (int64, error)
	DeleteStaleSigninFailures(ctx context.Context, before, now time.Time) (int64, error)
	DeleteOldMail(ctx context.Context, before time.Time) (int64, error)
	DeleteExpiredAccountTokens(ctx context.Context, now time.Time) (int64, error)
}

const (
	janitorEvery = time.Hour
	// endedSessionRetention keeps ended sessions this long after they end,
	// for investigations; audit events are kept regardless.
	endedSessionRetention = 7 * 24 * time.Hour
	// staleFailureAge matches the sign-in throttle's reset: older counts
	// no longer count.
	staleFailureAge = 24 * time.Hour
	// sentMailRetention keeps delivered mail (without its body) as long
	// as the per-recipient limit counts it.
	sentMailRetention = 24 * time.Hour
)

// runJanitor deletes ended sessions and stale sign-in failure counts every
// hour until ctx is done. Every replica runs it; the deletes are
// idempotent, so replicas need no coordination.
func runJanitor(ctx context.Context, db janitorStore, log *slog.Logger) {
	t := time.NewTicker(janitorEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sweep(ctx, db, log, time.Now())
	}
}

func sweep(ctx context.Context, db janitorStore, log *slog.Logger, now time.Time) {
	sessions, err := db.DeleteEndedSessions(ctx, now.Add(-endedSessionRetention))
	if err != nil {
		log.Warn("janitor: deleting ended sessions failed", "error", err)
	}
	failures, err := db.DeleteStaleSigninFailures(ctx, now.Add(-staleFailureAge), now)
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
	if sessions+failures+mail+tokens > 0 {
		log.Info("janitor", "sessions_deleted", sessions, "signin_failures_deleted", failures, "mail_deleted", mail, "account_tokens_deleted", tokens)
	}
}

package issuer

import (
	"context"
	"log/slog"
	"time"
)

// Auditor writes audit events to the audit table and the log.
type Auditor struct {
	store AuditStore
	log   *slog.Logger
	now   func() time.Time
}

// NewAuditor returns an Auditor; log nil discards log lines and now nil
// means time.Now.
func NewAuditor(store AuditStore, log *slog.Logger, now func() time.Time) *Auditor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, ok := log.Handler().(requestIDHandler); !ok {
		log = slog.New(requestIDHandler{log.Handler()})
	}
	if now == nil {
		now = time.Now
	}
	return &Auditor{store: store, log: log, now: now}
}

// Record writes e, stamped with the time and the caller's address. A
// failure to store it is logged, not returned: the act it describes went
// through.
func (a *Auditor) Record(ctx context.Context, caller Caller, e AuditEvent) {
	if e.At.IsZero() {
		e.At = a.now().UTC()
	}
	if e.IP == "" {
		e.IP = caller.IP
	}
	attrs := []any{"event", e.Type, "user_id", e.UserID, "session_id", e.SessionID, "client_ip", e.IP}
	for k, v := range e.Detail {
		attrs = append(attrs, k, v)
	}
	a.log.InfoContext(ctx, "audit", attrs...)
	if err := a.store.RecordEvent(context.WithoutCancel(ctx), e); err != nil {
		// The whole event, so that none is lost where only errors are kept.
		a.log.ErrorContext(ctx, "audit event not stored", append(attrs, "at", e.At, "error", err)...)
	}
}

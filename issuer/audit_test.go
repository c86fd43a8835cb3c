package issuer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"
)

type failingAuditStore struct{}

func (failingAuditStore) RecordEvent(context.Context, AuditEvent) error {
	return errors.New("store: record event: database or disk is full (13)")
}

// TestAuditEventNotStoredIsLoggedWhole: an event the store could not
// keep is logged whole on the error line, so that a log kept at warning
// level still has every event.
func TestAuditEventNotStoredIsLoggedWhole(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	a := NewAuditor(failingAuditStore{}, log, func() time.Time { return at })
	a.Record(context.Background(), Caller{IP: "192.0.2.7"}, AuditEvent{Type: "refresh_token_reused", UserID: "u1", SessionID: "s1",
		Detail: map[string]string{"presented_counter": "3", "current_counter": "5"}})

	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("want one JSON line at warning level or above, got %q", buf.String())
	}
	for k, want := range map[string]any{
		"msg": "audit event not stored", "level": "ERROR", "event": "refresh_token_reused", "user_id": "u1", "session_id": "s1",
		"client_ip": "192.0.2.7", "at": at.Format(time.RFC3339Nano), "presented_counter": "3", "current_counter": "5",
		"error": "store: record event: database or disk is full (13)",
	} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v (line %s)", k, line[k], want, buf.String())
		}
	}
}

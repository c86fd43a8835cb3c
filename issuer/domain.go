package issuer

import (
	"context"
	"errors"
	"time"
)

// User is an account. PasswordHash never leaves the issuer.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
}

// AuditEvent is a security-relevant event, written to the audit_events
// table and to the log. Detail never holds a secret.
type AuditEvent struct {
	At        time.Time
	Type      string
	UserID    string
	SessionID string
	IP        string
	Detail    map[string]string
}

// Store errors, mapped from driver errors by the store.
var (
	ErrNotFound   = errors.New("not found")
	ErrEmailTaken = errors.New("email already registered")
)

// UserStore keeps accounts.
type UserStore interface {
	CreateUser(ctx context.Context, u User) error
	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)
}

// AuditStore keeps audit events.
type AuditStore interface {
	RecordEvent(ctx context.Context, e AuditEvent) error
}

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

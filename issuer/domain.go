package issuer

import (
	"context"
	"time"
)

// User is an account. PasswordHash never leaves the issuer.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	// EmailVerified is whether the owner of Email confirmed it.
	EmailVerified bool `json:"email_verified"`
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

// Caller is who makes a request, as the transport saw it: what audit
// events, limits and sessions record about the client.
type Caller struct {
	// IP is the client address (after trusted proxies).
	IP string
	// UserAgent is the client's User-Agent, as sent.
	UserAgent string
}

// UserStore keeps accounts.
type UserStore interface {
	CreateUser(ctx context.Context, u User) error
	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)
	// DeleteUser removes a user and every session of theirs (ErrNotFound
	// if there is no such user).
	DeleteUser(ctx context.Context, id string) error
	// UpdatePasswordHash replaces the hash `from` with `to`; false when the
	// user's hash is no longer `from` (compare-and-swap).
	UpdatePasswordHash(ctx context.Context, id, from, to string, at time.Time) (bool, error)
	// MaxPasswordHashCost is the highest bcrypt cost among stored hashes
	// (0 when none).
	MaxPasswordHashCost(ctx context.Context) (int, error)
}

// AuditStore keeps audit events.
type AuditStore interface {
	RecordEvent(ctx context.Context, e AuditEvent) error
}

// Store is what the services need from their database.
type Store interface {
	UserStore
	SessionStore
	ThrottleStore
	AuditStore
	Pinger
	AccountStore
	RegistryStore
	RoleStore
	AssertionStore
}

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Session is one sign-in: a refresh-token family. RefreshSecret is sealed
// (keys.Sealer, label = session id); refresh tokens are derived from it
// with an HMAC, so nothing stored can be presented as a token.
type Session struct {
	ID                string
	UserID            string
	RefreshSecret     []byte
	RefreshCounter    uint64 // counter of the current valid refresh token
	RotatedAt         time.Time
	CreatedAt         time.Time
	IdleExpiresAt     time.Time
	AbsoluteExpiresAt time.Time
	RevokedAt         time.Time // zero while the session is live
	RevokedReason     string
	UserAgent         string
	IP                string
	// ReissuedCounter is the counter of the last refresh token handed out
	// again to a retry of its predecessor after the reuse grace; 0 when
	// none (token 0 comes from sign-in, never from a retry).
	ReissuedCounter uint64
}

// Revoked reports whether the session has been revoked.
func (s Session) Revoked() bool { return !s.RevokedAt.IsZero() }

// SessionStore keeps sessions. Every method is one SQL statement.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	// SessionWithUser returns a session and its user (ErrNotFound if none).
	SessionWithUser(ctx context.Context, id string) (Session, User, error)
	// RotateRefresh moves a live session's counter from `from` to from+1
	// if it is still `from` (compare-and-swap); false when another request
	// got there first or the session is revoked.
	RotateRefresh(ctx context.Context, id string, from uint64, at, idleExpiresAt time.Time) (bool, error)
	// ReissueRefresh records that the current token of a live session,
	// whose counter is still `counter`, was handed out again to a retry;
	// false when the counter has moved on or the session is revoked.
	ReissueRefresh(ctx context.Context, id string, counter uint64) (bool, error)
	// RevokeSession revokes a live session; false if it was not live.
	RevokeSession(ctx context.Context, id string, at time.Time, reason string) (bool, error)
	// RevokeUserSessions revokes every live session of a user except
	// `except` (none when empty) and returns how many it revoked.
	RevokeUserSessions(ctx context.Context, userID, except string, at time.Time, reason string) (int64, error)
}

// ThrottleStore counts failed sign-ins per key ("acct:<email>",
// "ip:<addr>"), shared by every replica.
type ThrottleStore interface {
	// SigninBlockedUntil returns the latest blocked_until among keys (zero
	// when none is stored).
	SigninBlockedUntil(ctx context.Context, keys []string) (time.Time, error)
	// RecordSigninFailure counts a failure at `at`, starting the count over
	// when the previous failure is older than resetBefore, and returns the
	// count.
	RecordSigninFailure(ctx context.Context, key string, at, resetBefore time.Time) (int, error)
	// BlockSignin raises key's blocked_until to until (never lowers it).
	BlockSignin(ctx context.Context, key string, until time.Time) error
	// ClearSigninFailures forgets key's failures.
	ClearSigninFailures(ctx context.Context, key string) error
}

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
	OIDCStore
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
	// SpendRefresh moves the counter of a session that is live, neither
	// idle nor past its maximum age at `at`, from `from` to from+1, and
	// returns it as updated (without RefreshSecret) with its user; false
	// when any of that does not hold. One statement: the common path of
	// a refresh.
	SpendRefresh(ctx context.Context, id string, from uint64, at, idleExpiresAt time.Time) (Session, User, bool, error)
	// RefreshMACKey returns the sealed refresh MAC key `id`, storing
	// `sealed` as that key first when there is none. Two statements (an
	// INSERT that does nothing when the key exists, then a SELECT), run
	// once per process.
	RefreshMACKey(ctx context.Context, id uint32, sealed []byte, at time.Time) ([]byte, error)
}

// ThrottleStore counts failed sign-ins per key ("acct:<email>",
// "ip:<addr>"), shared by every replica. An attempt reserves each of its
// keys before the password is checked and settles them after.
type ThrottleStore interface {
	// ReserveSignin atomically reserves one password check on key at now,
	// or refuses. It grants while the key is not blocked and either its
	// failures plus the reservations in flight are fewer than free, or no
	// reservation is in flight. A count whose last failure is before
	// resetBefore counts as zero; a reservation lapses at leaseUntil.
	// Refused, it returns the key's blocked_until (not after now when
	// only an attempt in flight stands in the way).
	ReserveSignin(ctx context.Context, key string, now, resetBefore, leaseUntil time.Time, free int) (bool, time.Time, error)
	// FailSignin ends a reservation with a failure at `at`: it counts it
	// (starting over when the previous failure is before resetBefore) and,
	// in the same transaction, blocks key until at+delay(count) when that
	// delay is positive (never lowering a block). It returns the count and
	// the end of the block it asked for (zero if none).
	FailSignin(ctx context.Context, key string, at, resetBefore time.Time, delay func(n int) time.Duration) (int, time.Time, error)
	// ReleaseSignin ends a reservation without a failure.
	ReleaseSignin(ctx context.Context, key string) error
	// ClearSigninFailures forgets key's failures and reservations.
	ClearSigninFailures(ctx context.Context, key string) error
	// DeleteAuditEvents deletes at most limit audit events of the given
	// types from before `before`, and returns how many it deleted.
	DeleteAuditEvents(ctx context.Context, types []string, before time.Time, limit int) (int64, error)
	// SealedSecret returns the sealed secret stored under name, storing
	// sealed first when there is none: the first replica to ask wins and
	// every replica gets the same value.
	SealedSecret(ctx context.Context, name string, sealed []byte, at time.Time) ([]byte, error)
}

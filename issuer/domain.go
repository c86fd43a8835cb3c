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
	// DisabledAt is when an administrator disabled the account; zero
	// while it is enabled. A disabled account cannot sign in or refresh.
	// Not part of the API's user object: a disabled user gets no token
	// to read it with.
	DisabledAt time.Time `json:"-"`
}

// Disabled reports whether the account is disabled.
func (u User) Disabled() bool { return !u.DisabledAt.IsZero() }

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

// Session is one sign-in: a refresh-token family. Its refresh tokens are
// derived with an HMAC under the server-wide refresh MAC keys, so nothing
// stored can be presented as a token.
type Session struct {
	ID     string
	UserID string
	// RefreshSecret is nil for sessions started since the server-wide
	// keys; sessions started before hold their own secret, sealed
	// (keys.Sealer, label = session id), under which their first-format
	// tokens are checked until those rotate.
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
	// CreateSession inserts a session if its user exists and is not
	// disabled, and ErrUserDisabled otherwise: the check and the insert
	// are one statement, so a session cannot slip in beside a disabling
	// that is committing.
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
	// `except` (none when empty), ends all of the user's browser sessions,
	// and returns how many sessions it revoked.
	RevokeUserSessions(ctx context.Context, userID, except string, at time.Time, reason string) (int64, error)
	// SpendRefresh moves the counter of a session that is live, neither
	// idle nor past its maximum age at `at`, whose user is not disabled,
	// from `from` to from+1, and
	// returns it as updated (without RefreshSecret) with its user and the
	// user's roles (sorted, empty when none); false when any of that does
	// not hold. One statement: the common path of a refresh.
	SpendRefresh(ctx context.Context, id string, from uint64, at, idleExpiresAt time.Time) (Session, User, []string, bool, error)
	RefreshKeyStore
}

// RefreshMACKey is one server-wide refresh MAC key, sealed under the
// key-encryption key (label "refresh-mac-key:<id>").
type RefreshMACKey struct {
	ID        uint32
	Sealed    []byte
	CreatedAt time.Time
}

// RefreshKeyStore keeps the refresh MAC keys.
type RefreshKeyStore interface {
	// RefreshMACKeys lists every key, oldest (lowest id) first.
	RefreshMACKeys(ctx context.Context) ([]RefreshMACKey, error)
	// CreateRefreshMACKey stores k unless a key with an id as high as
	// k.ID exists (one statement: of writers racing for the same id,
	// exactly one wins, and a deleted id is never made again); false when
	// it stored nothing.
	CreateRefreshMACKey(ctx context.Context, k RefreshMACKey) (bool, error)
	// DeleteRefreshMACKeys deletes the keys of the given ids, never the
	// newest key, and returns how many it deleted.
	DeleteRefreshMACKeys(ctx context.Context, ids []uint32) (int64, error)
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

package issuer

import (
	"context"
	"crypto/sha256"
	"time"
)

// RevocationKind is what a revocation event ends.
type RevocationKind string

// The kinds of revocation events.
const (
	// RevokedSession ends one session: every access token whose sid is
	// the session id.
	RevokedSession RevocationKind = "sid"
	// RevokedSubject ends a user's access: every access token whose sub is
	// the user id and that was issued at or before the revocation.
	RevokedSubject RevocationKind = "sub"
)

// RevocationEvent is one entry of the revocation feed. The store writes
// it in the transaction that revokes; it is live until ExpiresAt, the
// latest expiry of an access token the session or subject could have
// been issued.
type RevocationEvent struct {
	Seq       int64
	Kind      RevocationKind
	Subject   string // session id or user id; never served as is
	RevokedAt time.Time
	ExpiresAt time.Time
}

// RevocationFeedStore is what the revocation feed reads.
type RevocationFeedStore interface {
	// RevocationsAfter returns up to limit events with Seq > after that
	// are live at now, in Seq order.
	RevocationsAfter(ctx context.Context, after int64, now time.Time, limit int) ([]RevocationEvent, error)
	// RevocationSalt returns the deployment's feed salt, creating it on
	// first use.
	RevocationSalt(ctx context.Context) ([]byte, error)
	// RevocationsChanged returns a channel closed at the next revocation
	// this process commits or hears of from another replica.
	RevocationsChanged() <-chan struct{}
}

// RevocationHashSize is the length of a feed hash.
const RevocationHashSize = 16

// RevocationHash is the feed's hash of a session id or user id:
// SHA-256(salt || id) truncated to RevocationHashSize bytes. Verifiers
// compute the same hash from a token's sid and sub.
func RevocationHash(salt []byte, id string) [RevocationHashSize]byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(id))
	var sum [sha256.Size]byte
	var out [RevocationHashSize]byte
	copy(out[:], h.Sum(sum[:0]))
	return out
}

// Package keys owns Signet's signing keys: generation (Ed25519, RSA),
// encryption of private keys at rest, the key lifecycle and its rotation, the
// access-token signer and the public JWK set.
//
// A key is next (published, not signing), then active (signing; one per
// algorithm), then retired (published, not signing), then removed (out of the
// JWK set, private part made unusable). Revoked takes a key out of the set at
// once.
//
// "Made unusable" rather than "destroyed": the store overwrites and purges
// the sealed private part, but copies in a database's write-ahead log, its
// replicas and its backups are out of reach, and stay sealed under the
// key-encryption key.
package keys

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Algorithms Signet signs with.
const (
	EdDSA = "EdDSA"
	RS256 = "RS256"
)

// State is where a key is in its lifecycle.
type State string

// The lifecycle states.
const (
	StateNext    State = "next"
	StateActive  State = "active"
	StateRetired State = "retired"
	StateRemoved State = "removed"
	StateRevoked State = "revoked"
)

// Published reports whether keys in state s belong in the JWK set.
func (s State) Published() bool {
	return s == StateNext || s == StateActive || s == StateRetired
}

// Key is a signing key as stored. PrivateKey is sealed (see Sealer) and is
// nil once the key is removed or revoked.
type Key struct {
	KID         string    `db:"kid" json:"kid"`
	Alg         string    `db:"alg" json:"alg"`
	State       State     `db:"state" json:"state"`
	PublicJWK   string    `db:"public_jwk" json:"-"`
	PrivateKey  []byte    `db:"private_key" json:"-"`
	CreatedAt   time.Time `db:"-" json:"created_at"`
	ActivatesAt time.Time `db:"-" json:"activates_at"`
	RetiresAt   time.Time `db:"-" json:"retires_at,omitzero"`
	RemoveAt    time.Time `db:"-" json:"remove_at,omitzero"`
	RemovedAt   time.Time `db:"-" json:"removed_at,omitzero"`
	RevokedAt   time.Time `db:"-" json:"revoked_at,omitzero"`
}

// Errors callers can test for with errors.Is.
var (
	ErrNotFound       = errors.New("keys: key not found")
	ErrNoActiveKey    = errors.New("keys: no active signing key")
	ErrOnlyActiveKey  = errors.New("keys: refusing to revoke the only active key of its algorithm without promoting a replacement")
	ErrUnsupportedAlg = errors.New("keys: unsupported signing algorithm")
	ErrDecrypt        = errors.New("keys: cannot decrypt private key: wrong key-encryption key or corrupted data")
)

// Store persists keys. Implementations must serialise UpdateKeys calls
// across every process sharing the database (a lock held for the
// transaction), so that read-decide-write inside fn is atomic.
type Store interface {
	ListKeys(ctx context.Context) ([]Key, error)
	UpdateKeys(ctx context.Context, fn func(tx KeyTx) error) error
}

// KeyTx is the view of the store inside UpdateKeys.
type KeyTx interface {
	// Now is the store's clock, read once the key lock is held: the one
	// clock every replica shares (see Rotator.Clock).
	Now() time.Time
	ListKeys(ctx context.Context) ([]Key, error)
	InsertKey(ctx context.Context, k Key) error
	UpdateKey(ctx context.Context, k Key) error
	// RecordKeyEvent writes an audit event for a key change in the same
	// transaction.
	RecordKeyEvent(ctx context.Context, at time.Time, event string, k Key) error
}

// Watcher is implemented by stores that can signal key changes made by other
// processes (Postgres LISTEN/NOTIFY). The channel receives a value after
// each change; it is closed when ctx is done.
type Watcher interface {
	WatchKeys(ctx context.Context) (<-chan struct{}, error)
}

// ValidAlg reports whether alg is one Signet signs with.
func ValidAlg(alg string) error {
	switch alg {
	case EdDSA, RS256:
		return nil
	}
	return fmt.Errorf("%w %q (want EdDSA or RS256)", ErrUnsupportedAlg, alg)
}

package keys

import (
	"context"
	"slices"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signet-auth/signet/verifier"
)

// Keyring is one replica's loaded view of the keys: the active signing key
// of each algorithm, opened, and the published JWK set, serialised once per
// change of the set.
type Keyring struct {
	store  Store
	source KeySource
	policy Policy
	now    func() time.Time

	reloading sync.Mutex // one Reload at a time, so an older read never overwrites a newer one

	failures atomic.Uint64 // reloads that failed, for ReloadFailures

	mu      sync.RWMutex
	signers map[string]*signingKey // by alg
	opened  map[string]*signingKey // the next and active keys, by kid
	keys    []Key                  // every stored key, for status and metrics
	jwks    JWKS
	stamp   string // identifies the loaded states, to skip unchanged reloads
	loaded  bool
	health  error // why the last reload could not open every key it needs
	onSet   []func(JWKS)
}

// JWKS is the serialised public key set.
type JWKS struct {
	Body []byte
	ETag string
	// NextChange is the earliest scheduled change of the published set
	// (a key to be published or removed); zero when none is scheduled.
	NextChange time.Time
}

// NewKeyring returns an empty keyring for keys sealed in the store (see
// SealedKeys); call Reload before use.
func NewKeyring(store Store, sealer *Sealer, policy Policy, now func() time.Time) *Keyring {
	return NewKeyringWithSource(store, SealedKeys{Sealer: sealer}, policy, now)
}

// NewKeyringWithSource returns an empty keyring whose private keys are
// opened by source; call Reload before use.
func NewKeyringWithSource(store Store, source KeySource, policy Policy, now func() time.Time) *Keyring {
	if now == nil {
		now = time.Now
	}
	return &Keyring{store: store, source: source, policy: policy, now: now, signers: map[string]*signingKey{}, opened: map[string]*signingKey{}}
}

// OnSetChange registers fn to be called with each new JWK set (and at once
// with the current one, if loaded).
func (r *Keyring) OnSetChange(fn func(JWKS)) {
	r.mu.Lock()
	r.onSet = append(r.onSet, fn)
	loaded, cur := r.loaded, r.jwks
	r.mu.Unlock()
	if loaded {
		fn(cur)
	}
}

// Reload reads the keys from the store. The JWK set and the signers are
// rebuilt only when a key's state changed, or when the last reload could
// not open a key.
//
// Every next and active key is opened, so that a key this replica cannot
// use (sealed under another key-encryption key, say) is reported when it is
// published rather than when it starts signing. Such a failure does not
// stop the reload: the published set follows the store (a revocation must
// never wait on it), the keys that opened are used, and an algorithm whose
// new active key did not open keeps its previous key while that key stays
// published and its tokens can still verify (see fallback). Reload then
// returns the failure, Healthy reports it until a reload opens every key,
// and ReloadFailures counts it.
func (r *Keyring) Reload(ctx context.Context) error {
	r.reloading.Lock()
	defer r.reloading.Unlock()
	ks, err := r.store.ListKeys(ctx)
	if err != nil {
		r.failures.Add(1)
		return fmt.Errorf("keys: reload: %w", err)
	}
	stamp := stampOf(ks)
	r.mu.RLock()
	same := r.loaded && stamp == r.stamp && r.health == nil
	prevOpened, prevSigners := r.opened, r.signers
	r.mu.RUnlock()
	if same {
		return nil
	}

	signers := map[string]*signingKey{}
	opened := map[string]*signingKey{}
	var failed []error
	var pub []json.RawMessage
	for _, k := range ks {
		if k.State.Published() {
			pub = append(pub, json.RawMessage(k.PublicJWK))
		}
		if k.State != StateActive && k.State != StateNext {
			continue
		}
		s := prevOpened[k.KID]
		if s == nil {
			signer, err := r.source.Signer(ctx, k)
			if err == nil {
				s, err = newSigningKey(k, signer)
			}
			if err != nil {
				// err names its origin ("keys: ..."): the key is named after it.
				failed = append(failed, fmt.Errorf("%w [%s key %s, %s]", err, k.State, k.KID, k.Alg))
				continue
			}
		}
		opened[k.KID] = s
		if k.State == StateActive {
			signers[k.Alg] = s
		}
	}
	for _, k := range ks {
		if k.State == StateActive && signers[k.Alg] == nil {
			if s := r.fallback(ks, prevSigners[k.Alg]); s != nil {
				signers[k.Alg] = s
			}
		}
	}
	if pub == nil {
		pub = []json.RawMessage{}
	}
	body, err := json.Marshal(struct {
		Keys []json.RawMessage `json:"keys"`
	}{pub})
	if err != nil {
		return fmt.Errorf("keys: encode JWK set: %w", err)
	}
	sum := sha256.Sum256(body)
	set := JWKS{Body: body, ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`, NextChange: r.nextChange(ks)}

	var health error
	if len(failed) > 0 {
		health = fmt.Errorf("%w (%d key(s) cannot be opened)", errors.Join(failed...), len(failed))
		r.failures.Add(1)
	}
	r.mu.Lock()
	r.signers, r.opened, r.keys, r.jwks, r.stamp, r.loaded, r.health = signers, opened, ks, set, stamp, true, health
	hooks := append([]func(JWKS){}, r.onSet...)
	r.mu.Unlock()
	for _, fn := range hooks {
		fn(set)
	}
	return health
}

// fallback is what signs for an algorithm whose active key could not be
// opened: the key that signed before, while it is still active or retired
// and no later than its removal less the token lifetime and leeway, so that
// every token it signs still verifies. Nil when there is none.
func (r *Keyring) fallback(ks []Key, prev *signingKey) *signingKey {
	if prev == nil {
		return nil
	}
	for _, k := range ks {
		if k.KID != prev.signer.KID() {
			continue
		}
		s := *prev
		switch k.State {
		case StateActive:
			return &s
		case StateRetired:
			until := k.RemoveAt.Add(-r.policy.AccessTokenTTL - r.policy.Leeway)
			if s.until.IsZero() || until.Before(s.until) {
				s.until = until
			}
			return &s
		}
	}
	return nil
}

// nextChange is the earliest moment the published set is scheduled to
// change: a retired key's removal, or the publication of the signing
// algorithm's next key (at once when that algorithm has no key yet, as
// after a change of SIGNET_SIGNING_ALG). Activations and retirements do not
// change the published set. Zero means nothing is scheduled.
func (r *Keyring) nextChange(ks []Key) time.Time {
	var t time.Time
	earliest := func(c time.Time) {
		if t.IsZero() || c.Before(t) {
			t = c
		}
	}
	for _, k := range ks {
		if k.State == StateRetired {
			earliest(k.RemoveAt)
		}
	}
	for _, alg := range r.policy.Algs() {
		switch active, next := current(ks, alg); {
		case next != nil:
		case active != nil:
			earliest(active.ActivatesAt.Add(r.policy.RotationPeriod - r.policy.PublishLead()))
		default:
			earliest(r.now())
		}
	}
	return t
}

// stampOf summarises the keys' states so that an unchanged reload is cheap
// (it runs on every reload of every replica).
func stampOf(ks []Key) string {
	parts := make([]string, 0, len(ks))
	for _, k := range ks {
		b := make([]byte, 0, len(k.KID)+len(k.State)+24)
		b = append(append(append(b, k.KID...), ':'), k.State...)
		b = strconv.AppendInt(append(b, ':'), k.ActivatesAt.UnixMilli(), 10)
		parts = append(parts, string(b))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// JWKS returns the published key set.
func (r *Keyring) JWKS() JWKS {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.jwks
}

// MaxAge is the Cache-Control max-age for the JWK set now: the configured
// ceiling, lowered so that no cache outlives a scheduled change of the set.
func (r *Keyring) MaxAge(set JWKS) time.Duration {
	age := r.policy.JWKSMaxAge
	if !set.NextChange.IsZero() {
		if until := set.NextChange.Sub(r.now()); until < age {
			age = max(until, 0)
		}
	}
	return age.Truncate(time.Second)
}

// Keys returns the keys as last loaded.
func (r *Keyring) Keys() []Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]Key(nil), r.keys...)
}

// Ready reports whether the keyring is healthy (see Healthy).
func (r *Keyring) Ready() bool { return r.Healthy() == nil }

// Healthy returns nil when the keys are loaded, the last reload opened
// every active and next key, and a key signs; otherwise it says what is
// wrong. A replica's readiness check calls it: a replica that cannot open
// the keys other replicas sign with (a wrong or missing key-encryption key)
// must not take traffic.
func (r *Keyring) Healthy() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	switch {
	case !r.loaded:
		return errors.New("keys: not loaded yet")
	case r.health != nil:
		return r.health
	case r.signer() == nil:
		return fmt.Errorf("%w for %s", ErrNoActiveKey, r.policy.Alg)
	}
	return nil
}

// ReloadFailures counts the reloads that failed since the keyring was made,
// whether the store could not be read or a key could not be opened: a
// monotonic counter for metrics.
func (r *Keyring) ReloadFailures() uint64 { return r.failures.Load() }

// signer is the key to sign with: the signing algorithm's active key or,
// while a change of algorithm waits for its new key's publication lead to
// pass, the previous algorithm's active key. r.mu must be held.
func (r *Keyring) signer() *signingKey {
	if s := r.signers[r.policy.Alg]; s != nil {
		return s
	}
	for _, alg := range []string{EdDSA, RS256} {
		if s := r.signers[alg]; s != nil {
			return s
		}
	}
	return nil
}

// Sign signs an access token's claims (the token contract,
// verifier.Claims, written by its AppendJSON so that what is signed is
// what every verifier reads) with the active key (see signer) and returns
// the compact token and the kid used.
func (r *Keyring) Sign(c *verifier.Claims) (token, kid string, err error) {
	payload, err := c.AppendJSON(make([]byte, 0, 512))
	if err != nil {
		return "", "", fmt.Errorf("keys: encode claims: %w", err)
	}
	return r.SignPayload(context.Background(), payload)
}

// SignPayload signs payload, a JSON claims set, with the active key (see
// signer) and returns the compact token and the kid used.
func (r *Keyring) SignPayload(ctx context.Context, payload []byte) (token, kid string, err error) {
	r.mu.RLock()
	s := r.signer()
	r.mu.RUnlock()
	if s == nil || !s.until.IsZero() && !r.now().Before(s.until) {
		return "", "", fmt.Errorf("%w for %s", ErrNoActiveKey, r.policy.Alg)
	}
	tok, err := s.sign(ctx, payload)
	return tok, s.signer.KID(), err
}

// SignJWT signs payload, a JSON claims set, as a plain JWT (typ JWT, as
// OpenID Connect ID tokens are) with alg's active key, which may be a kept
// algorithm's (Policy.Keep), and returns the compact token.
func (r *Keyring) SignJWT(ctx context.Context, alg string, payload []byte) (string, error) {
	r.mu.RLock()
	s := r.signers[alg]
	r.mu.RUnlock()
	if s == nil || !s.until.IsZero() && !r.now().Before(s.until) {
		return "", fmt.Errorf("%w for %s", ErrNoActiveKey, alg)
	}
	return s.signAs(ctx, s.jwtHeader, payload)
}

// Signing describes an algorithm's active key as last loaded.
type Signing struct {
	Alg, KID string
	// ActiveSince is when the key started signing.
	ActiveSince time.Time
	// NextRotation is when its successor is due to take over: the next
	// key's activation if one is published, else the end of the rotation
	// period. Zero for a key of an algorithm no longer signed with, which is
	// retired as soon as the new algorithm's key activates.
	NextRotation time.Time
}

// Signing lists the active keys as last loaded, one per algorithm.
func (r *Keyring) Signing() []Signing {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Signing
	for _, k := range r.keys {
		if k.State != StateActive {
			continue
		}
		s := Signing{Alg: k.Alg, KID: k.KID, ActiveSince: k.ActivatesAt}
		if slices.Contains(r.policy.Algs(), k.Alg) {
			if _, next := current(r.keys, k.Alg); next != nil {
				s.NextRotation = next.ActivatesAt
			} else {
				s.NextRotation = k.ActivatesAt.Add(r.policy.RotationPeriod)
			}
		}
		out = append(out, s)
	}
	return out
}

// Published is the number of keys in the JWK set as last loaded.
func (r *Keyring) Published() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, k := range r.keys {
		if k.State.Published() {
			n++
		}
	}
	return n
}

// Policy is the key policy the keyring was made with.
func (r *Keyring) Policy() Policy { return r.policy }

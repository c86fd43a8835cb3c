package keys

import (
	"context"
	"errors"
	"slices"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Rotator moves keys through their lifecycle. Every replica runs Pass on an
// interval; each step re-reads the keys inside Store.UpdateKeys, so replicas
// racing on the same store never promote two keys or lose one.
type Rotator struct {
	Store Store
	// Source holds the private keys; nil means SealedKeys with Sealer and
	// Policy.RSABits.
	Source KeySource
	Sealer *Sealer
	Policy Policy
	// Now is this replica's clock; nil means time.Now.
	Now func() time.Time
	// Clock is the clock key changes follow (see Clock); the zero value
	// picks StoreClock when Now is nil and LocalClock when it is set.
	Clock  Clock
	Logger *slog.Logger
	// OnChange, if set, is called after a committed change (metrics).
	OnChange func(event string, k Key)

	// offset is the store's clock less this replica's, as last seen in a
	// key transaction, for guesses made outside one (see spareFor).
	offset atomic.Int64
}

// Clock chooses the clock that times key changes: when a next key is
// published and becomes active, when a retired key is removed, and the
// dates recorded with each change.
type Clock int

const (
	// DefaultClock is StoreClock, or LocalClock when Rotator.Now is set.
	DefaultClock Clock = iota
	// StoreClock times key changes with the store's clock (KeyTx.Now),
	// read inside the key transaction. Replicas sharing a store then follow
	// one clock, and a replica whose own clock is off can neither activate a
	// key nor remove a retired one early.
	StoreClock
	// LocalClock times key changes with Rotator.Now: for tests that move
	// time on a store whose clock they cannot move.
	LocalClock
)

func (r *Rotator) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

// changeTime is the time a change is decided and dated at, inside the key
// transaction.
func (r *Rotator) changeTime(tx KeyTx) time.Time {
	if r.storeClock() {
		now := tx.Now().UTC().Truncate(time.Millisecond)
		r.offset.Store(int64(now.Sub(r.now())))
		return now
	}
	return r.now()
}

func (r *Rotator) storeClock() bool {
	return r.Clock == StoreClock || r.Clock == DefaultClock && r.Now == nil
}

// guessTime is the time of a decision made ahead of the key transaction,
// which makes it again: the store's clock as this replica last saw it.
func (r *Rotator) guessTime() time.Time {
	if r.storeClock() {
		return r.now().Add(time.Duration(r.offset.Load()))
	}
	return r.now()
}

func (r *Rotator) source() KeySource {
	if r.Source != nil {
		return r.Source
	}
	return SealedKeys{Sealer: r.Sealer, RSABits: r.Policy.RSABits}
}

func (r *Rotator) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// change is one state change decided inside a transaction; it is reported
// after the commit.
type change struct {
	event string
	key   Key
	// destroyed is the key as it was before its private part was
	// cleared, for KeySource.Destroy.
	destroyed *Key
}

// Pass brings the keys up to date with the policy at the current time: for
// the signing algorithm and each kept one, it bootstraps an active key,
// publishes the next key ahead of its activation, promotes it when due,
// retires the previous key and removes retired keys whose retention has
// passed. It reports whether anything changed.
func (r *Rotator) Pass(ctx context.Context) (bool, error) {
	var spares []*Key
	for _, alg := range r.Policy.Algs() {
		spare, err := r.spareFor(ctx, func(ks []Key) (string, bool) { return alg, r.needsKey(ks, alg, r.guessTime()) })
		if err != nil {
			return false, err
		}
		if spare != nil {
			spares = append(spares, spare)
		}
	}
	var held error
	changes, err := r.update(ctx, func(tx KeyTx, ks []Key, now time.Time) ([]change, error) {
		held = nil
		// A store with no active key at all has no verifier holding a
		// token or a key set to lose: every algorithm's key signs at once.
		fresh := len(activeOtherAlgs(ks, "")) == 0
		var out []change
		for i, alg := range r.Policy.Algs() {
			if i > 0 {
				var err error
				if ks, err = tx.ListKeys(ctx); err != nil {
					return nil, err
				}
			}
			cs, h, err := r.plan(ctx, tx, ks, now, alg, &spares, fresh)
			if err != nil {
				return nil, err
			}
			held = errors.Join(held, h)
			out = append(out, cs...)
		}
		return out, nil
	})
	if err == nil {
		err = held
	}
	return len(changes) > 0, err
}

// needsKey reports whether plan would create a key of alg.
func (r *Rotator) needsKey(ks []Key, alg string, now time.Time) bool {
	active, next := current(ks, alg)
	if next != nil {
		return false
	}
	return active == nil || !now.Before(r.nextCreation(*active))
}

// nextCreation is when the successor of active must be published.
func (r *Rotator) nextCreation(active Key) time.Time {
	return active.ActivatesAt.Add(r.Policy.RotationPeriod - r.Policy.PublishLead())
}

// plan decides the pass's changes for alg. held reports a due next key
// that was not promoted because this process cannot open it; the rest of
// the pass goes ahead. fresh says that no key of any algorithm was active
// when the pass began.
func (r *Rotator) plan(ctx context.Context, tx KeyTx, ks []Key, now time.Time, alg string, spares *[]*Key, fresh bool) (out []change, held, err error) {
	kept := r.Policy.kept(alg)
	// create stores a new key of alg (a spare, if one was generated).
	create := func(state State, activates time.Time, event string) (*Key, error) {
		if err := r.checkSource(ctx, ks, ""); err != nil {
			return nil, err
		}
		k, err := r.take(ctx, spares, alg, state, now, activates)
		if err != nil {
			return nil, err
		}
		if err := tx.InsertKey(ctx, k); err != nil {
			return nil, err
		}
		out = append(out, change{event, k, nil})
		return &k, nil
	}
	active, next := current(ks, alg)
	otherActive := activeOtherAlgs(ks, alg)
	// Nothing signs at all (a new store, or every key revoked): no
	// verifier can hold a token to lose. A kept algorithm's key counts
	// only its own: its tokens are not access tokens.
	nothingSigns := active == nil && (len(otherActive) == 0 || kept && fresh)

	switch {
	case active == nil && next == nil && nothingSigns:
		// The key signs at once.
		k, err := create(StateActive, now, "key_created_active")
		if err != nil {
			return nil, nil, err
		}
		active = k
	case next == nil && (active == nil || !now.Before(r.nextCreation(*active))):
		// Publish the successor ahead: a new algorithm, or the current key's
		// period is nearly over.
		at := now.Add(r.Policy.PublishLead())
		if active != nil {
			if due := active.ActivatesAt.Add(r.Policy.RotationPeriod); due.After(at) {
				at = due
			}
		}
		k, err := create(StateNext, at, "key_published")
		if err != nil {
			return nil, nil, err
		}
		next = k
	}

	// A due next key is promoted; so is any next key when nothing signs at
	// all, since then no verifier can hold a token to lose.
	// A key that cannot be opened here is held back, and the current key
	// signs on: promoting it would leave every replica that shares this
	// one's key-encryption key without a signing key.
	if next != nil && (nothingSigns || !now.Before(next.ActivatesAt) && !now.Before(next.CreatedAt.Add(r.Policy.PublishLead()))) {
		if err := r.opens(ctx, *next); err != nil {
			held = fmt.Errorf("keys: next key %s (%s) is due but cannot be opened here, so it is not activated (revoke it to have a new one published): %w", next.KID, next.Alg, err)
		} else {
			cs, err := r.promote(ctx, tx, active, *next, now)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, cs...)
			active = &cs[len(cs)-1].key
		}
	}
	if active != nil && !kept {
		// The signing algorithm changed and its key now signs: the old
		// algorithm's keys stop signing (and its unused next key, which would
		// otherwise stay published for good) and are removed after the
		// retention like any retired key. Kept algorithms' keys stay.
		for _, k := range ks {
			if k.Alg != alg && !r.Policy.kept(k.Alg) && (k.State == StateActive || k.State == StateNext && hasActive(otherActive, k.Alg)) {
				k, err := r.retire(ctx, tx, k, now)
				if err != nil {
					return nil, nil, err
				}
				out = append(out, change{"key_retired", k, nil})
			}
		}
	}
	for _, k := range ks {
		// Each algorithm's pass removes its own keys; the signing
		// algorithm's also removes those of algorithms no longer used.
		if k.Alg != alg && (kept || slices.Contains(r.Policy.Algs(), k.Alg)) {
			continue
		}
		if k.State == StateRetired && !k.RemoveAt.IsZero() && !now.Before(k.RemoveAt) {
			before := k
			k.State, k.RemovedAt, k.PrivateKey = StateRemoved, now, nil
			if err := tx.UpdateKey(ctx, k); err != nil {
				return nil, nil, err
			}
			out = append(out, change{"key_removed", k, &before})
		}
	}
	return out, held, nil
}

// checkSource refuses the creation of a key when this process cannot open
// the keys the other replicas sign with: its key source (its key-encryption
// key) is then not theirs, and they could not open a key it made. The
// proof is the active keys; a key being revoked (except) counts only when
// nothing else can serve, since revoking a key no one can open must stay
// possible: then the retired keys, which signed for every replica, and
// only then the revoked key itself.
func (r *Rotator) checkSource(ctx context.Context, ks []Key, except string) error {
	var proof []Key
	for _, state := range []State{StateActive, StateRetired} {
		for _, k := range ks {
			if k.State == state && k.KID != except && k.PrivateKey != nil {
				proof = append(proof, k)
			}
		}
		if len(proof) > 0 {
			break
		}
	}
	if len(proof) == 0 {
		for _, k := range ks {
			if k.KID == except && k.PrivateKey != nil {
				proof = append(proof, k)
			}
		}
	}
	for _, k := range proof {
		if err := r.opens(ctx, k); err != nil {
			return fmt.Errorf("keys: refusing to create a key: this process cannot open the %s key %s (%s), so other replicas might not open one it makes: %w", k.State, k.KID, k.Alg, err)
		}
	}
	return nil
}

// opens reports whether the key source opens k.
func (r *Rotator) opens(ctx context.Context, k Key) error {
	_, err := r.source().Signer(ctx, k)
	return err
}

// promote makes next the active key and retires the previous one.
func (r *Rotator) promote(ctx context.Context, tx KeyTx, active *Key, next Key, now time.Time) ([]change, error) {
	var out []change
	if active != nil {
		k, err := r.retire(ctx, tx, *active, now)
		if err != nil {
			return nil, err
		}
		out = append(out, change{"key_retired", k, nil})
	}
	next.State, next.ActivatesAt = StateActive, now
	if err := tx.UpdateKey(ctx, next); err != nil {
		return nil, err
	}
	return append(out, change{"key_activated", next, nil}), nil
}

func (r *Rotator) retire(ctx context.Context, tx KeyTx, k Key, now time.Time) (Key, error) {
	k.State, k.RetiresAt, k.RemoveAt = StateRetired, now, now.Add(r.Policy.Retention())
	return k, tx.UpdateKey(ctx, k)
}

// Rotate publishes a next key for alg now (or returns the one already
// published), to sign once it has been published for Policy.PublishLead.
// With immediate it also promotes that key at once: verifiers whose cached
// JWK set predates it reject its tokens until they refresh (on the unknown
// kid, or when their cache expires).
func (r *Rotator) Rotate(ctx context.Context, alg string, immediate bool) (Key, error) {
	if err := ValidAlg(alg); err != nil {
		return Key{}, err
	}
	spare, err := r.spareFor(ctx, func(ks []Key) (string, bool) { _, next := current(ks, alg); return alg, next == nil })
	if err != nil {
		return Key{}, err
	}
	spares := []*Key{spare}
	var result Key
	_, err = r.update(ctx, func(tx KeyTx, ks []Key, now time.Time) ([]change, error) {
		var out []change
		active, next := current(ks, alg)
		if next == nil {
			if err := r.checkSource(ctx, ks, ""); err != nil {
				return nil, err
			}
			k, err := r.take(ctx, &spares, alg, StateNext, now, now.Add(r.Policy.PublishLead()))
			if err != nil {
				return nil, err
			}
			if err := tx.InsertKey(ctx, k); err != nil {
				return nil, err
			}
			out = append(out, change{"key_published", k, nil})
			next = &k
		}
		result = *next
		if immediate {
			if err := r.opens(ctx, *next); err != nil {
				return nil, fmt.Errorf("keys: next key %s cannot be opened here, so it is not activated (revoke it first): %w", next.KID, err)
			}
			cs, err := r.promote(ctx, tx, active, *next, now)
			if err != nil {
				return nil, err
			}
			out = append(out, cs...)
			result = cs[len(cs)-1].key
		}
		return out, nil
	})
	return result, err
}

// spareFor generates a key of alg outside the key lock when a look at the
// stored keys says one will be needed (RSA generation takes a while and
// would hold every replica up). The decision is made again under the lock.
func (r *Rotator) spareFor(ctx context.Context, needed func([]Key) (alg string, ok bool)) (*Key, error) {
	ks, err := r.Store.ListKeys(ctx)
	if err != nil {
		return nil, nil // decided again under the lock
	}
	alg, ok := needed(ks)
	if !ok {
		return nil, nil
	}
	now := r.now()
	k, err := r.generate(ctx, alg, StateNext, now, now)
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// take returns a spare of alg (removing it from spares) with its state and
// times set, or a freshly generated key when there is none.
func (r *Rotator) take(ctx context.Context, spares *[]*Key, alg string, state State, now, activates time.Time) (Key, error) {
	for i, sp := range *spares {
		if sp != nil && sp.Alg == alg {
			k := *sp
			*spares = slices.Delete(*spares, i, i+1)
			k.State, k.CreatedAt, k.ActivatesAt = state, now, activates
			return k, nil
		}
	}
	return r.generate(ctx, alg, state, now, activates)
}

// Generate publishes a next key for alg even when alg is not the signing
// algorithm, so that a planned change of algorithm finds its key published.
func (r *Rotator) Generate(ctx context.Context, alg string) (Key, error) {
	return r.Rotate(ctx, alg, false)
}

// Revoke takes a key out of the JWK set at once and makes its private part
// unusable. Revoking the active key requires promote: its algorithm's next key
// (or, without one, a new key) becomes active in the same step.
func (r *Rotator) Revoke(ctx context.Context, kid string, promote bool) (revoked Key, promoted *Key, err error) {
	var spare *Key
	if promote {
		spare, err = r.spareFor(ctx, func(ks []Key) (string, bool) {
			for _, k := range ks {
				if k.KID == kid && k.State == StateActive {
					_, next := current(ks, k.Alg)
					return k.Alg, next == nil
				}
			}
			return "", false
		})
		if err != nil {
			return Key{}, nil, err
		}
	}
	spares := []*Key{spare}
	_, err = r.update(ctx, func(tx KeyTx, ks []Key, now time.Time) ([]change, error) {
		var k *Key
		for i := range ks {
			if ks[i].KID == kid {
				k = &ks[i]
			}
		}
		if k == nil {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, kid)
		}
		if !k.State.Published() {
			return nil, fmt.Errorf("%w: %s is %s", ErrKeyEnded, kid, k.State)
		}
		var out []change
		if k.State == StateActive {
			if !promote {
				return nil, ErrOnlyActiveKey
			}
			_, next := current(ks, k.Alg)
			var repl Key
			if next != nil {
				if err := r.opens(ctx, *next); err != nil {
					return nil, fmt.Errorf("keys: next key %s, the replacement, cannot be opened here (revoke it first, then this key with promote): %w", next.KID, err)
				}
				repl = *next
			} else {
				if err := r.checkSource(ctx, ks, kid); err != nil {
					return nil, err
				}
				g, err := r.take(ctx, &spares, k.Alg, StateNext, now, now)
				if err != nil {
					return nil, err
				}
				if err := tx.InsertKey(ctx, g); err != nil {
					return nil, err
				}
				out = append(out, change{"key_published", g, nil})
				repl = g
			}
			// Take the revoked key out of the active slot first: the store
			// allows one active key per algorithm.
			before := *k
			k.State, k.RevokedAt, k.PrivateKey = StateRevoked, now, nil
			if err := tx.UpdateKey(ctx, *k); err != nil {
				return nil, err
			}
			repl.State, repl.ActivatesAt = StateActive, now
			if err := tx.UpdateKey(ctx, repl); err != nil {
				return nil, err
			}
			revoked, promoted = *k, &repl
			return append(out, change{"key_revoked", *k, &before}, change{"key_activated", repl, nil}), nil
		}
		before := *k
		k.State, k.RevokedAt, k.PrivateKey = StateRevoked, now, nil
		if err := tx.UpdateKey(ctx, *k); err != nil {
			return nil, err
		}
		revoked = *k
		return append(out, change{"key_revoked", *k, &before}), nil
	})
	return revoked, promoted, err
}

// update runs plan inside a serialised transaction and reports the changes
// once committed.
//
// The time is read once the lock is held: a replica that waited for the
// lock must not date a key's publication or retirement earlier than the
// moment other replicas can see it, or the timing rules would be cut short
// by the wait. It is the store's clock (see Clock); the spare key made
// ahead of the lock follows a guess of it (see guessTime).
func (r *Rotator) update(ctx context.Context, plan func(tx KeyTx, ks []Key, now time.Time) ([]change, error)) ([]change, error) {
	var changes []change
	err := r.Store.UpdateKeys(ctx, func(tx KeyTx) error {
		changes = nil // in case a store runs fn again
		ks, err := tx.ListKeys(ctx)
		if err != nil {
			return err
		}
		now := r.changeTime(tx)
		changes, err = plan(tx, ks, now)
		if err != nil {
			return err
		}
		for _, c := range changes {
			if err := tx.RecordKeyEvent(ctx, now, c.event, c.key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		r.logger().Info("key state changed", "event", c.event, "kid", c.key.KID, "alg", c.key.Alg, "state", string(c.key.State))
		if c.destroyed != nil {
			if err := r.source().Destroy(ctx, *c.destroyed); err != nil {
				r.logger().Error("key destruction failed", "kid", c.key.KID, "error", err)
			}
		}
		if r.OnChange != nil {
			r.OnChange(c.event, c.key)
		}
	}
	return changes, nil
}

func (r *Rotator) generate(ctx context.Context, alg string, state State, now, activates time.Time) (Key, error) {
	k, err := r.source().Create(ctx, alg)
	if err != nil {
		return Key{}, err
	}
	k.State, k.CreatedAt, k.ActivatesAt = state, now, activates
	return k, nil
}

// current returns alg's active and next keys (the next key that activates
// first, should there ever be several).
func current(ks []Key, alg string) (active, next *Key) {
	for i := range ks {
		k := &ks[i]
		if k.Alg != alg {
			continue
		}
		switch k.State {
		case StateActive:
			active = k
		case StateNext:
			if next == nil || k.ActivatesAt.Before(next.ActivatesAt) {
				next = k
			}
		}
	}
	return active, next
}

func activeOtherAlgs(ks []Key, alg string) []Key {
	var out []Key
	for _, k := range ks {
		if k.State == StateActive && k.Alg != alg {
			out = append(out, k)
		}
	}
	return out
}

func hasActive(ks []Key, alg string) bool {
	for _, k := range ks {
		if k.Alg == alg {
			return true
		}
	}
	return false
}

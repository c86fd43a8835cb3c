package issuer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Refresh MAC key rotation.
//
// Refresh tokens are MACed under a server-wide key and name it (see
// refreshtoken.go). The keys rotate on a period: a new key is made when
// the newest is RefreshKeyRotationPeriod old, and from then on every new
// token is MACed with it. An old key is kept while a token MACed with it
// can still do anything but fail. A token minted at time t belongs to a
// session started at or before t, and no session outlives its start by
// more than SessionMaxAge, so by t + SessionMaxAge every such token is
// refused whatever its key (its current token, a retry of a spent one and
// the reuse detection of an older one all need the session live). The
// last token MACed with key k is minted before every replica has moved to
// its successor, that is before the successor's creation plus the time
// replicas take to load it (refreshKeyPassInterval, or at once on meeting
// a token that names it), so key k is deleted at
//
//	created(k+1) + SessionMaxAge + refreshKeyMargin
//
// The idle lifetime alone would be too short: a token the client never
// spent expires with it, but a spent token presented again later, in a
// session that is still live, must still be recognised as genuine so that
// its reuse revokes the session. Once its key is gone such a token gets the
// 401 of any bad token, the answer its dead session gives anyway.

const (
	// DefaultRefreshKeyRotationPeriod is how long a refresh MAC key is
	// the newest before another takes over.
	DefaultRefreshKeyRotationPeriod = 30 * 24 * time.Hour
	// MinRefreshKeyRotationPeriod keeps the number of keys kept (about
	// SessionMaxAge / period) small.
	MinRefreshKeyRotationPeriod = time.Hour
	// refreshKeyPassInterval is how often each replica runs the refresh
	// MAC key pass (RefreshKeys.Run): rotate when due, delete what has
	// expired, load what other replicas made.
	refreshKeyPassInterval = time.Minute
	// refreshKeyMargin covers replicas still minting with a key after its
	// successor exists (at most one pass) and their clocks' disagreement.
	refreshKeyMargin = time.Hour
	// refreshKeyAheadLimit bounds the key ids a token may name above the
	// newest known one and still make this replica look in the store: no
	// real rotation outruns a pass by that many keys.
	refreshKeyAheadLimit = 64
)

// RefreshKeys holds the server-wide refresh MAC keys, opened, and rotates
// them. Every replica runs the same pass; the store's compare-and-swap on
// the key id makes exactly one of them create each new key.
type RefreshKeys struct {
	store     RefreshKeyStore
	sealer    sealer
	now       func() time.Time
	period    time.Duration
	retention time.Duration

	set atomic.Pointer[refreshKeySet]
	// mu serialises loads and rotations in this process; loadedAt (under
	// mu) is when the last load began, so that a caller who needs a load
	// that began after some moment knows whether it must start one.
	mu       sync.Mutex
	loadedAt time.Time
}

// refreshKeySet is one load of the keys: newest is the key that MACs new
// tokens.
type refreshKeySet struct {
	newest  uint32
	created map[uint32]time.Time
	keys    map[uint32][]byte
}

// RefreshKeysConfig configures NewRefreshKeys.
type RefreshKeysConfig struct {
	// RotationPeriod is how long a key is the newest before the next
	// one is made; zero means DefaultRefreshKeyRotationPeriod.
	RotationPeriod time.Duration
	// SessionMaxAge bounds how long a token can be presented after it was
	// minted (see above); zero means DefaultSessionMaxAge.
	SessionMaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewRefreshKeys returns the refresh MAC keys kept in store.
func NewRefreshKeys(store RefreshKeyStore, sl sealer, cfg RefreshKeysConfig) (*RefreshKeys, error) {
	if cfg.RotationPeriod == 0 {
		cfg.RotationPeriod = DefaultRefreshKeyRotationPeriod
	}
	if cfg.SessionMaxAge == 0 {
		cfg.SessionMaxAge = DefaultSessionMaxAge
	}
	if cfg.RotationPeriod < MinRefreshKeyRotationPeriod {
		return nil, fmt.Errorf("issuer: refresh key rotation period %s is shorter than %s", cfg.RotationPeriod, MinRefreshKeyRotationPeriod)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &RefreshKeys{
		store: store, sealer: sl, now: cfg.Now,
		period: cfg.RotationPeriod, retention: cfg.SessionMaxAge + refreshKeyMargin,
	}, nil
}

// Retention is how long a key is kept after its successor is made.
func (r *RefreshKeys) Retention() time.Duration { return r.retention }

// current returns the key that MACs new tokens, and its id. The first
// call loads the keys, making key 1 when the store has none.
func (r *RefreshKeys) current(ctx context.Context) (uint32, []byte, error) {
	if s := r.set.Load(); s != nil {
		return s.newest, s.keys[s.newest], nil
	}
	if _, err := r.Pass(ctx); err != nil {
		return 0, nil, err
	}
	s := r.set.Load()
	return s.newest, s.keys[s.newest], nil
}

// key returns key id, or false when there is no such key. An id above the
// newest known one may be a key another replica has just made: the store
// is read again (one read shared by the callers waiting for it) before
// the answer is no.
func (r *RefreshKeys) key(ctx context.Context, id uint32) ([]byte, bool, error) {
	s := r.set.Load()
	if s == nil {
		if _, _, err := r.current(ctx); err != nil {
			return nil, false, err
		}
		s = r.set.Load()
	}
	if k, ok := s.keys[id]; ok {
		return k, true, nil
	}
	if id <= s.newest || id-s.newest > refreshKeyAheadLimit {
		return nil, false, nil
	}
	asked := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.set.Load(); s.keys[id] != nil {
		return s.keys[id], true, nil
	}
	if r.loadedAt.After(asked) {
		return nil, false, nil // a load that began after the question did not find it
	}
	if err := r.loadLocked(ctx); err != nil {
		return nil, false, err
	}
	k, ok := r.set.Load().keys[id]
	return k, ok, nil
}

// loadLocked reads the keys and opens the ones not yet open. r.mu is held.
func (r *RefreshKeys) loadLocked(ctx context.Context) error {
	r.loadedAt = r.now()
	rows, err := r.store.RefreshMACKeys(ctx)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return errNoRefreshKey
	}
	old := r.set.Load()
	next := &refreshKeySet{created: make(map[uint32]time.Time, len(rows)), keys: make(map[uint32][]byte, len(rows))}
	for _, row := range rows {
		k := []byte(nil)
		if old != nil {
			k = old.keys[row.ID]
		}
		if k == nil {
			if k, err = r.open(row); err != nil {
				return err
			}
		}
		next.keys[row.ID], next.created[row.ID] = k, row.CreatedAt
		next.newest = max(next.newest, row.ID)
	}
	r.set.Store(next)
	return nil
}

var errNoRefreshKey = errors.New("issuer: no refresh MAC key")

func (r *RefreshKeys) open(row RefreshMACKey) ([]byte, error) {
	k, err := r.sealer.Open(refreshMACKeyLabel(row.ID), row.Sealed)
	if err != nil {
		return nil, fmt.Errorf("issuer: refresh MAC key %d: %w", row.ID, err)
	}
	if len(k) != refreshMACKeySize {
		return nil, fmt.Errorf("issuer: refresh MAC key %d: %d bytes, want %d", row.ID, len(k), refreshMACKeySize)
	}
	return k, nil
}

// RefreshKeyPass is what one pass did.
type RefreshKeyPass struct {
	// Created is the id of the key this replica made, 0 if none.
	Created uint32
	// Deleted are the ids of the keys it deleted.
	Deleted []uint32
	// Newest is the id of the key that MACs new tokens after the pass.
	Newest uint32
}

// Pass makes key 1 when there is none, a new key when the newest is a
// rotation period old, deletes the keys whose retention has passed, and
// loads the result. Run by every replica; the store makes sure that
// exactly one new key comes of it.
func (r *RefreshKeys) Pass(ctx context.Context) (RefreshKeyPass, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.passLocked(ctx, false)
}

// Rotate makes a new key at once (on demand), whatever the age of the
// newest, and deletes none (the scheduled pass does); this process MACs new tokens with it from now
// on, and every other replica within refreshKeyPassInterval or on meeting
// one of those tokens.
func (r *RefreshKeys) Rotate(ctx context.Context) (RefreshKeyPass, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.passLocked(ctx, true)
}

func (r *RefreshKeys) passLocked(ctx context.Context, force bool) (RefreshKeyPass, error) {
	var p RefreshKeyPass
	rows, err := r.store.RefreshMACKeys(ctx)
	if err != nil {
		return p, err
	}
	var newest RefreshMACKey
	if len(rows) > 0 {
		newest = rows[len(rows)-1]
	}
	if now := r.now(); len(rows) == 0 || force || !now.Before(newest.CreatedAt.Add(r.period)) {
		// When another replica makes this id first, its key is the
		// rotation, on demand too.
		created, err := r.create(ctx, newest.ID+1, now)
		if err != nil {
			return p, err
		}
		if created {
			p.Created = newest.ID + 1
		}
	}
	if force {
		// On demand, from a tool that need not know the session
		// lifetimes the retention is made of: no deletion.
		if err := r.loadLocked(ctx); err != nil {
			return p, err
		}
		p.Newest = r.set.Load().newest
		return p, nil
	}
	if rows, err = r.store.RefreshMACKeys(ctx); err != nil {
		return p, err
	}
	now := r.now()
	var expired []uint32
	for i := 0; i+1 < len(rows); i++ {
		if !now.Before(rows[i+1].CreatedAt.Add(r.retention)) {
			expired = append(expired, rows[i].ID)
		}
	}
	if len(expired) > 0 {
		if _, err := r.store.DeleteRefreshMACKeys(ctx, expired); err != nil {
			return p, err
		}
		p.Deleted = expired
	}
	if err := r.loadLocked(ctx); err != nil {
		return p, err
	}
	p.Newest = r.set.Load().newest
	return p, nil
}

// create seals a fresh key and stores it as key id.
func (r *RefreshKeys) create(ctx context.Context, id uint32, at time.Time) (bool, error) {
	if id == 0 {
		return false, errors.New("issuer: refresh MAC key ids are exhausted")
	}
	fresh := make([]byte, refreshMACKeySize)
	if _, err := rand.Read(fresh); err != nil {
		return false, fmt.Errorf("issuer: crypto/rand: %w", err)
	}
	sealed := r.sealer.Seal(refreshMACKeyLabel(id), fresh)
	clear(fresh)
	return r.store.CreateRefreshMACKey(ctx, RefreshMACKey{ID: id, Sealed: sealed, CreatedAt: at.UTC().Truncate(time.Millisecond)})
}

// Run runs a pass every refreshKeyPassInterval until ctx ends; onPass
// sees each pass's result (errors included: the keys in memory stay in
// use and the next pass tries again).
func (r *RefreshKeys) Run(ctx context.Context, onPass func(RefreshKeyPass, error)) {
	t := time.NewTicker(refreshKeyPassInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p, err := r.Pass(ctx)
		if ctx.Err() != nil {
			return
		}
		onPass(p, err)
	}
}

// refreshMACKeyLabel is the sealing label of refresh MAC key id.
func refreshMACKeyLabel(id uint32) string {
	return "refresh-mac-key:" + strconv.FormatUint(uint64(id), 10)
}

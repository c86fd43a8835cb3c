package keys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/keys"
)

// memStore is an in-memory keys.Store with the guarantees the SQL store
// gives: UpdateKeys is serialised and atomic, and at most one key per
// algorithm is active (the partial unique index).
type memStore struct {
	lock sync.Mutex // the key lock, held for a whole UpdateKeys
	// now is the store's clock (KeyTx.Now); nil means time.Now.
	now func() time.Time

	mu     sync.RWMutex // guards the committed state below
	keys   []keys.Key
	events []memEvent
}

type memEvent struct {
	At    time.Time
	Event string
	KID   string
	State keys.State
}

func (s *memStore) ListKeys(ctx context.Context) ([]keys.Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.keys), nil
}

func (s *memStore) UpdateKeys(ctx context.Context, fn func(tx keys.KeyTx) error) error {
	s.lock.Lock()
	defer s.lock.Unlock()
	s.mu.RLock()
	tx := &memTx{keys: slices.Clone(s.keys), now: time.Now()}
	s.mu.RUnlock()
	if s.now != nil {
		tx.now = s.now()
	}
	if err := fn(tx); err != nil {
		return err
	}
	s.mu.Lock()
	s.keys = tx.keys
	s.events = append(s.events, tx.events...)
	s.mu.Unlock()
	return nil
}

func (s *memStore) Events() []memEvent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.events)
}

type memTx struct {
	keys   []keys.Key
	events []memEvent
	now    time.Time
}

func (t *memTx) Now() time.Time { return t.now }

func (t *memTx) ListKeys(ctx context.Context) ([]keys.Key, error) { return slices.Clone(t.keys), nil }

func (t *memTx) InsertKey(ctx context.Context, k keys.Key) error {
	for _, o := range t.keys {
		if o.KID == k.KID {
			return fmt.Errorf("memstore: duplicate kid %s", k.KID)
		}
	}
	if err := t.checkActive(k); err != nil {
		return err
	}
	t.keys = append(t.keys, k)
	sort.SliceStable(t.keys, func(i, j int) bool { return t.keys[i].CreatedAt.Before(t.keys[j].CreatedAt) })
	return nil
}

func (t *memTx) UpdateKey(ctx context.Context, k keys.Key) error {
	if err := t.checkActive(k); err != nil {
		return err
	}
	for i := range t.keys {
		if t.keys[i].KID == k.KID {
			k.CreatedAt, k.PublicJWK = t.keys[i].CreatedAt, t.keys[i].PublicJWK
			t.keys[i] = k
			return nil
		}
	}
	return keys.ErrNotFound
}

// checkActive is the partial unique index: one active key per algorithm.
func (t *memTx) checkActive(k keys.Key) error {
	if k.State != keys.StateActive {
		return nil
	}
	for _, o := range t.keys {
		if o.State == keys.StateActive && o.Alg == k.Alg && o.KID != k.KID {
			return fmt.Errorf("memstore: a second active %s key (%s beside %s)", k.Alg, k.KID, o.KID)
		}
	}
	return nil
}

func (t *memTx) RecordKeyEvent(ctx context.Context, at time.Time, event string, k keys.Key) error {
	t.events = append(t.events, memEvent{at, event, k.KID, k.State})
	return nil
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func testSealer(t testing.TB) *keys.Sealer {
	s, err := keys.NewSealer(bytes.Repeat([]byte{7}, keys.KEKSize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testPolicy: a publication lead of 5m10s and a retention of 20m40s.
func testPolicy() keys.Policy {
	return keys.Policy{
		Alg: keys.EdDSA, RSABits: 2048, RotationPeriod: time.Hour, JWKSMaxAge: 5 * time.Minute,
		ReloadInterval: 10 * time.Second, AccessTokenTTL: 15 * time.Minute, Leeway: 30 * time.Second,
	}
}

// kids lists the kids of a serialised JWK set, sorted.
func kids(t testing.TB, body []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWK set %s: %v", body, err)
	}
	out := []string{}
	for _, k := range set.Keys {
		out = append(out, k.KID)
	}
	sort.Strings(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// byState maps each state to the kids in it.
func byState(t testing.TB, st keys.Store) map[keys.State][]string {
	t.Helper()
	ks, err := st.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[keys.State][]string{}
	for _, k := range ks {
		out[k.State] = append(out[k.State], k.KID)
	}
	return out
}

// lockedBuffer is a bytes.Buffer safe for a logger's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func jsonLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

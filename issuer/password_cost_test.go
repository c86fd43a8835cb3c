package issuer

import (
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// userMemStore is the part of a Store that comparePassword uses, in memory.
type userMemStore struct {
	Store // nil: any other method panics
	mu    sync.Mutex
	users map[string]User // by email
}

func (s *userMemStore) UserByEmail(_ context.Context, email string) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[email]
	if !ok {
		return User{}, ErrNotFound
	}
	return u, nil
}

func (s *userMemStore) UpdatePasswordHash(_ context.Context, id, from, to string, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for e, u := range s.users {
		if u.ID == id && u.PasswordHash == from {
			u.PasswordHash = to
			s.users[e] = u
			return true, nil
		}
	}
	return false, nil
}

func (s *userMemStore) MaxPasswordHashCost(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	top := 0
	for _, u := range s.users {
		if c, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil {
			top = max(top, c)
		}
	}
	return top, nil
}

// bcryptWork records the bcrypt operations of an Accounts: the cost of
// each comparison and each hash made. Work is in rounds: 2^cost each.
type bcryptWork struct {
	mu       sync.Mutex
	compares []int
	hashes   []int
}

func (w *bcryptWork) reset() {
	w.mu.Lock()
	w.compares, w.hashes = nil, nil
	w.mu.Unlock()
}

func (w *bcryptWork) rounds() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range append(append([]int(nil), w.compares...), w.hashes...) {
		n += 1 << c
	}
	return n
}

// countedAccounts builds Accounts at cost over users (email -> cost of
// the hash of "correct horse"), counting its bcrypt work.
func countedAccounts(t *testing.T, cost int, users map[string]int) (*Accounts, *userMemStore, *bcryptWork) {
	t.Helper()
	st := &userMemStore{users: map[string]User{}}
	for email, c := range users {
		h, err := bcrypt.GenerateFromPassword([]byte("correct horse"), c)
		if err != nil {
			t.Fatal(err)
		}
		st.users[email] = User{ID: "id-" + email, Email: email, PasswordHash: string(h)}
	}
	cfg, err := Config{IssuerURL: "https://issuer.test", Audience: []string{"x"}, BcryptCost: cost}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAccounts(cfg, st, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &bcryptWork{}
	compare, generate := a.compare, a.generate
	a.compare = func(hash, pw []byte) error {
		c, err := bcrypt.Cost(hash)
		if err != nil {
			t.Errorf("compared against something that is not a bcrypt hash: %v", err)
		}
		w.mu.Lock()
		w.compares = append(w.compares, c)
		w.mu.Unlock()
		return compare(hash, pw)
	}
	a.generate = func(pw []byte, c int) ([]byte, error) {
		w.mu.Lock()
		w.hashes = append(w.hashes, c)
		w.mu.Unlock()
		return generate(pw, c)
	}
	return a, st, w
}

// Every refused sign-in costs one bcrypt comparison at the configured
// cost, the unknown email included: skipping its comparison would make
// "no such account" answer at once.
func TestComparePasswordSameWorkForEveryRefusal(t *testing.T) {
	ctx := context.Background()
	a, _, w := countedAccounts(t, 5, map[string]int{"ann@example.com": 5})
	want := 1 << 5
	for _, tc := range []struct{ name, email, password string }{
		{"unknown email", "nobody@example.com", "correct horse"},
		{"wrong password", "ann@example.com", "wrong horse"},
		{"malformed email", "not an email", "correct horse"},
		{"password too long", "ann@example.com", string(make([]byte, 100))},
		{"empty email", "", "correct horse"},
	} {
		w.reset()
		u, ok, err := a.comparePassword(ctx, tc.email, tc.password)
		if err != nil || ok {
			t.Fatalf("%s: ok=%v err=%v, want refused", tc.name, ok, err)
		}
		if tc.name == "unknown email" && u.ID != "" {
			t.Fatalf("unknown email: got user id %q", u.ID)
		}
		if len(w.compares) == 0 || w.rounds() != want {
			t.Errorf("%s: bcrypt comparisons at costs %v, hashes %v (%d rounds), want the work of one comparison at cost 5 (%d rounds)",
				tc.name, w.compares, w.hashes, w.rounds(), want)
		}
	}
	w.reset()
	if _, ok, err := a.comparePassword(ctx, "ann@example.com", "correct horse"); !ok || err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if len(w.compares) != 1 || w.compares[0] != 5 || len(w.hashes) != 0 {
		t.Errorf("right password at the configured cost: compares %v, hashes %v; want one at cost 5 and no re-hash", w.compares, w.hashes)
	}
}

// After SIGNET_BCRYPT_COST changes, stored hashes keep their old cost:
// a refusal must still cost the same whether the account exists or not,
// and a successful sign-in moves the hash to the configured cost.
func TestComparePasswordAfterCostChange(t *testing.T) {
	ctx := context.Background()
	t.Run("raised", func(t *testing.T) {
		// Hashes at 4 and 5, configured 7: every refusal costs 2^7 rounds.
		a, st, w := countedAccounts(t, 7, map[string]int{"old@example.com": 4, "mid@example.com": 5, "new@example.com": 7})
		for _, email := range []string{"nobody@example.com", "old@example.com", "mid@example.com", "new@example.com"} {
			w.reset()
			if _, ok, _ := a.comparePassword(ctx, email, "wrong horse"); ok {
				t.Fatalf("%s: wrong password accepted", email)
			}
			if w.rounds() != 1<<7 {
				t.Errorf("%s refused after comparisons at costs %v and hashes at %v (%d rounds); want %d rounds, an unknown email's",
					email, w.compares, w.hashes, w.rounds(), 1<<7)
			}
		}
		w.reset()
		u, ok, err := a.comparePassword(ctx, "old@example.com", "correct horse")
		if !ok || err != nil {
			t.Fatalf("right password refused: %v", err)
		}
		if len(w.hashes) != 1 || w.hashes[0] != 7 {
			t.Fatalf("sign-in on a cost-4 hash made hashes at %v, want one re-hash at cost 7", w.hashes)
		}
		stored := st.users["old@example.com"].PasswordHash
		if c, _ := bcrypt.Cost([]byte(stored)); c != 7 || u.PasswordHash != stored {
			t.Fatalf("stored hash has cost %d after sign-in, want 7", c)
		}
		if _, ok, _ := a.comparePassword(ctx, "old@example.com", "correct horse"); !ok {
			t.Fatal("the re-hashed password no longer signs in")
		}
	})
	t.Run("lowered", func(t *testing.T) {
		// A hash at 7, configured 5: the unknown email must cost 2^7 too.
		a, st, w := countedAccounts(t, 5, map[string]int{"old@example.com": 7, "new@example.com": 5})
		for _, email := range []string{"nobody@example.com", "old@example.com", "new@example.com", "bad email"} {
			w.reset()
			if _, ok, _ := a.comparePassword(ctx, email, "wrong horse"); ok {
				t.Fatalf("%s: wrong password accepted", email)
			}
			if w.rounds() != 1<<7 {
				t.Errorf("%s refused after comparisons at costs %v (%d rounds); want %d rounds, the dearest stored hash's",
					email, w.compares, w.rounds(), 1<<7)
			}
		}
		if _, ok, _ := a.comparePassword(ctx, "old@example.com", "correct horse"); !ok {
			t.Fatal("right password refused")
		}
		if c, _ := bcrypt.Cost([]byte(st.users["old@example.com"].PasswordHash)); c != 5 {
			t.Fatalf("stored hash has cost %d after sign-in, want the configured 5", c)
		}
	})
}

// A re-hash never overwrites a hash that changed since it was read (a
// password reset racing a sign-in).
func TestRehashIsCompareAndSwap(t *testing.T) {
	a, st, _ := countedAccounts(t, 5, map[string]int{"ann@example.com": 4})
	u := st.users["ann@example.com"]
	reset, _ := bcrypt.GenerateFromPassword([]byte("new password"), 5)
	st.users["ann@example.com"] = User{ID: u.ID, Email: u.Email, PasswordHash: string(reset)}
	a.rehash(context.Background(), &u, []byte("correct horse"))
	if got := st.users["ann@example.com"].PasswordHash; got != string(reset) {
		t.Fatal("the re-hash of the old password replaced the new one")
	}
}

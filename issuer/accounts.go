package issuer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Accounts signs users up, checks their passwords and deletes them.
type Accounts struct {
	store     Store
	audit     *Auditor
	throttle  *Throttle
	metrics   *Metrics
	log       *slog.Logger
	now       func() time.Time
	cost      int
	queueWait time.Duration
	slots     chan struct{} // semaphore: one token per bcrypt in progress
	// failCost is the bcrypt work, as a cost, that every refused sign-in
	// spends, whatever was wrong: the configured cost, or the highest
	// cost among stored hashes when that is higher (see comparePassword).
	failCost int
	// compare and generate are bcrypt's; tests replace them to count the
	// work done.
	compare  func(hash, password []byte) error
	generate func(password []byte, cost int) ([]byte, error)
	dummyMu  sync.Mutex
	dummies  map[int]*dummyHash
	// requireVerified refuses sign-in to unconfirmed addresses.
	requireVerified bool
	// life is the lifecycle (built with the accounts): sign-up modes,
	// confirmation, mail.
	life *Lifecycle
}

// dummyHash is the hash of a random password at one cost, made once.
type dummyHash struct {
	once sync.Once
	hash []byte
}

// newAccounts builds the accounts and their lifecycle; sl seals queued
// mail (nil: no mail can be queued).
func newAccounts(cfg Config, store Store, audit *Auditor, throttle *Throttle, sl sealer) (*Accounts, error) {
	a := &Accounts{
		store: store, audit: audit, throttle: throttle, metrics: cfg.Metrics, log: cfg.Logger, now: cfg.Now,
		cost: cfg.BcryptCost, queueWait: cfg.BcryptQueueWait, slots: make(chan struct{}, cfg.BcryptConcurrency),
		compare: bcrypt.CompareHashAndPassword, generate: bcrypt.GenerateFromPassword, dummies: map[int]*dummyHash{},
		requireVerified: cfg.Lifecycle.RequireVerifiedEmail,
	}
	// Hashes keep the cost they were made with until their owner signs in
	// again, so after SIGNET_BCRYPT_COST is lowered some cost more than
	// the configured cost: a refused sign-in must cost as much as the
	// dearest of them. Hashes written while this process runs have the
	// configured cost, so reading the maximum once is enough.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stored, err := store.MaxPasswordHashCost(ctx)
	if err != nil {
		return nil, fmt.Errorf("issuer: password hash costs: %w", err)
	}
	a.failCost = max(cfg.BcryptCost, min(stored, bcrypt.MaxCost))
	// Sign-in compares against this hash when the email is unknown, so that
	// an unknown email costs the same bcrypt work as a wrong password.
	if a.dummyHash(a.failCost) == nil {
		return nil, fmt.Errorf("issuer: could not make a dummy password hash at cost %d", a.failCost)
	}
	if a.life, err = newLifecycle(cfg, store, sl, a, throttle, audit); err != nil {
		return nil, err
	}
	return a, nil
}

// dummyHash returns the hash of a random password at cost, made on first
// use. Nil only if bcrypt refuses the cost.
func (a *Accounts) dummyHash(cost int) []byte {
	h, _ := a.dummy(cost)
	return h
}

// spendDummy does the work of one bcrypt comparison at cost: a comparison
// against the dummy hash of that cost, or, the first time, making it
// (which costs the same).
func (a *Accounts) spendDummy(cost int, password []byte) {
	if h, made := a.dummy(cost); !made {
		_ = a.compare(h, password)
	}
}

func (a *Accounts) dummy(cost int) (hash []byte, made bool) {
	a.dummyMu.Lock()
	d := a.dummies[cost]
	if d == nil {
		d = &dummyHash{}
		a.dummies[cost] = d
	}
	a.dummyMu.Unlock()
	d.once.Do(func() {
		d.hash, _ = a.generate([]byte(randomID()), cost)
		made = true
	})
	return d.hash, made
}

// SignUp creates an account by the sign-up mode (LifecycleConfig). Open:
// the user, unconfirmed, with a confirmation message queued; a registered
// email is KindEmailTaken. Private: no user and no error, whatever the
// address; the request is queued after the same work, and the worker
// creates the account or tells the owner of the address. Closed:
// KindSignupClosed.
func (a *Accounts) SignUp(ctx context.Context, caller Caller, rawEmail, password string) (u User, err error) {
	defer func() { a.life.count("signup", err) }()
	if a.life.cfg.SignupMode == SignupClosed {
		return User{}, errSignupClosed()
	}
	if err := a.throttle.takeSignup(caller); err != nil {
		return User{}, err
	}
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return User{}, err
	}
	if err := CheckPassword(password); err != nil {
		return User{}, err
	}
	if err := a.life.policy.Check(password, email); err != nil {
		return User{}, err
	}
	var hash []byte
	if err := a.withBcryptSlot(ctx, func() {
		hash, err = a.generate([]byte(password), a.cost)
	}); err != nil {
		return User{}, err
	}
	if err != nil {
		return User{}, err
	}
	u = User{ID: newUUID(), Email: email, PasswordHash: string(hash), CreatedAt: a.now().UTC().Truncate(time.Millisecond)}
	created, err := a.life.create(ctx, caller, u)
	switch {
	case errors.Is(err, ErrEmailTaken):
		return User{}, Errorf(KindEmailTaken, "an account with this email already exists")
	case err != nil:
		return User{}, err
	case !created:
		return User{}, nil // private mode: queued
	}
	a.audit.Record(ctx, caller, AuditEvent{Type: "signup", UserID: u.ID})
	return u, nil
}

// DeleteUser deletes a user, given by id or email, and records it.
func (a *Accounts) DeleteUser(ctx context.Context, caller Caller, idOrEmail string) error {
	u, err := a.findUser(ctx, idOrEmail)
	if err != nil {
		return err
	}
	_ = caller // the deletion is recorded without the caller's address (see deleteUser)
	return a.deleteUser(ctx, u)
}

// findUser reads a user by id or, with an @, by email; ErrNotFound when
// there is none.
func (a *Accounts) findUser(ctx context.Context, idOrEmail string) (User, error) {
	var u User
	var err error
	if strings.Contains(idOrEmail, "@") {
		var email string
		if email, err = NormalizeEmail(idOrEmail); err == nil {
			u, err = a.store.UserByEmail(ctx, email)
		}
	} else {
		u, err = a.store.UserByID(ctx, idOrEmail)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) || KindOf(err) == KindInvalid {
			return User{}, fmt.Errorf("issuer: user %s: %w", idOrEmail, ErrNotFound)
		}
		return User{}, err
	}
	return u, nil
}

// Disabling is what DisableUser and EnableUser did.
type Disabling struct {
	User User
	// Changed is false when the account already was in the state asked for.
	Changed bool
	// SessionsRevoked counts the sessions a disabling ended.
	SessionsRevoked int64
}

// DisableUser disables an account, given by id or email: in one
// transaction it marks the user disabled, revokes every live session of
// theirs and records a subject revocation event, so that verifiers
// following the feed refuse every access token issued to the user so
// far. A disabled account cannot sign in (KindAccountDisabled, only after
// the right password), refresh or start a session by any grant, and
// introspection calls its tokens inactive. Password reset and address
// confirmation stay open: they start no session. Audited as
// user_disabled; disabling a disabled account changes nothing.
func (a *Accounts) DisableUser(ctx context.Context, caller Caller, idOrEmail string) (Disabling, error) {
	return a.setDisabled(ctx, caller, idOrEmail, true)
}

// EnableUser lifts a disabling: the user may sign in again. Sessions
// ended by the disabling stay ended. Audited as user_enabled.
func (a *Accounts) EnableUser(ctx context.Context, caller Caller, idOrEmail string) (Disabling, error) {
	return a.setDisabled(ctx, caller, idOrEmail, false)
}

func (a *Accounts) setDisabled(ctx context.Context, caller Caller, idOrEmail string, disabled bool) (Disabling, error) {
	u, err := a.findUser(ctx, idOrEmail)
	if err != nil {
		return Disabling{}, err
	}
	d := Disabling{User: u}
	now := a.now().UTC().Truncate(time.Millisecond)
	err = a.store.AccountTx(ctx, func(tx AccountTx) error {
		d.Changed, d.SessionsRevoked = false, 0
		changed, err := tx.SetUserDisabled(ctx, u.ID, disabled, now)
		if err != nil || !changed || !disabled {
			d.Changed = changed
			return err
		}
		d.Changed = true
		// The user row is written first: on Postgres, a session insert
		// racing this transaction waits for it (see CreateSession).
		if d.SessionsRevoked, err = tx.RevokeUserSessions(ctx, u.ID, "", now, "account_disabled"); err != nil {
			return err
		}
		return tx.RevokeSubject(ctx, u.ID, now)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Disabling{}, fmt.Errorf("issuer: user %s: %w", u.ID, err)
		}
		return Disabling{}, err
	}
	if !d.Changed {
		return d, nil
	}
	d.User.DisabledAt = time.Time{}
	if disabled {
		d.User.DisabledAt = now
	}
	e := AuditEvent{Type: "user_enabled", UserID: u.ID}
	if disabled {
		e = AuditEvent{Type: "user_disabled", UserID: u.ID, Detail: map[string]string{"sessions_revoked": strconv.FormatInt(d.SessionsRevoked, 10)}}
	}
	a.audit.Record(ctx, caller, e)
	return d, nil
}

// deleteUser deletes u with everything kept about it: its sessions,
// tokens and pending mail (by cascade), its queued requests and its
// sign-in failure count. The audit event keeps the account's random id
// and nothing personal: no address, not even the client's.
func (a *Accounts) deleteUser(ctx context.Context, u User) error {
	err := a.store.AccountTx(ctx, func(tx AccountTx) error {
		if err := tx.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		return tx.ForgetAddress(ctx, u.Email, a.throttle.accountKey(u.Email))
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("issuer: user %s: %w", u.ID, err)
		}
		return err
	}
	a.audit.Record(ctx, Caller{}, AuditEvent{Type: "user_deleted", UserID: u.ID})
	return nil
}

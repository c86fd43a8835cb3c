package issuer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Accounts signs users up, checks their passwords and deletes them.
type Accounts struct {
	store     Store
	audit     *Auditor
	throttle  *Throttle
	metrics   *Metrics
	now       func() time.Time
	cost      int
	queueWait time.Duration
	slots     chan struct{} // semaphore: one token per bcrypt in progress
	dummyHash []byte
	// requireVerified refuses sign-in to unconfirmed addresses.
	requireVerified bool
	// life is the lifecycle (built with the accounts): sign-up modes,
	// confirmation, mail.
	life *Lifecycle
}

// newAccounts builds the accounts and their lifecycle; sl seals queued
// mail (nil: no mail can be queued).
func newAccounts(cfg Config, store Store, audit *Auditor, throttle *Throttle, sl sealer) (*Accounts, error) {
	a := &Accounts{
		store: store, audit: audit, throttle: throttle, metrics: cfg.Metrics, now: cfg.Now,
		cost: cfg.BcryptCost, queueWait: cfg.BcryptQueueWait, slots: make(chan struct{}, cfg.BcryptConcurrency),
		requireVerified: cfg.Lifecycle.RequireVerifiedEmail,
	}
	// Sign-in compares against this hash when the email is unknown, so that
	// an unknown email costs the same bcrypt work as a wrong password.
	var err error
	a.dummyHash, err = bcrypt.GenerateFromPassword([]byte(randomID()), cfg.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	if a.life, err = newLifecycle(cfg, store, sl, a, throttle, audit); err != nil {
		return nil, err
	}
	return a, nil
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
		hash, err = bcrypt.GenerateFromPassword([]byte(password), a.cost)
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
			return fmt.Errorf("issuer: user %s: %w", idOrEmail, ErrNotFound)
		}
		return err
	}
	_ = caller // the deletion is recorded without the caller's address (see deleteUser)
	return a.deleteUser(ctx, u)
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
		return tx.ForgetAddress(ctx, u.Email, a.throttle.keysFor(Caller{}, u.Email).account)
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

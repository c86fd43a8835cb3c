package issuer

import (
	"context"
	"errors"
	"fmt"
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
}

func newAccounts(cfg Config, store Store, audit *Auditor, throttle *Throttle) (*Accounts, error) {
	a := &Accounts{
		store: store, audit: audit, throttle: throttle, metrics: cfg.Metrics, now: cfg.Now,
		cost: cfg.BcryptCost, queueWait: cfg.BcryptQueueWait, slots: make(chan struct{}, cfg.BcryptConcurrency),
	}
	// Sign-in compares against this hash when the email is unknown, so that
	// an unknown email costs the same bcrypt work as a wrong password.
	var err error
	a.dummyHash, err = bcrypt.GenerateFromPassword([]byte(randomID()), cfg.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	return a, nil
}

// SignUp creates an account. A registered email is KindEmailTaken.
func (a *Accounts) SignUp(ctx context.Context, caller Caller, rawEmail, password string) (User, error) {
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
	var hash []byte
	if err := a.withBcryptSlot(ctx, func() {
		hash, err = bcrypt.GenerateFromPassword([]byte(password), a.cost)
	}); err != nil {
		return User{}, err
	}
	if err != nil {
		return User{}, err
	}
	u := User{ID: newUUID(), Email: email, PasswordHash: string(hash), CreatedAt: a.now().UTC().Truncate(time.Millisecond)}
	switch err := a.store.CreateUser(ctx, u); {
	case errors.Is(err, ErrEmailTaken):
		return User{}, Errorf(KindEmailTaken, "an account with this email already exists")
	case err != nil:
		return User{}, err
	}
	a.audit.Record(ctx, caller, AuditEvent{Type: "signup", UserID: u.ID})
	return u, nil
}

// DeleteUser deletes a user and every session of theirs, and records it.
func (a *Accounts) DeleteUser(ctx context.Context, caller Caller, id string) error {
	if err := a.store.DeleteUser(ctx, id); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("issuer: user %s: %w", id, err)
		}
		return err
	}
	a.audit.Record(ctx, caller, AuditEvent{Type: "user_deleted", UserID: id})
	return nil
}

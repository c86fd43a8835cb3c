package issuer

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// Password bounds: bcrypt reads at most 72 bytes, and Signet rejects longer
// passwords rather than silently ignoring their tail.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
	maxEmailBytes    = 254
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

// NormalizeEmail trims and lower-cases an email and checks its form.
func NormalizeEmail(raw string) (string, error) {
	email := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case email == "":
		return "", Errorf(KindInvalid, "email is required")
	case len(email) > maxEmailBytes:
		return "", Errorf(KindInvalid, "email is longer than %d bytes", maxEmailBytes)
	}
	for _, r := range email {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", Errorf(KindInvalid, "email must not contain spaces or control characters")
		}
	}
	addr, err := mail.ParseAddress(email)
	local, domain, ok := strings.Cut(email, "@")
	if err != nil || addr.Address != email || !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", Errorf(KindInvalid, "email is not a valid address")
	}
	return email, nil
}

// CheckPassword applies the password rules of sign-up.
func CheckPassword(pw string) error {
	switch {
	case pw == "":
		return Errorf(KindInvalid, "password is required")
	case len(pw) < MinPasswordBytes:
		return Errorf(KindInvalid, "password is shorter than %d bytes", MinPasswordBytes)
	case len(pw) > MaxPasswordBytes:
		return Errorf(KindInvalid, "password is longer than %d bytes", MaxPasswordBytes)
	}
	return nil
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

// Authenticate returns the user whose password matches, behind the
// sign-in throttle: a blocked caller is refused before any bcrypt work,
// and a failure counts against the account and the address. Whatever is
// wrong (malformed email, unknown email, wrong password) costs one bcrypt
// comparison and gets the same KindBadCredentials error.
func (a *Accounts) Authenticate(ctx context.Context, caller Caller, email, password string) (User, error) {
	tk := a.throttle.keysFor(caller, email)
	if err := a.throttle.check(ctx, caller, tk); err != nil {
		return User{}, err
	}
	var u User
	var ok bool
	var authErr error
	if err := a.withBcryptSlot(ctx, func() { u, ok, authErr = a.comparePassword(ctx, email, password) }); err != nil {
		return User{}, err
	}
	if authErr != nil {
		return User{}, authErr
	}
	if !ok {
		a.throttle.recordFailure(ctx, tk)
		a.audit.Record(ctx, caller, AuditEvent{Type: "signin_failed", UserID: u.ID})
		return User{}, errBadCredentials()
	}
	a.throttle.clear(ctx, tk)
	return u, nil
}

// comparePassword spends one bcrypt comparison whatever the input and
// reports whether the password is the account's. The user has an id
// only when the email is known.
func (a *Accounts) comparePassword(ctx context.Context, rawEmail, password string) (User, bool, error) {
	hash := a.dummyHash
	var u User
	email, emailErr := NormalizeEmail(rawEmail)
	if emailErr == nil {
		var err error
		u, err = a.store.UserByEmail(ctx, email)
		switch {
		case err == nil:
			hash = []byte(u.PasswordHash)
		case !errors.Is(err, ErrNotFound):
			return User{}, false, err
		}
	}
	if len(password) > MaxPasswordBytes {
		password = password[:0] // never matches; still costs a comparison
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	if !match || emailErr != nil || u.ID == "" {
		return User{ID: u.ID}, false, nil
	}
	return u, true, nil
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

// withBcryptSlot runs fn holding one of the bcrypt slots, waiting at most
// the configured queue wait for one. Bounding bcrypt keeps a flood of
// sign-ins from starving every other request of CPU; refresh and JWKS
// never come here.
func (a *Accounts) withBcryptSlot(ctx context.Context, fn func()) error {
	select {
	case a.slots <- struct{}{}:
		a.metrics.BcryptQueueWait.Observe(0)
	default:
		start := time.Now()
		t := time.NewTimer(a.queueWait)
		defer t.Stop()
		select {
		case a.slots <- struct{}{}:
			a.metrics.BcryptQueueWait.Observe(time.Since(start).Seconds())
		case <-t.C:
			a.metrics.BcryptQueueWait.Observe(time.Since(start).Seconds())
			return errBusy()
		case <-ctx.Done():
			a.metrics.BcryptQueueWait.Observe(time.Since(start).Seconds())
			return errBusy()
		}
	}
	a.metrics.BcryptInFlight.Inc()
	defer func() {
		a.metrics.BcryptInFlight.Dec()
		<-a.slots
	}()
	fn()
	return nil
}

// HoldBcryptSlot takes one bcrypt slot until release is called: load
// shedding drills and tests fill the pool with it.
func (a *Accounts) HoldBcryptSlot() (release func()) {
	a.slots <- struct{}{}
	return func() { <-a.slots }
}

package issuer

import (
	"context"
	"errors"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Authenticate returns the user whose password matches, behind the
// sign-in throttle: the attempt is reserved on its counters before any
// bcrypt work (a blocked caller is refused there), and a failure counts
// against the account and the address. Whatever is wrong (malformed
// email, unknown email, wrong password) costs one bcrypt comparison and
// gets the same KindBadCredentials error.
func (a *Accounts) Authenticate(ctx context.Context, caller Caller, email, password string) (User, error) {
	u, _, err := a.authenticate(ctx, caller, email, password, "")
	return u, err
}

// AuthenticateDevice is Authenticate for a client that keeps a device
// token (devices.go): deviceToken is the one from its last sign-in to
// this account, or "". With a valid one the attempt is counted against
// the token alone, so the account's and the address's blocks do not hold
// it back. A good sign-in returns a new device token ("" when device
// tokens are unavailable).
func (a *Accounts) AuthenticateDevice(ctx context.Context, caller Caller, email, password, deviceToken string) (User, string, error) {
	u, attempt, err := a.authenticate(ctx, caller, email, password, deviceToken)
	if err != nil {
		return User{}, "", err
	}
	return u, a.throttle.devices.issue(ctx, attempt.email), nil
}

func (a *Accounts) authenticate(ctx context.Context, caller Caller, email, password, deviceToken string) (User, *attempt, error) {
	attempt, err := a.throttle.begin(ctx, caller, email, deviceToken)
	if err != nil {
		return User{}, nil, err
	}
	var u User
	var ok bool
	var authErr error
	if err := a.withBcryptSlot(ctx, func() { u, ok, authErr = a.comparePassword(ctx, email, password) }); err != nil {
		attempt.release(ctx)
		return User{}, nil, err
	}
	if authErr != nil {
		attempt.release(ctx)
		return User{}, nil, authErr
	}
	if !ok {
		attempt.fail(ctx, caller, u.ID)
		e := AuditEvent{Type: "signin_failed", UserID: u.ID}
		if attempt.device {
			e.Detail = map[string]string{"device_token": "valid"}
		}
		a.audit.Record(ctx, caller, e)
		return User{}, nil, errBadCredentials()
	}
	attempt.succeed(ctx)
	if u.Disabled() {
		// Only after the right password, like the check below.
		a.audit.Record(ctx, caller, AuditEvent{Type: "signin_disabled", UserID: u.ID})
		return User{}, nil, errAccountDisabled()
	}
	if a.requireVerified && !u.EmailVerified {
		// Only after the right password: the answer reveals nothing to
		// whoever does not know it.
		a.audit.Record(ctx, caller, AuditEvent{Type: "signin_unverified", UserID: u.ID})
		return User{}, nil, &Error{Kind: KindEmailNotVerified, Description: "confirm your email address first: follow the link in the message sent to it (POST /v1/verify/resend sends a new one)"}
	}
	return u, attempt, nil
}

// comparePassword reports whether the password is the account's. The
// user has an id only when the email is known.
//
// Every refusal costs the same bcrypt work: one comparison at failCost.
// An unknown or malformed email compares against a dummy hash of that
// cost. A known account whose hash is cheaper (made before the cost was
// raised) makes up the difference after its own comparison fails: bcrypt's
// work doubles with each cost step, so further comparisons at costs c,
// c+1, …, failCost−1 bring the total from 2^c to exactly 2^failCost. A
// password that matches a hash of another cost than the configured one is
// re-hashed at the configured cost.
func (a *Accounts) comparePassword(ctx context.Context, rawEmail, password string) (User, bool, error) {
	var u User
	if email, err := NormalizeEmail(rawEmail); err == nil {
		u, err = a.store.UserByEmail(ctx, email)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return User{}, false, err
		}
	}
	if len(password) > MaxPasswordBytes {
		password = password[:0] // never matches; still costs the same work
	}
	pw := []byte(password)
	if u.ID == "" {
		a.spendDummy(a.failCost, pw)
		return User{}, false, nil
	}
	hash := []byte(u.PasswordHash)
	if a.compare(hash, pw) != nil {
		a.padRefusal(hash, pw)
		return User{ID: u.ID}, false, nil
	}
	a.rehash(ctx, &u, pw)
	return u, true, nil
}

// padRefusal tops up the work of a refused comparison against hash to one
// comparison at failCost.
func (a *Accounts) padRefusal(hash, pw []byte) {
	c, err := bcrypt.Cost(hash)
	if err != nil {
		// Not a bcrypt hash: bcrypt refused it before any work.
		a.spendDummy(a.failCost, pw)
		return
	}
	for k := c; k < a.failCost; k++ {
		a.spendDummy(k, pw)
	}
}

// rehash replaces a matched hash of another cost than the configured one.
// A failure is logged, never the sign-in's: the old hash still works.
func (a *Accounts) rehash(ctx context.Context, u *User, pw []byte) {
	if c, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil && c == a.cost {
		return
	}
	hash, err := a.generate(pw, a.cost)
	if err != nil {
		a.log.ErrorContext(ctx, "could not re-hash a password", "user_id", u.ID, "error", err)
		return
	}
	switch ok, err := a.store.UpdatePasswordHash(ctx, u.ID, u.PasswordHash, string(hash), a.now().UTC()); {
	case err != nil:
		a.log.WarnContext(ctx, "could not store a re-hashed password", "user_id", u.ID, "error", err)
	case ok:
		u.PasswordHash = string(hash)
		a.log.InfoContext(ctx, "password re-hashed at the configured cost", "user_id", u.ID, "cost", a.cost)
	}
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

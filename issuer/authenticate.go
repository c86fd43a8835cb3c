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
	return u, attempt, nil
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

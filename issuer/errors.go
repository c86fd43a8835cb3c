package issuer

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an Error. Transports map each kind to their own
// answer (package httpapi holds the one table for HTTP and RFC 6749).
type Kind string

// The kinds of error the services return.
const (
	// KindInvalid is a malformed or incomplete request.
	KindInvalid Kind = "invalid_request"
	// KindBadCredentials is a refused password or refresh token.
	KindBadCredentials Kind = "invalid_grant"
	// KindInvalidToken is a refused access token.
	KindInvalidToken Kind = "invalid_token"
	// KindEmailTaken is a sign-up for a registered address.
	KindEmailTaken Kind = "email_taken"
	// KindRateLimited is a request refused by a rate limit or the sign-in
	// throttle; RetryAfter says for how long.
	KindRateLimited Kind = "too_many_requests"
	// KindUnavailable is a transient failure (the database cannot be
	// reached, no bcrypt slot in time): retry after RetryAfter.
	KindUnavailable Kind = "temporarily_unavailable"
	// KindInternal is anything else: a bug or an unexpected failure.
	KindInternal Kind = "server_error"
	// KindEmailNotVerified is a sign-in with the right password to an
	// account whose address is not confirmed, while confirmation is
	// required.
	KindEmailNotVerified Kind = "email_not_verified"
	// KindSignupClosed is a sign-up while sign-up is closed.
	KindSignupClosed Kind = "signup_closed"
	// KindBadLink is an emailed token that is unknown, expired or spent.
	KindBadLink Kind = "invalid_link"
	// KindAccountDisabled is a sign-in with the right password to an
	// account an administrator disabled.
	KindAccountDisabled Kind = "account_disabled"
)

// Error is a service error: a kind, a description safe to show the
// caller, and, for the log only, the reason behind it and its cause.
type Error struct {
	Kind        Kind
	Description string
	// RetryAfter, when positive, tells the caller when to try again.
	RetryAfter time.Duration
	// Reason says why a credential was refused. It is logged, never shown:
	// every refused refresh token gets the same answer.
	Reason Reason
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	s := string(e.Kind) + ": " + e.Description
	if e.Reason != "" {
		s += " (" + string(e.Reason) + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error of kind k whose description is formatted.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Description: fmt.Sprintf(format, args...)}
}

// Reason is why a refresh token or an access token was refused.
type Reason string

// The reasons a refresh token is refused.
const (
	ReasonMalformed      Reason = "malformed"
	ReasonUnknownSession Reason = "unknown session"
	ReasonBadMAC         Reason = "bad MAC"
	ReasonRevoked        Reason = "session revoked"
	ReasonPastMaxAge     Reason = "session past its absolute lifetime"
	ReasonIdle           Reason = "session idle too long"
	ReasonReused         Reason = "reused: session revoked"
	ReasonAhead          Reason = "counter ahead of the session"
	ReasonLostRace       Reason = "lost the rotation race twice"
	ReasonOtherUser      Reason = "session of another user"
	ReasonUserDisabled   Reason = "user disabled"
)

// Errors the stores return, mapped from driver errors by the store.
var (
	ErrNotFound   = errors.New("not found")
	ErrEmailTaken = errors.New("email already registered")
	// ErrUnavailable is matched by store errors that mean the database
	// cannot be reached right now.
	ErrUnavailable = errors.New("database unavailable")
	// ErrUserDisabled is a session refused because its user is disabled
	// (or gone).
	ErrUserDisabled = errors.New("user disabled")
)

// KindOf returns the kind of err: an *Error's own, KindUnavailable for a
// store error matching ErrUnavailable, KindInternal otherwise.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, ErrUnavailable):
		return KindUnavailable
	}
	return KindInternal
}

// AsError returns err as an *Error: itself when it is one, otherwise an
// unavailable or internal Error wrapping it with a generic description.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, ErrUnavailable) {
		return &Error{Kind: KindUnavailable, Description: "the service is temporarily unavailable; try again shortly", RetryAfter: time.Second, Err: err}
	}
	return &Error{Kind: KindInternal, Description: "the server could not complete the request", Err: err}
}

// errBadCredentials is the one answer to a refused password, whatever
// was wrong (unknown email, wrong password, malformed email).
func errBadCredentials() *Error {
	return &Error{Kind: KindBadCredentials, Description: "invalid email or password"}
}

// ErrBusy is wrapped by the error of a request that found no bcrypt slot
// in time.
var ErrBusy = errors.New("no bcrypt slot in time")

func errBusy() *Error {
	return &Error{Kind: KindUnavailable, Description: "the server is busy; try again shortly", RetryAfter: time.Second, Err: ErrBusy}
}

// rejected is a refused refresh token: every reason gets the same answer.
func rejected(r Reason) *Error {
	return &Error{Kind: KindBadCredentials, Description: "the refresh token is invalid or expired", Reason: r}
}

// tooManyRequests is a rate-limit refusal.
func tooManyRequests(desc string, wait time.Duration) *Error {
	return &Error{Kind: KindRateLimited, Description: desc, RetryAfter: wait}
}

// errAccountDisabled refuses a sign-in, given only after the right
// password, to a disabled account.
func errAccountDisabled() *Error {
	return &Error{Kind: KindAccountDisabled, Description: "this account is disabled; contact the administrator"}
}

package issuer

import (
	"context"
	"time"
)

// TokenPurpose is what an emailed token may be spent on.
type TokenPurpose string

// The purposes of emailed tokens.
const (
	PurposeVerifyEmail       TokenPurpose = "verify_email"
	PurposePasswordReset     TokenPurpose = "password_reset"
	PurposeEmailChange       TokenPurpose = "email_change"
	PurposeEmailChangeCancel TokenPurpose = "email_change_cancel"
)

// AccountToken is an emailed single-use token as stored: its SHA-256,
// never the token.
type AccountToken struct {
	Hash    []byte
	Purpose TokenPurpose
	UserID  string
	// Email is the address the token speaks for: the address to confirm,
	// the new address of an email change, the old one for its cancel.
	Email     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AccountRequest is a request whose answer must not depend on whether an
// address has an account. The request writes it and answers; the outbox
// worker resolves it.
type AccountRequest struct {
	ID    string
	Kind  RequestKind
	Email string
	// PasswordHash is the bcrypt hash of a private-mode sign-up.
	PasswordHash string
	IP           string
	CreatedAt    time.Time
	Attempts     int
}

// RequestKind is what an AccountRequest asks for.
type RequestKind string

// The kinds of AccountRequest.
const (
	RequestSignup        RequestKind = "signup"
	RequestVerifyResend  RequestKind = "verify_resend"
	RequestPasswordReset RequestKind = "password_reset"
)

// OutboxMail is a message waiting in the outbox. Body is the sealed
// message (keys.Sealer, label "mail:" + ID).
type OutboxMail struct {
	ID string
	// UserID is the account the message is about; deleting the account
	// deletes its pending mail.
	UserID        string
	Kind          MailKind
	Recipient     string
	Body          []byte
	CreatedAt     time.Time
	ExpiresAt     time.Time
	NextAttemptAt time.Time
	Attempts      int
}

// AccountStore keeps what the account lifecycle needs beyond users and
// sessions: emailed tokens, queued requests and the mail outbox.
type AccountStore interface {
	// AccountTx runs fn in one transaction, committed when fn returns nil.
	AccountTx(ctx context.Context, fn func(AccountTx) error) error
	// LiveAccountToken returns the token with this hash and purpose if it
	// has not expired at now (ErrNotFound otherwise). It spends nothing.
	LiveAccountToken(ctx context.Context, hash []byte, purpose TokenPurpose, now time.Time) (AccountToken, error)
	// EnqueueAccountRequest stores a request; it is the only write a
	// private sign-up, a password-reset request or a resend makes.
	EnqueueAccountRequest(ctx context.Context, r AccountRequest) error
	// ClaimAccountRequests leases up to limit unclaimed (or lease-expired)
	// requests until `until`, oldest first; a request leased by one
	// replica is invisible to the others until its lease ends.
	ClaimAccountRequests(ctx context.Context, now, until time.Time, limit int) ([]AccountRequest, error)
	// ClaimMail leases up to limit messages due at now, like
	// ClaimAccountRequests, and counts the attempt.
	ClaimMail(ctx context.Context, now, until time.Time, limit int) ([]OutboxMail, error)
	// MailSent marks a message delivered and drops its body.
	MailSent(ctx context.Context, id string, at time.Time) error
	// MailRetry releases a message for another attempt at next.
	MailRetry(ctx context.Context, id string, next time.Time, reason string) error
	// MailAbandoned marks a message that will never be delivered (past its
	// expiry) and drops its body.
	MailAbandoned(ctx context.Context, id string, at time.Time, reason string) error
}

// AccountTx is what one lifecycle transaction may do.
type AccountTx interface {
	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)
	// CreateUser inserts u (ErrEmailTaken when the address is registered).
	CreateUser(ctx context.Context, u User) error
	SetPassword(ctx context.Context, userID, hash string, at time.Time) error
	SetEmailVerified(ctx context.Context, userID string, at time.Time) error
	// SetEmail changes a user's address (ErrEmailTaken when another
	// account has it) and marks it confirmed.
	SetEmail(ctx context.Context, userID, email string, at time.Time) error
	// PutAccountToken stores t. With replace, it deletes the user's other
	// tokens of the same purpose first: only the newest one lives.
	PutAccountToken(ctx context.Context, t AccountToken, replace bool) error
	// TakeAccountToken deletes and returns the live token with this hash
	// and purpose (ErrNotFound when there is none): it is single-use even
	// when two requests race.
	TakeAccountToken(ctx context.Context, hash []byte, purpose TokenPurpose, now time.Time) (AccountToken, error)
	DeleteAccountTokens(ctx context.Context, userID string, purposes ...TokenPurpose) error
	RevokeUserSessions(ctx context.Context, userID, except string, at time.Time, reason string) (int64, error)
	// SetUserDisabled disables (disabled) or enables a user at `at`; false
	// when it already was so, ErrNotFound when there is no such user.
	SetUserDisabled(ctx context.Context, userID string, disabled bool, at time.Time) (bool, error)
	// RevokeSubject records a subject revocation event: the verifiers
	// refuse every access token issued to the user until `at`.
	RevokeSubject(ctx context.Context, userID string, at time.Time) error
	EnqueueMail(ctx context.Context, m OutboxMail) error
	// CountMail counts the messages of the kinds sent or queued for a
	// recipient since a time (sent messages are kept, bodiless, a day).
	// It holds the recipient until the transaction ends: another
	// transaction's CountMail for it waits and then sees what this one
	// queued, so a limit checked on the count holds across replicas.
	CountMail(ctx context.Context, recipient string, kinds []MailKind, since time.Time) (int, error)
	DeleteAccountRequest(ctx context.Context, id string) error
	// DeleteUser removes a user with everything that cascades from it:
	// sessions, tokens, pending mail (ErrNotFound when there is none).
	DeleteUser(ctx context.Context, id string) error
	// ForgetAddress removes what is kept about an address outside the
	// user row: its queued requests and the sign-in throttle's counts
	// under throttleKeys.
	ForgetAddress(ctx context.Context, email string, throttleKeys ...string) error
}

package issuer

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// SignupMode is who may create an account.
type SignupMode string

// The sign-up modes.
const (
	// SignupOpen answers 201 with the user, or 409 email_taken: anyone can
	// learn whether an address has an account.
	SignupOpen SignupMode = "open"
	// SignupPrivate answers every well-formed sign-up 202 {} after the
	// same work; a new address gets a confirmation message, a registered
	// one a "you already have an account" message. The default.
	SignupPrivate SignupMode = "private"
	// SignupClosed refuses sign-up (403): accounts are made by an
	// administrator (signet users create), who may send an invitation.
	SignupClosed SignupMode = "closed"
)

// ParseSignupMode reads a mode; empty means private.
func ParseSignupMode(s string) (SignupMode, error) {
	switch m := SignupMode(s); m {
	case "":
		return SignupPrivate, nil
	case SignupOpen, SignupPrivate, SignupClosed:
		return m, nil
	}
	return "", fmt.Errorf("sign-up mode %q is not open, private or closed", s)
}

// LifecycleConfig configures the account lifecycle: confirmation of
// addresses, password reset and change, email change, deletion, and the
// mail they send. Zero fields take the defaults named.
type LifecycleConfig struct {
	// SignupMode is who may sign up; zero means SignupPrivate.
	SignupMode SignupMode
	// RequireVerifiedEmail refuses sign-in (403 email_not_verified, only
	// after the right password) until the address is confirmed.
	RequireVerifiedEmail bool
	// PasswordMinBytes is the minimum password length; zero means 8, and
	// less than 8 is refused.
	PasswordMinBytes int
	// SiteURL is the client app that the links in messages open (its
	// path per flow: PathVerifyEmail...), the token in the fragment. Zero
	// means the issuer's own pages at the same paths, the token in the
	// query.
	SiteURL string
	// MailTemplates overrides the embedded templates, file by file
	// (verify_email.txt.tmpl, verify_email.html.tmpl, ...); nil uses
	// the embedded ones.
	MailTemplates fs.FS
	// MailSender delivers the outbox; nil leaves mail in the outbox (the
	// worker does not run).
	MailSender MailSender
	// VerifyTokenTTL is the life of a confirmation link; 24h.
	VerifyTokenTTL time.Duration
	// ResetTokenTTL is the life of a password-reset link; 30m.
	ResetTokenTTL time.Duration
	// InviteTokenTTL is the life of an invitation's set-password link; 72h.
	InviteTokenTTL time.Duration
	// EmailChangeTokenTTL is the life of a new address's confirmation
	// link; 1h.
	EmailChangeTokenTTL time.Duration
	// EmailChangeCancelTTL is how long the old address may cancel a
	// change (and take the account back); 168h.
	EmailChangeCancelTTL time.Duration
	// MailRequestLimit caps password-reset requests and confirmation
	// resends per client address; default 10 a minute.
	MailRequestLimit RateLimit
	// RecipientLimit caps the messages anyone can make Signet send one
	// address (confirmation, reset, "you already have an account"),
	// across replicas; default 5 an hour. Past it, requests are still
	// answered 202 and nothing is sent.
	RecipientLimit RateLimit
	// TokenFailureLimit caps rejected emailed tokens per client address;
	// default 30 a minute.
	TokenFailureLimit RateLimit
	// OutboxPoll is how often each replica's worker looks for work; 1s.
	OutboxPoll time.Duration
	// RetryBase and RetryMax bound the delivery backoff: attempt n waits
	// RetryBase·2^(n-1), at most RetryMax; 5s and 15m.
	RetryBase, RetryMax time.Duration

	// issuerPages is set by the defaults when SiteURL was zero: the links
	// open the issuer's own pages.
	issuerPages bool
}

func (c LifecycleConfig) withDefaults(issuerURL string) (LifecycleConfig, error) {
	var err error
	if c.SignupMode, err = ParseSignupMode(string(c.SignupMode)); err != nil {
		return c, fmt.Errorf("issuer: %w", err)
	}
	if c.PasswordMinBytes == 0 {
		c.PasswordMinBytes = MinPasswordBytes
	}
	if c.PasswordMinBytes < MinPasswordBytes || c.PasswordMinBytes > MaxPasswordBytes {
		return c, fmt.Errorf("issuer: the minimum password length must be %d to %d bytes", MinPasswordBytes, MaxPasswordBytes)
	}
	// A site URL that is the issuer itself means the issuer's pages too.
	c.issuerPages = c.issuerPages || c.SiteURL == "" || strings.TrimRight(c.SiteURL, "/") == strings.TrimRight(issuerURL, "/")
	c.SiteURL = strings.TrimRight(cmp.Or(c.SiteURL, issuerURL), "/")
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.VerifyTokenTTL, 24*time.Hour)
	def(&c.ResetTokenTTL, 30*time.Minute)
	def(&c.InviteTokenTTL, 72*time.Hour)
	def(&c.EmailChangeTokenTTL, time.Hour)
	def(&c.EmailChangeCancelTTL, 7*24*time.Hour)
	def(&c.OutboxPoll, time.Second)
	def(&c.RetryBase, 5*time.Second)
	def(&c.RetryMax, 15*time.Minute)
	if c.RecipientLimit.Burst == 0 {
		c.RecipientLimit = RateLimit{Burst: 5, Per: time.Hour}
	}
	return c, nil
}

// Lifecycle is the account lifecycle after sign-up: confirmation of the
// address, password reset and change, email change and deletion. Every
// token it mails is written in the same transaction as its message.
type Lifecycle struct {
	cfg      LifecycleConfig
	store    Store
	accounts *Accounts
	throttle *Throttle
	audit    *Auditor
	metrics  *Metrics
	log      *slog.Logger
	now      func() time.Time
	mail     *outboxWriter
	policy   PasswordPolicy

	mailRequests  *limiter
	tokenFailures *limiter
	// kick wakes this replica's outbox worker when a request was queued.
	kick chan struct{}
}

func newLifecycle(cfg Config, store Store, sl sealer, accounts *Accounts, throttle *Throttle, audit *Auditor) (*Lifecycle, error) {
	lc := cfg.Lifecycle
	tpl, err := loadMailTemplates(lc.MailTemplates)
	if err != nil {
		return nil, err
	}
	return &Lifecycle{
		cfg: lc, store: store, accounts: accounts, throttle: throttle, audit: audit, metrics: cfg.Metrics,
		log: cfg.Logger, now: cfg.Now, policy: PasswordPolicy{MinBytes: lc.PasswordMinBytes},
		mail:          &outboxWriter{templates: tpl, sealer: sl, siteURL: lc.SiteURL, tokenInQuery: lc.issuerPages, now: cfg.Now, noticeTTL: 7 * 24 * time.Hour},
		mailRequests:  newLimiter(lc.MailRequestLimit, RateLimit{Burst: 10, Per: time.Minute}),
		tokenFailures: newLimiter(lc.TokenFailureLimit, RateLimit{Burst: 30, Per: time.Minute}),
		kick:          make(chan struct{}, 1),
	}, nil
}

// NewLifecycle builds the lifecycle alone, for administration (the CLI):
// it queues mail that a running issuer delivers.
func NewLifecycle(cfg Config, store Store, sl sealer) (*Lifecycle, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	audit := NewAuditor(store, cfg.Logger, cfg.Now)
	accounts, err := newAccounts(cfg, store, audit, newThrottle(cfg, store, audit, sl), sl)
	if err != nil {
		return nil, err
	}
	return accounts.life, nil
}

// Config is the lifecycle configuration in force, defaults filled in.
func (l *Lifecycle) Config() LifecycleConfig { return l.cfg }

// Policy is the password policy.
func (l *Lifecycle) Policy() PasswordPolicy { return l.policy }

// Account tokens: a purpose prefix (so that secret scanners can find
// them and a token of one purpose is never tried as another) and 256
// random bits, base64url. The store keeps their SHA-256 only: a
// high-entropy token needs no slow hash.
var tokenPrefixes = map[TokenPurpose]string{
	PurposeVerifyEmail:       "sgt_ev_",
	PurposePasswordReset:     "sgt_pr_",
	PurposeEmailChange:       "sgt_ec_",
	PurposeEmailChangeCancel: "sgt_ex_",
}

const accountTokenBytes = 32

func newAccountToken(p TokenPurpose) (raw string, hash []byte) {
	var b [accountTokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("issuer: crypto/rand failed: " + err.Error())
	}
	raw = tokenPrefixes[p] + base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(raw))
	return raw, sum[:]
}

// accountTokenHash checks a presented token's form for the purpose and
// returns its hash.
func accountTokenHash(raw string, p TokenPurpose) ([]byte, bool) {
	body, ok := strings.CutPrefix(raw, tokenPrefixes[p])
	if !ok || len(body) != base64.RawURLEncoding.EncodedLen(accountTokenBytes) {
		return nil, false
	}
	if _, err := base64.RawURLEncoding.DecodeString(body); err != nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte(raw))
	return sum[:], true
}

func errBadLink() *Error {
	return &Error{Kind: KindBadLink, Description: "the link is invalid, expired or already used"}
}

func errWrongPassword() *Error {
	return &Error{Kind: KindBadCredentials, Description: "the password is wrong"}
}

// spendable hashes a presented token behind the per-address limit on
// rejected tokens: it takes one of the address's tokens before the token
// is looked up, which the caller settles when it knows whether the link
// was good (see Throttle.startTokenLookup).
func (l *Lifecycle) spendable(ctx context.Context, caller Caller, raw string, p TokenPurpose) ([]byte, tokenLookup, error) {
	lookup, err := l.throttle.startLookup(ctx, l.tokenFailures, caller, "too many invalid links from this address; try again later")
	if err != nil {
		return nil, tokenLookup{}, err
	}
	h, ok := accountTokenHash(raw, p)
	if !ok {
		lookup.settle(true)
		return nil, tokenLookup{}, errBadLink()
	}
	return h, lookup, nil
}

// settleLink spends the address's token when err refuses the link, and
// gives it back otherwise.
func settleLink(lookup tokenLookup, err error) { lookup.settle(KindOf(err) == KindBadLink) }

func (l *Lifecycle) stamp() time.Time { return l.now().UTC().Truncate(time.Millisecond) }

// count records an action's outcome in the metrics.
func (l *Lifecycle) count(action string, err error) {
	outcome := "ok"
	switch KindOf(err) {
	case "":
	case KindInternal, KindUnavailable:
		outcome = "error"
	default:
		outcome = "refused"
	}
	l.metrics.AccountActions.WithLabelValues(action, outcome).Inc()
}

func errSignupClosed() *Error {
	return &Error{Kind: KindSignupClosed, Description: "sign-up is closed; ask an administrator for an account"}
}

// create is the end of a sign-up (Accounts.SignUp), u's password hashed:
// in open mode the user is created with a confirmation message in one
// transaction (created); in private mode the request is queued, the one
// write whatever the address, and the worker resolves it.
func (l *Lifecycle) create(ctx context.Context, caller Caller, u User) (created bool, err error) {
	if l.cfg.SignupMode == SignupPrivate {
		return false, l.enqueue(ctx, caller, RequestSignup, u.Email, u.PasswordHash)
	}
	err = l.store.AccountTx(ctx, func(tx AccountTx) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return l.sendVerification(ctx, tx, u)
	})
	if err != nil {
		return false, err
	}
	l.wake()
	return true, nil
}

// sendVerification queues a confirmation message for u's address with a
// new token (the previous one dies).
func (l *Lifecycle) sendVerification(ctx context.Context, tx AccountTx, u User) error {
	raw, hash := newAccountToken(PurposeVerifyEmail)
	now := l.stamp()
	exp := now.Add(l.cfg.VerifyTokenTTL)
	if err := tx.PutAccountToken(ctx, AccountToken{Hash: hash, Purpose: PurposeVerifyEmail, UserID: u.ID, Email: u.Email, CreatedAt: now, ExpiresAt: exp}, true); err != nil {
		return err
	}
	return l.mail.add(ctx, tx, MailVerifyEmail, u.ID, u.Email,
		mailData{Link: l.mail.link(PathVerifyEmail, raw), Token: raw, ExpiresIn: inWords(l.cfg.VerifyTokenTTL)}, exp)
}

// enqueue is the whole request-time work of a request whose answer must
// not depend on the address: one insert, the same for every address.
func (l *Lifecycle) enqueue(ctx context.Context, caller Caller, kind RequestKind, email, hash string) error {
	err := l.store.EnqueueAccountRequest(ctx, AccountRequest{ID: newUUID(), Kind: kind, Email: email, PasswordHash: hash, IP: caller.IP, CreatedAt: l.stamp()})
	if err != nil {
		return err
	}
	l.wake()
	return nil
}

// wake tells this replica's worker there is work, without waiting.
func (l *Lifecycle) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// mailRequest is the common front of ForgotPassword and
// ResendVerification: the per-address limit, the email's form, the
// queued request.
func (l *Lifecycle) mailRequest(ctx context.Context, caller Caller, kind RequestKind, rawEmail string) error {
	now := l.now()
	if wait := l.mailRequests.take(l.throttle.addrKey(caller.IP), now); wait > 0 {
		return tooManyRequests("too many requests from this address; try again later", wait)
	}
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return err
	}
	return l.enqueue(ctx, caller, kind, email, "")
}

// ForgotPassword queues a password-reset request. The answer and the work
// are the same whether or not the address has an account: the worker
// finds out, and mails a reset link only to a registered address.
func (l *Lifecycle) ForgotPassword(ctx context.Context, caller Caller, email string) (err error) {
	defer func() { l.count("password_forgot", err) }()
	return l.mailRequest(ctx, caller, RequestPasswordReset, email)
}

// ResendVerification queues a request for a new confirmation message,
// answered like ForgotPassword; only an unconfirmed account gets one.
func (l *Lifecycle) ResendVerification(ctx context.Context, caller Caller, email string) (err error) {
	defer func() { l.count("verify_resend", err) }()
	return l.mailRequest(ctx, caller, RequestVerifyResend, email)
}

// recipientAllows reports whether another requested message may go to
// an address (RecipientLimit, counted in the outbox so every replica
// agrees).
func (l *Lifecycle) recipientAllows(ctx context.Context, tx AccountTx, email string) (bool, error) {
	lim := l.cfg.RecipientLimit
	if lim.Burst < 0 || lim.Per <= 0 {
		return true, nil
	}
	n, err := tx.CountMail(ctx, email, []MailKind{MailVerifyEmail, MailAccountExists, MailPasswordReset, MailEmailChangeConfirm}, l.now().Add(-lim.Per))
	return n < lim.Burst, err
}

// resolve does a queued request's work: the part that depends on whether
// the address has an account. It runs in the outbox worker, in one
// transaction that also deletes the request.
func (l *Lifecycle) resolve(ctx context.Context, r AccountRequest) error {
	caller := Caller{IP: r.IP}
	var event AuditEvent
	err := l.store.AccountTx(ctx, func(tx AccountTx) error {
		event = AuditEvent{}
		if err := tx.DeleteAccountRequest(ctx, r.ID); err != nil {
			return err
		}
		u, err := tx.UserByEmail(ctx, r.Email)
		known := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if r.Kind == RequestSignup && !known {
			u = User{ID: newUUID(), Email: r.Email, PasswordHash: r.PasswordHash, CreatedAt: l.stamp()}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			event = AuditEvent{Type: "signup", UserID: u.ID}
			return l.sendVerification(ctx, tx, u)
		}
		if !known || (r.Kind == RequestVerifyResend && u.EmailVerified) {
			return nil
		}
		ok, err := l.recipientAllows(ctx, tx, u.Email)
		if err != nil {
			return err
		}
		if !ok {
			event = AuditEvent{Type: "mail_recipient_limited", UserID: u.ID, Detail: map[string]string{"request": string(r.Kind)}}
			return nil
		}
		switch r.Kind {
		case RequestSignup:
			event = AuditEvent{Type: "signup_existing_address", UserID: u.ID}
			return l.mail.add(ctx, tx, MailAccountExists, u.ID, u.Email, mailData{Link: l.mail.link(PathForgotPassword, "")}, time.Time{})
		case RequestVerifyResend:
			event = AuditEvent{Type: "verification_resent", UserID: u.ID}
			return l.sendVerification(ctx, tx, u)
		case RequestPasswordReset:
			event = AuditEvent{Type: "password_reset_requested", UserID: u.ID}
			return l.sendReset(ctx, tx, u, MailPasswordReset, l.cfg.ResetTokenTTL)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if event.Type != "" {
		l.audit.Record(ctx, caller, event)
	}
	return nil
}

// sendReset queues a set-password link (a reset, or an invitation).
func (l *Lifecycle) sendReset(ctx context.Context, tx AccountTx, u User, k MailKind, ttl time.Duration) error {
	raw, hash := newAccountToken(PurposePasswordReset)
	now := l.stamp()
	exp := now.Add(ttl)
	if err := tx.PutAccountToken(ctx, AccountToken{Hash: hash, Purpose: PurposePasswordReset, UserID: u.ID, Email: u.Email, CreatedAt: now, ExpiresAt: exp}, true); err != nil {
		return err
	}
	return l.mail.add(ctx, tx, k, u.ID, u.Email, mailData{Link: l.mail.link(PathResetPassword, raw), Token: raw, ExpiresIn: inWords(ttl)}, exp)
}

// VerifyEmail spends a confirmation token and returns the user, confirmed.
func (l *Lifecycle) VerifyEmail(ctx context.Context, caller Caller, raw string) (u User, err error) {
	defer func() { l.count("verify", err) }()
	hash, lookup, err := l.spendable(ctx, caller, raw, PurposeVerifyEmail)
	if err != nil {
		return User{}, err
	}
	defer func() { settleLink(lookup, err) }()
	err = l.store.AccountTx(ctx, func(tx AccountTx) error {
		tok, err := tx.TakeAccountToken(ctx, hash, PurposeVerifyEmail, l.now())
		if err != nil {
			return err
		}
		if u, err = tx.UserByID(ctx, tok.UserID); err != nil {
			return err
		}
		if u.Email != tok.Email { // the address changed since: this token speaks for another
			return ErrNotFound
		}
		u.EmailVerified = true
		return tx.SetEmailVerified(ctx, u.ID, l.stamp())
	})
	if errors.Is(err, ErrNotFound) {
		return User{}, errBadLink()
	}
	if err != nil {
		return User{}, err
	}
	l.audit.Record(ctx, caller, AuditEvent{Type: "email_verified", UserID: u.ID})
	return u, nil
}

// ResetPassword spends a reset token and sets the password: every session
// of the user is revoked, the sign-in throttle's count for the account is
// cleared, and the address counts as confirmed (the link came through it).
// A token sent to an address the account has since left is refused.
func (l *Lifecycle) ResetPassword(ctx context.Context, caller Caller, raw, password string) (err error) {
	defer func() { l.count("password_reset", err) }()
	hash, lookup, err := l.spendable(ctx, caller, raw, PurposePasswordReset)
	if err != nil {
		return err
	}
	defer func() { settleLink(lookup, err) }()
	// Look first, spend last: a refused password leaves the link usable,
	// and bcrypt runs outside the transaction.
	tok, err := l.store.LiveAccountToken(ctx, hash, PurposePasswordReset, l.now())
	if errors.Is(err, ErrNotFound) {
		return errBadLink()
	}
	if err != nil {
		return err
	}
	u, err := l.store.UserByID(ctx, tok.UserID)
	if errors.Is(err, ErrNotFound) || (err == nil && u.Email != tok.Email) {
		// A link sent to an address the account no longer has is dead.
		return errBadLink()
	}
	if err != nil {
		return err
	}
	if err := l.policy.Check(password, u.Email); err != nil {
		return err
	}
	pwHash, err := l.hash(ctx, password)
	if err != nil {
		return err
	}
	var revoked int64
	err = l.store.AccountTx(ctx, func(tx AccountTx) error {
		if _, err := tx.TakeAccountToken(ctx, hash, PurposePasswordReset, l.now()); err != nil {
			return err
		}
		now := l.stamp()
		if err := tx.SetPassword(ctx, u.ID, pwHash, now); err != nil {
			return err
		}
		if err := tx.SetEmailVerified(ctx, u.ID, now); err != nil {
			return err
		}
		if revoked, err = tx.RevokeUserSessions(ctx, u.ID, "", now, "password_reset"); err != nil {
			return err
		}
		if err := tx.ForgetAddress(ctx, "", l.throttle.accountKey(u.Email)); err != nil {
			return err
		}
		return l.mail.add(ctx, tx, MailPasswordChanged, u.ID, u.Email, mailData{Link: l.mail.link(PathForgotPassword, "")}, time.Time{})
	})
	if errors.Is(err, ErrNotFound) {
		return errBadLink()
	}
	if err != nil {
		return err
	}
	l.wake()
	l.audit.Record(ctx, caller, AuditEvent{Type: "password_reset", UserID: u.ID, Detail: map[string]string{"sessions_revoked": strconv.FormatInt(revoked, 10)}})
	return nil
}

func (l *Lifecycle) hash(ctx context.Context, password string) (string, error) {
	var h []byte
	var err error
	if serr := l.accounts.withBcryptSlot(ctx, func() { h, err = bcrypt.GenerateFromPassword([]byte(password), l.accounts.cost) }); serr != nil {
		return "", serr
	}
	return string(h), err
}

// checkPassword checks the signed-in user's password behind the sign-in
// throttle (per account and address): a blocked caller is refused before
// any bcrypt work, and a wrong password counts as a failed sign-in.
func (l *Lifecycle) checkPassword(ctx context.Context, caller Caller, u User, password, action string) error {
	attempt, err := l.throttle.begin(ctx, caller, u.Email, "")
	if err != nil {
		return err
	}
	var ok bool
	if err := l.accounts.withBcryptSlot(ctx, func() {
		ok = bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) == nil && len(password) <= MaxPasswordBytes
	}); err != nil {
		attempt.release(ctx)
		return err
	}
	if !ok {
		attempt.fail(ctx, caller, u.ID)
		l.audit.Record(ctx, caller, AuditEvent{Type: action + "_failed", UserID: u.ID})
		return errWrongPassword()
	}
	attempt.succeed(ctx)
	return nil
}

// ChangePassword sets a new password for the signed-in user after
// checking the current one: the user's other sessions are revoked, sess
// is kept, outstanding reset links die, and a notice is mailed.
func (l *Lifecycle) ChangePassword(ctx context.Context, caller Caller, sess Session, u User, current, next string) (err error) {
	defer func() { l.count("password_change", err) }()
	if err := l.checkPassword(ctx, caller, u, current, "password_change"); err != nil {
		return err
	}
	if err := l.policy.Check(next, u.Email); err != nil {
		return err
	}
	pwHash, err := l.hash(ctx, next)
	if err != nil {
		return err
	}
	var revoked int64
	err = l.store.AccountTx(ctx, func(tx AccountTx) error {
		now := l.stamp()
		if err := tx.SetPassword(ctx, u.ID, pwHash, now); err != nil {
			return err
		}
		if err := tx.DeleteAccountTokens(ctx, u.ID, PurposePasswordReset); err != nil {
			return err
		}
		if revoked, err = tx.RevokeUserSessions(ctx, u.ID, sess.ID, now, "password_changed"); err != nil {
			return err
		}
		return l.mail.add(ctx, tx, MailPasswordChanged, u.ID, u.Email, mailData{Link: l.mail.link(PathForgotPassword, "")}, time.Time{})
	})
	if err != nil {
		return err
	}
	l.wake()
	l.audit.Record(ctx, caller, AuditEvent{Type: "password_changed", UserID: u.ID, SessionID: sess.ID,
		Detail: map[string]string{"sessions_revoked": strconv.FormatInt(revoked, 10)}})
	return nil
}

// ChangeEmail starts an email change for the signed-in user: a
// confirmation link goes to the new address, and the old address is
// told, with a link that cancels the change (and undoes it, if it went
// through). The address changes only on confirmation.
func (l *Lifecycle) ChangeEmail(ctx context.Context, caller Caller, u User, rawEmail, password string) (err error) {
	defer func() { l.count("email_change", err) }()
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return err
	}
	if email == u.Email {
		return Errorf(KindInvalid, "that is already the account's address")
	}
	if err := l.checkPassword(ctx, caller, u, password, "email_change"); err != nil {
		return err
	}
	err = l.store.AccountTx(ctx, func(tx AccountTx) error {
		// The new address is anyone's: the recipient limit keeps a
		// signed-in user from mailing it without end.
		if ok, err := l.recipientAllows(ctx, tx, email); err != nil || !ok {
			if err == nil {
				err = tooManyRequests("too many messages to this address; try again later", l.cfg.RecipientLimit.Per)
			}
			return err
		}
		now := l.stamp()
		raw, hash := newAccountToken(PurposeEmailChange)
		exp := now.Add(l.cfg.EmailChangeTokenTTL)
		if err := tx.PutAccountToken(ctx, AccountToken{Hash: hash, Purpose: PurposeEmailChange, UserID: u.ID, Email: email, CreatedAt: now, ExpiresAt: exp}, true); err != nil {
			return err
		}
		if err := l.mail.add(ctx, tx, MailEmailChangeConfirm, u.ID, email,
			mailData{Link: l.mail.link(PathConfirmEmail, raw), Token: raw, ExpiresIn: inWords(l.cfg.EmailChangeTokenTTL)}, exp); err != nil {
			return err
		}
		// Cancel links are not replaced by newer ones: a later request
		// (perhaps from whoever took the account) must not kill the
		// owner's way back.
		cancelRaw, cancelHash := newAccountToken(PurposeEmailChangeCancel)
		cancelExp := now.Add(l.cfg.EmailChangeCancelTTL)
		if err := tx.PutAccountToken(ctx, AccountToken{Hash: cancelHash, Purpose: PurposeEmailChangeCancel, UserID: u.ID, Email: u.Email, CreatedAt: now, ExpiresAt: cancelExp}, false); err != nil {
			return err
		}
		return l.mail.add(ctx, tx, MailEmailChangeNotice, u.ID, u.Email,
			mailData{NewEmail: email, Link: l.mail.link(PathCancelEmailChange, cancelRaw), Token: cancelRaw, ExpiresIn: inWords(l.cfg.EmailChangeCancelTTL)}, cancelExp)
	})
	if err != nil {
		return err
	}
	l.wake()
	l.audit.Record(ctx, caller, AuditEvent{Type: "email_change_requested", UserID: u.ID})
	return nil
}

// ConfirmEmailChange spends a new address's token and changes the address
// (KindEmailTaken if another account took it meanwhile).
func (l *Lifecycle) ConfirmEmailChange(ctx context.Context, caller Caller, raw string) (u User, err error) {
	defer func() { l.count("email_confirm", err) }()
	hash, lookup, err := l.spendable(ctx, caller, raw, PurposeEmailChange)
	if err != nil {
		return User{}, err
	}
	defer func() { settleLink(lookup, err) }()
	err = l.store.AccountTx(ctx, func(tx AccountTx) error {
		tok, err := tx.TakeAccountToken(ctx, hash, PurposeEmailChange, l.now())
		if err != nil {
			return err
		}
		if u, err = tx.UserByID(ctx, tok.UserID); err != nil {
			return err
		}
		if err := tx.SetEmail(ctx, u.ID, tok.Email, l.stamp()); err != nil {
			return err
		}
		u.Email, u.EmailVerified = tok.Email, true
		// Links mailed to the old address die with it.
		return tx.DeleteAccountTokens(ctx, u.ID, PurposePasswordReset, PurposeVerifyEmail)
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return User{}, errBadLink()
	case errors.Is(err, ErrEmailTaken):
		return User{}, Errorf(KindEmailTaken, "another account has this address now")
	case err != nil:
		return User{}, err
	}
	l.audit.Record(ctx, caller, AuditEvent{Type: "email_changed", UserID: u.ID})
	return u, nil
}

// CancelEmailChange spends an old address's cancel token: a pending
// change dies, a change that went through is undone, and every session
// of the user is revoked (whoever asked for the change is signed out).
func (l *Lifecycle) CancelEmailChange(ctx context.Context, caller Caller, raw string) (err error) {
	defer func() { l.count("email_cancel", err) }()
	hash, lookup, err := l.spendable(ctx, caller, raw, PurposeEmailChangeCancel)
	if err != nil {
		return err
	}
	defer func() { settleLink(lookup, err) }()
	var userID string
	var revoked int64
	err = l.store.AccountTx(ctx, func(tx AccountTx) error {
		tok, err := tx.TakeAccountToken(ctx, hash, PurposeEmailChangeCancel, l.now())
		if err != nil {
			return err
		}
		u, err := tx.UserByID(ctx, tok.UserID)
		if err != nil {
			return err
		}
		userID = u.ID
		if err := tx.DeleteAccountTokens(ctx, u.ID, PurposeEmailChange); err != nil {
			return err
		}
		now := l.stamp()
		if u.Email != tok.Email {
			if err := tx.SetEmail(ctx, u.ID, tok.Email, now); err != nil {
				return err
			}
			if err := tx.DeleteAccountTokens(ctx, u.ID, PurposePasswordReset, PurposeVerifyEmail); err != nil {
				return err
			}
		}
		revoked, err = tx.RevokeUserSessions(ctx, u.ID, "", now, "email_change_cancelled")
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return errBadLink()
	case errors.Is(err, ErrEmailTaken):
		return Errorf(KindEmailTaken, "another account has the old address now")
	case err != nil:
		return err
	}
	l.audit.Record(ctx, caller, AuditEvent{Type: "email_change_cancelled", UserID: userID,
		Detail: map[string]string{"sessions_revoked": strconv.FormatInt(revoked, 10)}})
	return nil
}

// DeleteAccount deletes the signed-in user after checking the password.
func (l *Lifecycle) DeleteAccount(ctx context.Context, caller Caller, u User, password string) (err error) {
	defer func() { l.count("delete", err) }()
	if err := l.checkPassword(ctx, caller, u, password, "user_delete"); err != nil {
		return err
	}
	return l.accounts.deleteUser(ctx, u)
}

// CreateUser makes an account as an administrator (closed mode). Without
// a password it queues an invitation: a link to choose one, which also
// confirms the address. With one, the account is like a signed-up one,
// and a confirmation message is queued.
func (l *Lifecycle) CreateUser(ctx context.Context, caller Caller, rawEmail, password string) (User, error) {
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return User{}, err
	}
	invite := password == ""
	if invite {
		password = randomID() + randomID() // unusable: nobody knows it
	} else if err := l.policy.Check(password, email); err != nil {
		return User{}, err
	}
	pwHash, err := l.hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	u := User{ID: newUUID(), Email: email, PasswordHash: pwHash, CreatedAt: l.stamp()}
	err = l.store.AccountTx(ctx, func(tx AccountTx) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if invite {
			return l.sendReset(ctx, tx, u, MailInvite, l.cfg.InviteTokenTTL)
		}
		return l.sendVerification(ctx, tx, u)
	})
	if errors.Is(err, ErrEmailTaken) {
		return User{}, Errorf(KindEmailTaken, "an account with this email already exists")
	}
	if err != nil {
		return User{}, err
	}
	l.audit.Record(ctx, caller, AuditEvent{Type: "user_created", UserID: u.ID, Detail: map[string]string{"invited": strconv.FormatBool(invite)}})
	return u, nil
}

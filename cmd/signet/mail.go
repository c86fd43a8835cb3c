package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/mailer"
)

// withMail are the commands that queue or send mail.
var withMail = []string{"serve", "users"}

// lifecycleSettings are the account-lifecycle and mail settings.
func (c *config) lifecycleSettings() []setting {
	l := &c.Lifecycle
	return []setting{
		{env: "SIGNET_SIGNUP_MODE", flag: "signup-mode", def: "private", help: "who may sign up: open (201/409), private (always 202, reveals nothing) or closed (signet users create)", cmds: withMail,
			parse: func(v string) error {
				m, err := issuer.ParseSignupMode(v)
				if err != nil {
					return fmt.Errorf("must be open, private or closed, got %q", v)
				}
				l.SignupMode = m
				return nil
			}},
		{env: "SIGNET_REQUIRE_VERIFIED_EMAIL", flag: "require-verified-email", def: "true", help: "refuse sign-in (403 email_not_verified) until the address is confirmed", cmds: withMail,
			parse: boolean(&l.RequireVerifiedEmail)},
		{env: "SIGNET_PASSWORD_MIN_LENGTH", flag: "password-min-length", def: "8", help: "minimum password length in bytes, 8 to 72", cmds: withMail,
			parse: integer(&l.PasswordMinLength, between(issuer.MinPasswordBytes, issuer.MaxPasswordBytes))},
		{env: "SIGNET_PASSWORD_RESET_TTL", flag: "password-reset-ttl", def: "30m", help: "life of a password-reset link", cmds: withMail,
			parse: duration(&l.PasswordResetTTL, time.Minute, 24*time.Hour)},
		{env: "SIGNET_SITE_URL", flag: "site-url", help: "base URL of the links in messages: the client app (default the issuer's own pages)", cmds: withMail,
			parse: issuerURL(&l.SiteURL)},
		{env: "SIGNET_SMTP_URL", help: "smtp://user:password@host:587 (STARTTLS required unless loopback) or smtps://...:465; unset: .eml files in the data dir's mail/ folder", cmds: withMail,
			parse: func(v string) error {
				// Never echo the URL: it may hold a password.
				if u, err := url.Parse(v); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
					return errors.New("must be smtp://[user:password@]host[:port] or the same with smtps")
				}
				l.SMTPURL = v
				return nil
			}},
		{env: "SIGNET_MAIL_FROM", flag: "mail-from", help: "From address of messages, such as 'Example <no-reply@example.com>' (required with SIGNET_SMTP_URL)", cmds: withMail,
			parse: func(v string) error {
				if _, err := mailer.CheckFrom(v); err != nil {
					return err
				}
				l.MailFrom = v
				return nil
			}},
		{env: "SIGNET_MAIL_TEMPLATES", flag: "mail-templates", help: "directory of templates that replace the embedded ones, file by file", cmds: withMail,
			parse: func(v string) error {
				if fi, err := os.Stat(v); err != nil || !fi.IsDir() {
					return fmt.Errorf("%q is not a directory", v)
				}
				l.MailTemplates = v
				return nil
			}},
		{env: "SIGNET_MAIL_REQUEST_LIMIT", flag: "mail-request-limit", def: "10/1m", help: "password-reset requests and confirmation resends per client address: N/duration, or off", cmds: withMail,
			parse: rateLimit(&l.MailRequestLimit)},
		{env: "SIGNET_MAIL_RECIPIENT_LIMIT", flag: "mail-recipient-limit", def: "5/1h", help: "requested messages one address can be sent: N/duration, or off", cmds: withMail,
			parse: rateLimit(&l.RecipientLimit)},
	}
}

// checkLifecycle applies the rules between the mail settings.
func (c *config) checkLifecycle(src *source) []error {
	l := &c.Lifecycle
	switch {
	case l.MailFrom == "" && l.SMTPURL != "":
		return []error{fmt.Errorf("%s: is required with SIGNET_SMTP_URL", src.name("SIGNET_MAIL_FROM"))}
	case l.MailFrom == "":
		l.MailFrom = devMailFrom
	}
	return nil
}

// devMailFrom is the From of .eml files when none is set.
const devMailFrom = "Signet <signet@localhost>"

// lifecycleConfig is the validated lifecycle configuration.
type lifecycleConfig struct {
	SignupMode           issuer.SignupMode
	RequireVerifiedEmail bool
	PasswordMinLength    int
	PasswordResetTTL     time.Duration
	SiteURL              string
	SMTPURL              string
	MailFrom             string
	MailTemplates        string
	MailRequestLimit     issuer.RateLimit
	RecipientLimit       issuer.RateLimit
}

// issuerLifecycle is the services' share of it; sender may be nil (the
// CLI queues mail that a running issuer delivers).
func (c *config) issuerLifecycle(sender issuer.MailSender) issuer.LifecycleConfig {
	lc := issuer.LifecycleConfig{
		SignupMode:           c.Lifecycle.SignupMode,
		RequireVerifiedEmail: c.Lifecycle.RequireVerifiedEmail,
		PasswordMinBytes:     c.Lifecycle.PasswordMinLength,
		ResetTokenTTL:        c.Lifecycle.PasswordResetTTL,
		SiteURL:              c.Lifecycle.SiteURL,
		MailSender:           sender,
		MailRequestLimit:     c.Lifecycle.MailRequestLimit,
		RecipientLimit:       c.Lifecycle.RecipientLimit,
	}
	if c.Lifecycle.MailTemplates != "" {
		lc.MailTemplates = os.DirFS(c.Lifecycle.MailTemplates)
	}
	return lc
}

// mailSender is SMTP when SIGNET_SMTP_URL is set, otherwise .eml files in
// the data directory's mail/ folder; the log says which, and where.
func (c *config) mailSender(log *slog.Logger) (issuer.MailSender, error) {
	if c.Lifecycle.SMTPURL != "" {
		s, err := mailer.NewSMTP(c.Lifecycle.SMTPURL, c.Lifecycle.MailFrom)
		if err != nil {
			return nil, configError{fmt.Errorf("SIGNET_SMTP_URL: %v", err)}
		}
		log.Info("mail is delivered over SMTP", "server", s.Host(), "from", c.Lifecycle.MailFrom)
		return s, nil
	}
	dir, err := filepath.Abs(filepath.Join(c.DataDir, "mail"))
	if err != nil {
		return nil, err
	}
	d, err := mailer.NewDir(dir, c.Lifecycle.MailFrom, log)
	if err != nil {
		return nil, err
	}
	log.Warn("SIGNET_SMTP_URL is not set: messages are written as .eml files, newest last, into "+dir, "dir", dir)
	return d, nil
}

package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/mailer"
)

// lifecycleSettings are the account-lifecycle and mail settings.
var lifecycleSettings = []setting{
	{"SIGNET_SIGNUP_MODE", "signup-mode", "private", "who may sign up: open (201/409), private (always 202, reveals nothing) or closed (signet users create)"},
	{"SIGNET_REQUIRE_VERIFIED_EMAIL", "require-verified-email", "true", "refuse sign-in (403 email_not_verified) until the address is confirmed"},
	{"SIGNET_PASSWORD_MIN_LENGTH", "password-min-length", "8", "minimum password length in bytes, 8 to 72"},
	{"SIGNET_PASSWORD_RESET_TTL", "password-reset-ttl", "30m", "life of a password-reset link"},
	{"SIGNET_SITE_URL", "site-url", "", "base URL of the links in messages: the client app (default the issuer URL)"},
	{"SIGNET_SMTP_URL", "", "", "smtp://user:password@host:587 (STARTTLS required unless loopback) or smtps://...:465; unset: .eml files in the data dir's mail/ folder"},
	{"SIGNET_MAIL_FROM", "mail-from", "", "From address of messages, such as 'Example <no-reply@example.com>' (required with SIGNET_SMTP_URL)"},
	{"SIGNET_MAIL_TEMPLATES", "mail-templates", "", "directory of templates that replace the embedded ones, file by file"},
	{"SIGNET_MAIL_REQUEST_LIMIT", "mail-request-limit", "10/1m", "password-reset requests and confirmation resends per client address: N/duration, or off"},
	{"SIGNET_MAIL_RECIPIENT_LIMIT", "mail-recipient-limit", "5/1h", "requested messages one address can be sent: N/duration, or off"},
}

func init() { settings = append(settings, lifecycleSettings...) }

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

// loadLifecycle reads the lifecycle settings; bad reports an invalid one.
func loadLifecycle(src *source, bad func(name, format string, args ...any)) lifecycleConfig {
	var c lifecycleConfig
	v, _, name := src.get("SIGNET_SIGNUP_MODE")
	m, err := issuer.ParseSignupMode(v)
	if err != nil {
		bad(name, "must be open, private or closed, got %q", v)
	}
	c.SignupMode = m
	v, _, name = src.get("SIGNET_REQUIRE_VERIFIED_EMAIL")
	if c.RequireVerifiedEmail, err = strconv.ParseBool(v); err != nil {
		bad(name, "%q is not true or false", v)
	}
	v, _, name = src.get("SIGNET_PASSWORD_MIN_LENGTH")
	if c.PasswordMinLength, err = strconv.Atoi(v); err != nil || c.PasswordMinLength < issuer.MinPasswordBytes || c.PasswordMinLength > issuer.MaxPasswordBytes {
		bad(name, "must be a whole number from %d to %d, got %q", issuer.MinPasswordBytes, issuer.MaxPasswordBytes, v)
	}
	v, _, name = src.get("SIGNET_PASSWORD_RESET_TTL")
	if c.PasswordResetTTL, err = time.ParseDuration(v); err != nil || c.PasswordResetTTL < time.Minute || c.PasswordResetTTL > 24*time.Hour {
		bad(name, "%q is not a duration from 1m to 24h", v)
	}
	if v, given, name := src.get("SIGNET_SITE_URL"); given {
		if err := checkIssuerURL(v); err != nil {
			bad(name, "%v", err)
		}
		c.SiteURL = v
	}
	if v := src.getenv("SIGNET_SMTP_URL"); v != "" {
		// Never echo the URL: it may hold a password.
		if u, err := url.Parse(v); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			bad("SIGNET_SMTP_URL", "must be smtp://[user:password@]host[:port] or smtps://...")
		}
		c.SMTPURL = v
	}
	c.MailFrom, _, name = src.get("SIGNET_MAIL_FROM")
	switch {
	case c.MailFrom == "" && c.SMTPURL != "":
		bad(name, "is required with SIGNET_SMTP_URL")
	case c.MailFrom == "":
		c.MailFrom = devMailFrom
	default:
		if _, err := mailer.CheckFrom(c.MailFrom); err != nil {
			bad(name, "%v", err)
		}
	}
	if v, given, name := src.get("SIGNET_MAIL_TEMPLATES"); given {
		if fi, err := os.Stat(v); err != nil || !fi.IsDir() {
			bad(name, "%q is not a directory", v)
		}
		c.MailTemplates = v
	}
	for env, dst := range map[string]*issuer.RateLimit{"SIGNET_MAIL_REQUEST_LIMIT": &c.MailRequestLimit, "SIGNET_MAIL_RECIPIENT_LIMIT": &c.RecipientLimit} {
		v, _, name := src.get(env)
		l, err := parseRateLimit(v)
		if err != nil {
			bad(name, "%v", err)
		}
		*dst = l
	}
	return c
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

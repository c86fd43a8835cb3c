// Package mailer delivers the issuer's messages: over SMTP
// (github.com/wneessen/go-mail), or as .eml files in a directory when no
// mail server is configured. Both implement issuer.MailSender.
package mailer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/signet-auth/signet/issuer"
)

// compose builds the RFC 5322 message: text with an HTML alternative, a
// Message-ID from the outbox id (stable across retries).
func compose(from string, m issuer.Mail, domain string) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("mailer: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mailer: to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.ID + "@" + domain)
	if m.Date.IsZero() {
		msg.SetDate()
	} else {
		msg.SetDateWithValue(m.Date)
	}
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// CheckFrom validates a From address ("Name <addr>" or "addr") and
// returns its domain.
func CheckFrom(from string) (string, error) {
	a, err := mail.ParseAddress(from)
	if err != nil {
		return "", fmt.Errorf("%q is not a mail address", from)
	}
	_, domain, _ := strings.Cut(a.Address, "@")
	return domain, nil
}

// SMTP sends through a mail server.
type SMTP struct {
	client *gomail.Client
	from   string
	domain string
	host   string
}

// NewSMTP reads smtp://user:password@host:port (STARTTLS, port 587 by
// default) or smtps://... (TLS from the first byte, port 465). STARTTLS is
// required: a server that does not offer it is refused, so a password and
// the messages' links never cross the network in clear, except to a
// loopback host (a relay or a test server on the same machine). With a
// user, PLAIN authentication is used (only ever over TLS, or to loopback).
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("mailer: the SMTP URL does not parse") // the URL may hold a password
	}
	domain, err := CheckFrom(from)
	if err != nil {
		return nil, fmt.Errorf("mailer: from: %w", err)
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("mailer: the SMTP URL has no host")
	}
	opts := []gomail.Option{gomail.WithTimeout(20 * time.Second)}
	port := 0
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("mailer: bad SMTP port %q", p)
		}
	}
	switch u.Scheme {
	case "smtps":
		port = cmpInt(port, 465)
		opts = append(opts, gomail.WithSSL(), gomail.WithPort(port))
	case "smtp":
		port = cmpInt(port, 587)
		policy := gomail.TLSMandatory
		if isLoopback(host) {
			policy = gomail.TLSOpportunistic
		}
		opts = append(opts, gomail.WithTLSPolicy(policy), gomail.WithPort(port))
	default:
		return nil, fmt.Errorf("mailer: the SMTP URL must start with smtp:// (STARTTLS) or smtps:// (TLS), not %q", u.Scheme+"://")
	}
	if u.User != nil && u.User.Username() != "" {
		pw, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername(u.User.Username()), gomail.WithPassword(pw))
	}
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mailer: %w", err)
	}
	return &SMTP{client: c, from: from, domain: domain, host: net.JoinHostPort(host, strconv.Itoa(port))}, nil
}

// Host is host:port of the server, for the log.
func (s *SMTP) Host() string { return s.host }

// Send delivers one message on a connection of its own.
func (s *SMTP) Send(ctx context.Context, m issuer.Mail) error {
	msg, err := compose(s.from, m, s.domain)
	if err != nil {
		return err
	}
	if err := s.client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mailer: smtp %s: %w", s.host, err)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func cmpInt(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// Dir writes each message as an .eml file into a directory: the mailbox
// of a development setup without a mail server. Names start with the
// time, so a listing shows the newest last.
type Dir struct {
	dir, from, domain string
	log               *slog.Logger
}

// NewDir makes the directory (mode 0700: the messages hold live links).
func NewDir(dir, from string, log *slog.Logger) (*Dir, error) {
	domain, err := CheckFrom(from)
	if err != nil {
		return nil, fmt.Errorf("mailer: from: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mailer: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dir{dir: dir, from: from, domain: domain, log: log}, nil
}

// Path is the directory.
func (d *Dir) Path() string { return d.dir }

// Send writes the message to <time>-<id>.eml, atomically (a temporary
// file renamed), readable by the owner only.
func (d *Dir) Send(_ context.Context, m issuer.Mail) error {
	msg, err := compose(d.from, m, d.domain)
	if err != nil {
		return err
	}
	t := m.Date
	if t.IsZero() {
		t = time.Now()
	}
	name := filepath.Join(d.dir, t.UTC().Format("20060102T150405.000Z")+"-"+m.ID+".eml")
	f, err := os.CreateTemp(d.dir, ".tmp-*.eml")
	if err != nil {
		return fmt.Errorf("mailer: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := msg.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("mailer: write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("mailer: write %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("mailer: %w", err)
	}
	d.log.Info("mail written", "file", name, "kind", string(m.Kind))
	return nil
}

var _ io.WriterTo = (*gomail.Msg)(nil)

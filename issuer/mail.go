package issuer

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	texttemplate "text/template"
	"time"
)

// MailKind is which message a mail is; each has a text and an HTML
// template.
type MailKind string

// The messages Signet sends.
const (
	MailVerifyEmail        MailKind = "verify_email"
	MailAccountExists      MailKind = "account_exists"
	MailPasswordReset      MailKind = "password_reset"
	MailInvite             MailKind = "invite"
	MailPasswordChanged    MailKind = "password_changed"
	MailEmailChangeConfirm MailKind = "email_change_confirm"
	MailEmailChangeNotice  MailKind = "email_change_notice"
)

var mailKinds = []MailKind{MailVerifyEmail, MailAccountExists, MailPasswordReset, MailInvite,
	MailPasswordChanged, MailEmailChangeConfirm, MailEmailChangeNotice}

// Mail is a message ready for delivery. Its ID is stable across retries,
// so that a receiver can tell a redelivery (Message-ID).
type Mail struct {
	ID      string    `json:"id"`
	Kind    MailKind  `json:"kind"`
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	HTML    string    `json:"html"`
	Date    time.Time `json:"date"`
}

// MailSender delivers messages (SMTP, or files in a directory). An error
// means the message was not accepted and will be tried again.
type MailSender interface {
	Send(ctx context.Context, m Mail) error
}

//go:embed mailtemplates/*.tmpl
var embeddedTemplates embed.FS

// The link paths under the site URL, one per flow. A client app's links
// carry the token in the fragment, which browsers never send to a server
// or in a Referer; the issuer's own pages (no site URL set) take it in
// the query, since a page without script cannot read a fragment.
const (
	PathVerifyEmail       = "/verify-email"
	PathResetPassword     = "/reset-password"
	PathForgotPassword    = "/forgot-password"
	PathConfirmEmail      = "/confirm-email"
	PathCancelEmailChange = "/cancel-email-change"
)

// mailData is what templates see.
type mailData struct {
	// Email is the recipient's address (the old one, for a change notice).
	Email string
	// NewEmail is the new address of an email change.
	NewEmail string
	// Link is SiteURL + the flow's path + "#token=" + Token ("?token="
	// when the links open the issuer's own pages), or no token.
	Link string
	// SiteURL is the client app's base URL; Token the raw token, for
	// templates that build links of their own.
	SiteURL, Token string
	// ExpiresIn is the link's lifetime, in words ("30 minutes").
	ExpiresIn string
}

// mailTemplates renders the messages from the embedded templates, each
// overridable by a file of the same name in a directory.
type mailTemplates struct {
	text map[MailKind]*texttemplate.Template
	html map[MailKind]*htmltemplate.Template
}

func loadMailTemplates(override fs.FS) (*mailTemplates, error) {
	read := func(name string) ([]byte, error) {
		if override != nil {
			b, err := fs.ReadFile(override, name)
			if err == nil {
				return b, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("issuer: mail template %s: %w", name, err)
			}
		}
		return embeddedTemplates.ReadFile("mailtemplates/" + name)
	}
	t := &mailTemplates{text: map[MailKind]*texttemplate.Template{}, html: map[MailKind]*htmltemplate.Template{}}
	sample := mailData{Email: "ann@example.com", NewEmail: "ann@example.org", Link: "https://app.example/x#token=t",
		SiteURL: "https://app.example", Token: "t", ExpiresIn: "30 minutes"}
	for _, k := range mailKinds {
		src, err := read(string(k) + ".txt.tmpl")
		if err != nil {
			return nil, err
		}
		tt, err := texttemplate.New(string(k)).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("issuer: mail template %s.txt.tmpl: %w", k, err)
		}
		if tt.Lookup("subject") == nil {
			return nil, fmt.Errorf(`issuer: mail template %s.txt.tmpl: no {{define "subject"}}`, k)
		}
		if src, err = read(string(k) + ".html.tmpl"); err != nil {
			return nil, err
		}
		ht, err := htmltemplate.New(string(k)).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("issuer: mail template %s.html.tmpl: %w", k, err)
		}
		t.text[k], t.html[k] = tt, ht
		if _, err := t.render(k, sample); err != nil { // fail at start, not at the first message
			return nil, err
		}
	}
	return t, nil
}

// render executes kind's templates.
func (t *mailTemplates) render(k MailKind, d mailData) (Mail, error) {
	var subj, text, html bytes.Buffer
	if err := t.text[k].ExecuteTemplate(&subj, "subject", d); err != nil {
		return Mail{}, fmt.Errorf("issuer: mail %s subject: %w", k, err)
	}
	if err := t.text[k].Execute(&text, d); err != nil {
		return Mail{}, fmt.Errorf("issuer: mail %s text: %w", k, err)
	}
	if err := t.html[k].Execute(&html, d); err != nil {
		return Mail{}, fmt.Errorf("issuer: mail %s html: %w", k, err)
	}
	// A subject is one line.
	s := strings.Join(strings.Fields(subj.String()), " ")
	return Mail{Kind: k, To: d.Email, Subject: s, Text: text.String(), HTML: html.String()}, nil
}

// outboxWriter puts rendered, sealed messages in the outbox inside the
// caller's transaction.
type outboxWriter struct {
	templates *mailTemplates
	sealer    sealer
	siteURL   string
	// tokenInQuery puts the token in the query: the links open the
	// issuer's own pages.
	tokenInQuery bool
	now          func() time.Time
	// noticeTTL is how long a message without a token is worth
	// delivering.
	noticeTTL time.Duration
}

// link is the site URL, a flow's path and, when there is one, the token
// in the fragment (or the query, for the issuer's pages). Tokens are
// base64url with a prefix: nothing in them needs escaping.
func (w *outboxWriter) link(path, token string) string {
	l := strings.TrimRight(w.siteURL, "/") + path
	switch {
	case token == "":
	case w.tokenInQuery:
		l += "?token=" + token
	default:
		l += "#token=" + token
	}
	return l
}

// add renders kind for to with d and queues it in tx. expires is when the
// message stops being worth delivering (its token's expiry).
func (w *outboxWriter) add(ctx context.Context, tx AccountTx, k MailKind, userID, to string, d mailData, expires time.Time) error {
	if w == nil || w.sealer == nil {
		return errors.New("issuer: mail is not set up (no sealer)")
	}
	d.Email = cmp.Or(d.Email, to)
	d.SiteURL = strings.TrimRight(w.siteURL, "/")
	m, err := w.templates.render(k, d)
	if err != nil {
		return err
	}
	now := w.now().UTC().Truncate(time.Millisecond)
	m.ID, m.To, m.Date = newUUID(), to, now
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if expires.IsZero() {
		expires = now.Add(w.noticeTTL)
	}
	return tx.EnqueueMail(ctx, OutboxMail{
		ID: m.ID, UserID: userID, Kind: k, Recipient: to, Body: w.sealer.Seal(mailLabel(m.ID), body),
		CreatedAt: now, ExpiresAt: expires, NextAttemptAt: now,
	})
}

func mailLabel(id string) string { return "mail:" + id }

// openMail unseals an outbox body.
func openMail(sl sealer, om OutboxMail) (Mail, error) {
	plain, err := sl.Open(mailLabel(om.ID), om.Body)
	if err != nil {
		return Mail{}, fmt.Errorf("issuer: open mail %s: %w", om.ID, err)
	}
	var m Mail
	if err := json.Unmarshal(plain, &m); err != nil {
		return Mail{}, fmt.Errorf("issuer: decode mail %s: %w", om.ID, err)
	}
	return m, nil
}

// inWords says a duration the way a message would: "30 minutes", "24 hours".
func inWords(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int64(d/time.Minute), "minute")
	}
	return plural(int64(d/time.Second), "second")
}

package mailer

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/signet-auth/signet/issuer"
)

// TestDirNewestLast: .eml files sort oldest first, so a listing shows the
// newest last; each is a whole message, readable by the owner only.
func TestDirNewestLast(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	d, err := NewDir(dir, "Signet <signet@example.com>", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, subj := range []string{"first", "second", "third"} {
		m := issuer.Mail{ID: "id" + subj, Kind: issuer.MailVerifyEmail, To: "ann@example.com", Subject: subj,
			Text: "link https://app.example/verify-email#token=t", HTML: "<p>hi</p>", Date: start.Add(time.Duration(i) * time.Millisecond)}
		if err := d.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 3 || !slices.IsSorted(names) || !strings.Contains(names[2], "idthird") {
		t.Fatalf("files: %v", names)
	}
	b, _ := os.ReadFile(filepath.Join(dir, names[0]))
	msg, err := gomail.EMLToMsgFromString(string(b))
	if err != nil {
		t.Fatalf("not a message: %v\n%s", err, b)
	}
	if got := msg.GetGenHeader(gomail.HeaderSubject); len(got) != 1 || got[0] != "first" || !strings.Contains(string(b), "multipart/alternative") ||
		!strings.Contains(string(b), "Message-ID: <idfirst@example.com>") {
		t.Fatalf("message:\n%s", b)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("mailbox mode %v", fi.Mode().Perm())
	}
}

// TestSMTPURL: smtp:// requires STARTTLS unless the host is loopback;
// smtps:// is TLS from the start; other schemes are refused, and errors
// never repeat the URL (it may hold a password).
func TestSMTPURL(t *testing.T) {
	for _, tc := range []struct {
		url, policy string
		port        int
	}{
		{"smtp://user:secret@mail.example.com", "TLSMandatory", 587},
		{"smtp://mail.example.com:2525", "TLSMandatory", 2525},
		{"smtp://127.0.0.1:1025", "TLSOpportunistic", 1025},
		{"smtp://localhost:1025", "TLSOpportunistic", 1025},
		{"smtp://[::1]:1025", "TLSOpportunistic", 1025},
		{"smtps://user:secret@mail.example.com", "", 465},
	} {
		s, err := NewSMTP(tc.url, "Signet <signet@example.com>")
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if tc.policy != "" && s.client.TLSPolicy() != tc.policy {
			t.Errorf("%s: TLS policy %s, want %s", tc.url, s.client.TLSPolicy(), tc.policy)
		}
		if !strings.HasSuffix(s.Host(), ":"+strconv.Itoa(tc.port)) {
			t.Errorf("%s: server %s, want port %d", tc.url, s.Host(), tc.port)
		}
	}
	for _, bad := range []string{"http://user:secret@mail.example.com", "smtp://", "smtp://user:secret@mail.example.com:99999", "mail.example.com"} {
		_, err := NewSMTP(bad, "Signet <signet@example.com>")
		if err == nil {
			t.Errorf("%s accepted", bad)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error repeats the password: %v", bad, err)
		}
	}
	if _, err := NewSMTP("smtp://127.0.0.1:1025", "not an address"); err == nil {
		t.Error("a bad From accepted")
	}
}

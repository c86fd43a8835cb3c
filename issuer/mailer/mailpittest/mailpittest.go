// Package mailpittest runs Mailpit (github.com/axllent/mailpit, a real
// SMTP server with an HTTP API) for tests: its own instance on free
// 127.0.0.1 ports, read through the API the way a person reads a mailbox.
//
// The binary is found on PATH or in $(go env GOPATH)/bin (go install
// github.com/axllent/mailpit@v1.33.1). Without it a test is skipped with a
// message, except under CI=true, where it fails: CI never skips silently.
package mailpittest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the Mailpit the project installs (.ci/run, docker-compose).
const Version = "v1.33.1"

// Mailpit is a running instance.
type Mailpit struct {
	t        testing.TB
	bin      string
	smtpAddr string
	apiAddr  string
	dbPath   string

	mu  sync.Mutex
	cmd *exec.Cmd
	log *os.File
}

// Binary returns the path of the mailpit binary, or "".
func Binary() string {
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "mailpit")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// Start runs a fresh Mailpit for the test, stopped when it ends.
func Start(t testing.TB) *Mailpit {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "mailpit not found on PATH or in $(go env GOPATH)/bin (go install github.com/axllent/mailpit@" + Version + ")"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; it is required under CI=true", msg)
		}
		t.Skipf("%s; skipping (under CI=true this fails)", msg)
	}
	m := &Mailpit{t: t, bin: bin, smtpAddr: freeAddr(t), apiAddr: freeAddr(t), dbPath: filepath.Join(t.TempDir(), "mailpit.db")}
	m.start()
	t.Cleanup(m.Stop)
	return m
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (m *Mailpit) start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return
	}
	f, err := os.CreateTemp(m.t.TempDir(), "mailpit-*.log")
	if err != nil {
		m.t.Fatal(err)
	}
	cmd := exec.Command(m.bin, "--smtp", m.smtpAddr, "--listen", m.apiAddr, "--database", m.dbPath,
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--disable-version-check", "--quiet")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start mailpit: %v", err)
	}
	m.cmd, m.log = cmd, f
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(m.APIURL() + "/api/v1/messages?limit=1"); err == nil {
			resp.Body.Close()
			if c, err := net.DialTimeout("tcp", m.smtpAddr, time.Second); err == nil {
				c.Close()
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(f.Name())
	m.t.Fatalf("mailpit did not come up on %s / %s:\n%s", m.smtpAddr, m.apiAddr, b)
}

// Stop stops the server; its messages stay in its database.
func (m *Mailpit) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-done
	}
	m.log.Close()
	m.cmd = nil
}

// Restart starts a stopped server again on the same ports and database.
func (m *Mailpit) Restart() { m.start() }

// SMTPURL is the issuer's SIGNET_SMTP_URL for this server (plain SMTP is
// allowed because it is on loopback).
func (m *Mailpit) SMTPURL() string { return "smtp://" + m.smtpAddr }

// SMTPAddr is host:port of the SMTP server.
func (m *Mailpit) SMTPAddr() string { return m.smtpAddr }

// APIURL is the base of the web UI and API.
func (m *Mailpit) APIURL() string { return "http://" + m.apiAddr }

// Address is a mailbox address.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Summary is a message in the list.
type Summary struct {
	ID        string    `json:"ID"`
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	Subject   string    `json:"Subject"`
}

// Message is a whole message as Mailpit parsed it.
type Message struct {
	Summary
	Text string `json:"Text"`
	HTML string `json:"HTML"`
}

// Messages lists every message, newest first.
func (m *Mailpit) Messages() ([]Summary, error) {
	var body struct {
		Messages []Summary `json:"messages"`
	}
	if err := m.get("/api/v1/messages?limit=500", &body); err != nil {
		return nil, err
	}
	return body.Messages, nil
}

// Get reads one message.
func (m *Mailpit) Get(id string) (Message, error) {
	var msg Message
	err := m.get("/api/v1/message/"+url.PathEscape(id), &msg)
	return msg, err
}

func (m *Mailpit) get(path string, v any) error {
	resp, err := http.Get(m.APIURL() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit %s: %d %s", path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}

// To returns the messages to an address, newest first.
func (m *Mailpit) To(addr string) []Summary {
	m.t.Helper()
	all, err := m.Messages()
	if err != nil {
		m.t.Fatal(err)
	}
	var out []Summary
	for _, s := range all {
		for _, to := range s.To {
			if strings.EqualFold(to.Address, addr) {
				out = append(out, s)
			}
		}
	}
	return out
}

// Wait polls until a message to addr whose subject contains subject
// arrives (at most timeout), and returns it whole. poll, if not nil, runs
// before each look: a test drives the outbox with it.
func (m *Mailpit) Wait(addr, subject string, timeout time.Duration, poll func()) Message {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if poll != nil {
			poll()
		}
		for _, s := range m.To(addr) {
			if strings.Contains(s.Subject, subject) {
				msg, err := m.Get(s.ID)
				if err != nil {
					m.t.Fatal(err)
				}
				return msg
			}
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("no message %q to %s within %s; mailbox: %+v", subject, addr, timeout, m.To(addr))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+`)

// Link returns the first link in the message's text that starts with
// prefix (the site URL and a flow's path).
func (msg Message) Link(prefix string) (string, bool) {
	for _, l := range linkRE.FindAllString(msg.Text, -1) {
		if strings.HasPrefix(l, prefix) {
			return l, true
		}
	}
	return "", false
}

// Token returns the token parameter of the link that starts with prefix
// (in its fragment or query).
func (msg Message) Token(prefix string) (string, bool) {
	l, ok := msg.Link(prefix)
	if !ok {
		return "", false
	}
	u, err := url.Parse(l)
	if err != nil {
		return "", false
	}
	if tok := u.Query().Get("token"); tok != "" {
		return tok, true
	}
	q, err := url.ParseQuery(u.Fragment)
	if err != nil || q.Get("token") == "" {
		return "", false
	}
	return q.Get("token"), true
}

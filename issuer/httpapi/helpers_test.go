package httpapi_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/httpapi"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/keys"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is an issuer served over HTTP on 127.0.0.1 against a test store.
type env struct {
	t      testing.TB
	db     *store.DB
	store  *countingStore
	clock  *clock
	sealer *keys.Sealer
	policy keys.Policy
	ring   *keys.Keyring
	rot    *keys.Rotator
	iss    *issuer.Issuer
	server *httpapi.Server
	srv    *httptest.Server
	cfg    settings
	logs   *syncBuffer // the server's log, JSON lines, debug level
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// countingStore counts the issuer's store calls. Each method of the SQL
// store is one statement, so the count is the number of SQL round trips.
type countingStore struct {
	*store.DB
	n atomic.Int64
	// beforeSessionRead, when set, runs before each session look-up (a
	// test holds look-ups in flight with it).
	beforeSessionRead atomic.Pointer[func()]
	// beforeUserRead, when set, runs before each look-up of a user by
	// email (each password check of a well-formed email makes one).
	beforeUserRead atomic.Pointer[func()]
}

func (s *countingStore) calls() int64 { return s.n.Load() }

func (s *countingStore) CreateUser(ctx context.Context, u issuer.User) error {
	s.n.Add(1)
	return s.DB.CreateUser(ctx, u)
}

func (s *countingStore) UserByEmail(ctx context.Context, email string) (issuer.User, error) {
	s.n.Add(1)
	if f := s.beforeUserRead.Load(); f != nil {
		(*f)()
	}
	return s.DB.UserByEmail(ctx, email)
}

func (s *countingStore) UserByID(ctx context.Context, id string) (issuer.User, error) {
	s.n.Add(1)
	return s.DB.UserByID(ctx, id)
}

func (s *countingStore) CreateSession(ctx context.Context, x issuer.Session) error {
	s.n.Add(1)
	return s.DB.CreateSession(ctx, x)
}

func (s *countingStore) SessionWithUser(ctx context.Context, id string) (issuer.Session, issuer.User, error) {
	s.n.Add(1)
	if f := s.beforeSessionRead.Load(); f != nil {
		(*f)()
	}
	return s.DB.SessionWithUser(ctx, id)
}

func (s *countingStore) RotateRefresh(ctx context.Context, id string, from uint64, at, idle time.Time) (bool, error) {
	s.n.Add(1)
	return s.DB.RotateRefresh(ctx, id, from, at, idle)
}

func (s *countingStore) RevokeSession(ctx context.Context, id string, at time.Time, reason string) (bool, error) {
	s.n.Add(1)
	return s.DB.RevokeSession(ctx, id, at, reason)
}

func (s *countingStore) RevokeUserSessions(ctx context.Context, userID, except string, at time.Time, reason string) (int64, error) {
	s.n.Add(1)
	return s.DB.RevokeUserSessions(ctx, userID, except, at, reason)
}

func (s *countingStore) SpendRefresh(ctx context.Context, id string, from uint64, at, idle time.Time) (issuer.Session, issuer.User, []string, bool, error) {
	s.n.Add(1)
	return s.DB.SpendRefresh(ctx, id, from, at, idle)
}

func (s *countingStore) RefreshMACKeys(ctx context.Context) ([]issuer.RefreshMACKey, error) {
	s.n.Add(1)
	return s.DB.RefreshMACKeys(ctx)
}

func (s *countingStore) UserRoles(ctx context.Context, userID string) ([]string, error) {
	s.n.Add(1)
	return s.DB.UserRoles(ctx, userID)
}

func (s *countingStore) ReserveSignin(ctx context.Context, key string, now, resetBefore, leaseUntil time.Time, free int) (bool, time.Time, error) {
	s.n.Add(1)
	return s.DB.ReserveSignin(ctx, key, now, resetBefore, leaseUntil, free)
}

func (s *countingStore) FailSignin(ctx context.Context, key string, at, resetBefore time.Time, delay func(int) time.Duration) (int, time.Time, error) {
	s.n.Add(1)
	return s.DB.FailSignin(ctx, key, at, resetBefore, delay)
}

func (s *countingStore) ReleaseSignin(ctx context.Context, key string) error {
	s.n.Add(1)
	return s.DB.ReleaseSignin(ctx, key)
}

func (s *countingStore) ClearSigninFailures(ctx context.Context, key string) error {
	s.n.Add(1)
	return s.DB.ClearSigninFailures(ctx, key)
}

func (s *countingStore) RecordEvent(ctx context.Context, e issuer.AuditEvent) error {
	s.n.Add(1)
	return s.DB.RecordEvent(ctx, e)
}

func (s *countingStore) Ping(ctx context.Context) error {
	s.n.Add(1)
	return s.DB.Ping(ctx)
}

var _ issuer.Store = (*countingStore)(nil)

// settings are what a test may change: the services' and the HTTP
// layer's configuration.
type settings struct {
	issuer.Config
	httpConfig
}

type httpConfig = httpapi.Config

func newEnv(t testing.TB, db *store.DB, opts ...func(*settings, *keys.Policy)) *env {
	t.Helper()
	e := &env{t: t, db: db, store: &countingStore{DB: db}, clock: newClock(), logs: &syncBuffer{}}
	e.sealer, _ = keys.NewSealer(bytes.Repeat([]byte{7}, 32))
	e.policy = keys.Policy{
		Alg: keys.EdDSA, RSABits: 2048, RotationPeriod: 7 * 24 * time.Hour, JWKSMaxAge: 5 * time.Minute,
		ReloadInterval: 10 * time.Second, AccessTokenTTL: 15 * time.Minute, Leeway: 30 * time.Second,
	}
	e.cfg.Config = issuer.Config{
		IssuerURL:  "http://issuer.test",
		Audience:   []string{"http://issuer.test"},
		BcryptCost: 4,
		Now:        e.clock.Now,
		// The defaults, spelled out for the tests that depend on them.
		RefreshTokenTTL:   168 * time.Hour,
		SessionMaxAge:     720 * time.Hour,
		RefreshReuseGrace: 10 * time.Second,
		Logger:            slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		// Today's sign-up answers (201/409); the lifecycle tests choose.
		Lifecycle: issuer.LifecycleConfig{SignupMode: issuer.SignupOpen},
	}
	for _, o := range opts {
		o(&e.cfg, &e.policy)
	}
	e.rot = &keys.Rotator{Store: db, Sealer: e.sealer, Policy: e.policy, Now: e.clock.Now}
	e.ring = keys.NewKeyring(db, e.sealer, e.policy, e.clock.Now)
	if _, err := e.rot.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.ring.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(e.cfg.Config, e.store, e.ring, e.sealer)
	if err != nil {
		t.Fatal(err)
	}
	e.iss = iss
	s, err := httpapi.NewServer(iss, e.cfg.httpConfig)
	if err != nil {
		t.Fatal(err)
	}
	e.server = s
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request with a JSON body (a string is sent as is) and returns
// the response with its body read.
func (e *env) do(method, path string, body any, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		r = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

func (e *env) signup(email, password string) {
	e.t.Helper()
	resp, body := e.do("POST", "/v1/signup", map[string]string{"email": email, "password": password})
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("signup %s: %d %s", email, resp.StatusCode, body)
	}
}

// tokens is the body of sign-in and refresh.
type tokens struct {
	AccessToken      string      `json:"access_token"`
	TokenType        string      `json:"token_type"`
	ExpiresIn        int         `json:"expires_in"`
	RefreshToken     string      `json:"refresh_token"`
	RefreshExpiresIn int         `json:"refresh_expires_in"`
	User             issuer.User `json:"user"`
}

func (e *env) signin(email, password string) tokens {
	e.t.Helper()
	resp, body := e.do("POST", "/v1/signin", map[string]string{"email": email, "password": password})
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("signin %s: %d %s", email, resp.StatusCode, body)
	}
	var tk tokens
	if err := json.Unmarshal(body, &tk); err != nil {
		e.t.Fatal(err)
	}
	return tk
}

// apiErr decodes the error body and checks status and code.
func wantError(t testing.TB, resp *http.Response, body []byte, status int, code string) string {
	t.Helper()
	var eb struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error body is not JSON: %s", body)
	}
	if resp.StatusCode != status || eb.Error != code || eb.Description == "" {
		t.Fatalf("got %d %s, want %d with error %q and a description", resp.StatusCode, body, status, code)
	}
	return eb.Description
}

const cryptoSHA256 = crypto.SHA256

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// tampered returns tok with its last two characters replaced by others,
// so that it differs from tok whatever those were.
func tampered(tok string) string {
	tail := "AA"
	if strings.HasSuffix(tok, tail) {
		tail = "BB"
	}
	return tok[:len(tok)-2] + tail
}

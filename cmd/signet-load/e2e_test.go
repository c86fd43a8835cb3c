package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIssuer implements the issuer's HTTP contract in memory, keeps its own
// count of everything it answered, and injects one throttled sign-in and
// one revoked session.
type fakeIssuer struct {
	mu        sync.Mutex
	users     map[string]fakeUser // email → user
	sessions  map[string]int      // session id → latest refresh generation
	owners    map[string]fakeUser // session id → user
	access    map[string]fakeUser // access token → user
	requests  map[string]int      // endpoint → requests answered
	refreshOK int
	// refresh tokens that were valid once but not the latest of their
	// session: the tool must never present one.
	stale          int
	signinCalls    int
	refreshCalls   int
	throttleSignin int // this sign-in call gets 429
	revokeRefresh  int // this refresh call finds its session revoked
	nextID         int
}

type fakeUser struct{ id, email, password string }

func newFakeIssuer() *fakeIssuer {
	return &fakeIssuer{
		users:          make(map[string]fakeUser),
		sessions:       make(map[string]int),
		owners:         make(map[string]fakeUser),
		access:         make(map[string]fakeUser),
		requests:       make(map[string]int),
		throttleSignin: 2,
		revokeRefresh:  3,
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": code})
}

func (f *fakeIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests[r.URL.Path]++
	var in struct{ Email, Password, RefreshToken string }
	if r.Method == http.MethodPost {
		var raw map[string]string
		if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
			oauthError(w, 400, "invalid_request")
			return
		}
		in.Email, in.Password, in.RefreshToken = raw["email"], raw["password"], raw["refresh_token"]
	}
	switch r.URL.Path {
	case "/v1/signup":
		if _, ok := f.users[in.Email]; ok {
			oauthError(w, 409, "email_taken")
			return
		}
		f.nextID++
		u := fakeUser{id: fmt.Sprintf("u%d", f.nextID), email: in.Email, password: in.Password}
		f.users[in.Email] = u
		writeJSON(w, 201, map[string]any{"user": map[string]string{"id": u.id, "email": u.email, "created_at": "now"}})
	case "/v1/signin":
		f.signinCalls++
		if f.signinCalls == f.throttleSignin {
			w.Header().Set("Retry-After", "0")
			oauthError(w, 429, "slow_down")
			return
		}
		u, ok := f.users[in.Email]
		if !ok || u.password != in.Password {
			oauthError(w, 401, "invalid_grant")
			return
		}
		f.nextID++
		sid := fmt.Sprintf("s%d", f.nextID)
		f.issue(w, u, sid)
	case "/v1/token/refresh":
		f.refreshCalls++
		sid, gen, ok := parseRefresh(in.RefreshToken)
		latest, live := f.sessions[sid]
		switch {
		case !ok || !live:
			oauthError(w, 401, "invalid_grant")
		case gen != latest:
			f.stale++
			delete(f.sessions, sid) // reuse of an old token: theft, revoke
			oauthError(w, 401, "invalid_grant")
		case f.refreshCalls == f.revokeRefresh:
			delete(f.sessions, sid)
			oauthError(w, 401, "invalid_grant")
		default:
			f.refreshOK++
			f.issue(w, f.owners[sid], sid)
		}
	case "/.well-known/jwks.json":
		w.Header().Set("ETag", `"k1"`)
		w.Header().Set("Cache-Control", "public, max-age=2")
		if r.Header.Get("If-None-Match") == `"k1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		writeJSON(w, 200, map[string]any{"keys": []map[string]string{{"kid": "k1", "alg": "EdDSA", "kty": "OKP"}}})
	default:
		oauthError(w, 404, "not_found")
	}
}

// issue rotates the session's refresh token and mints an access token.
func (f *fakeIssuer) issue(w http.ResponseWriter, u fakeUser, sid string) {
	gen := f.sessions[sid] + 1
	f.sessions[sid] = gen
	f.owners[sid] = u
	at := fmt.Sprintf("at.%s.%d", sid, gen)
	f.access[at] = u
	writeJSON(w, 200, map[string]any{
		"access_token": at, "token_type": "Bearer", "expires_in": 60,
		"refresh_token":      fmt.Sprintf("rt.%s.%d.x", sid, gen),
		"refresh_expires_in": 3600,
		"user":               map[string]string{"id": u.id, "email": u.email},
	})
}

func parseRefresh(tok string) (sid string, gen int, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 4 || parts[0] != "rt" {
		return "", 0, false
	}
	_, err := fmt.Sscan(parts[2], &gen)
	return parts[1], gen, err == nil
}

// fakeAPI is a resource server: every 7th call says the token expired, and
// the 5th call of the shared counter says bad signature, once.
type fakeAPI struct {
	iss   *fakeIssuer
	calls *apiCalls
}

type apiCalls struct {
	mu      sync.Mutex
	n       int
	ok      int
	refused map[string]int // kind → 401s sent
}

func (a fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a.iss.mu.Lock()
	u, known := a.iss.access[tok]
	a.iss.mu.Unlock()
	c := a.calls
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	kind := ""
	switch {
	case r.URL.Path != "/api/me":
		http.NotFound(w, r)
		return
	case !known:
		kind = "malformed"
	case c.n == 5:
		kind = "bad_signature"
	case c.n%7 == 0:
		kind = "expired"
	}
	if kind != "" {
		c.refused[kind]++
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, 401, map[string]string{"error": "invalid_token", "error_description": kind, "kind": kind})
		return
	}
	c.ok++
	writeJSON(w, 200, map[string]string{"sub": u.id, "email": u.email})
}

type fakeStack struct {
	iss          *fakeIssuer
	calls        *apiCalls
	issuerURLs   []string
	apiURLs      []string
	issuerServed []*countingHandler
}

type countingHandler struct {
	mu sync.Mutex
	n  int
	h  http.Handler
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

// startFakes starts two issuer replicas sharing one state and two resource
// servers, all on 127.0.0.1.
func startFakes(t *testing.T) *fakeStack {
	t.Helper()
	s := &fakeStack{iss: newFakeIssuer(), calls: &apiCalls{refused: make(map[string]int)}}
	for range 2 {
		ch := &countingHandler{h: s.iss}
		srv := httptest.NewServer(ch)
		t.Cleanup(srv.Close)
		s.issuerURLs = append(s.issuerURLs, srv.URL)
		s.issuerServed = append(s.issuerServed, ch)
	}
	for range 2 {
		srv := httptest.NewServer(fakeAPI{iss: s.iss, calls: s.calls})
		t.Cleanup(srv.Close)
		s.apiURLs = append(s.apiURLs, srv.URL)
	}
	return s
}

// args are the command-line for the fakes. The fakes fail some requests
// on purpose, so --max-failed is off unless extra sets it.
func (s *fakeStack) args(extra ...string) []string {
	return append([]string{
		"--issuer", strings.Join(s.issuerURLs, ","),
		"--api", s.apiURLs[0], "--api", s.apiURLs[1],
		"--progress=false", "--json", "--max-failed", "off",
	}, extra...)
}

func runJSON(t *testing.T, args []string) (*report, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, &stdout, &stderr)
	var rep report
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
		t.Fatalf("report is not JSON (%v); run returned %v\nstdout: %s\nstderr: %s", jerr, err, stdout.String(), stderr.String())
	}
	return &rep, err
}

func TestEndToEndCountsMatchTheServers(t *testing.T) {
	s := startFakes(t)
	accounts := filepath.Join(t.TempDir(), "accounts.txt")
	const total = 800
	rep, err := runJSON(t, s.args(
		"--concurrency", "6", "--requests", fmt.Sprint(total), "--duration", "1m",
		"--mix", "signup=1,signin=2,refresh=10,api=20,jwks=2", "--jwks-if-none-match",
		"--accounts-out", accounts,
	))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	iss, calls := s.iss, s.calls
	iss.mu.Lock()
	defer iss.mu.Unlock()
	calls.mu.Lock()
	defer calls.mu.Unlock()

	served := calls.n
	for _, p := range []string{"/v1/signup", "/v1/signin", "/v1/token/refresh", "/.well-known/jwks.json"} {
		served += iss.requests[p]
	}
	if rep.Requests != total || served != total {
		t.Errorf("report counts %d requests, servers answered %d, want %d each", rep.Requests, served, total)
	}
	for name, path := range map[string]string{"signup": "/v1/signup", "signin": "/v1/signin", "refresh": "/v1/token/refresh", "jwks": "/.well-known/jwks.json"} {
		if got, want := rep.Operations[name].Requests, int64(iss.requests[path]); got != want {
			t.Errorf("%s: report %d requests, issuer answered %d", name, got, want)
		}
	}
	if got := rep.Operations["api"].Requests; got != int64(calls.n) {
		t.Errorf("api: report %d requests, resource servers answered %d", got, calls.n)
	}
	for i, ch := range s.issuerServed {
		if ch.n < total/10 {
			t.Errorf("issuer replica %d got %d requests: not round-robin", i, ch.n)
		}
	}

	if iss.stale != 0 {
		t.Errorf("the tool presented %d refresh tokens that were not the latest of their session", iss.stale)
	}
	if got := rep.Operations["refresh"].Failures["401 invalid_grant"]; got != 1 {
		t.Errorf("refresh failures 401 invalid_grant = %d, want the 1 revoked session", got)
	}
	if got := rep.Operations["refresh"].OK; got != int64(iss.refreshOK) {
		t.Errorf("refresh ok = %d, issuer rotated %d", got, iss.refreshOK)
	}
	if got := rep.Operations["signin"].Failures["429 slow_down"]; got != 1 {
		t.Errorf("signin failures 429 slow_down = %d, want 1", got)
	}
	if rep.SessionsStarted != rep.Operations["signin"].OK {
		t.Errorf("sessions started %d, sign-ins ok %d", rep.SessionsStarted, rep.Operations["signin"].OK)
	}
	if rep.Failed != rep.FailuresByKind["401 invalid_grant"]+rep.FailuresByKind["429 slow_down"]+
		rep.FailuresByKind["401 invalid_token (expired)"]+rep.FailuresByKind["401 invalid_token (bad_signature)"] {
		t.Errorf("unexpected failure kinds: %v", rep.FailuresByKind)
	}

	if rep.VerificationFailuresExpired != int64(calls.refused["expired"]) || calls.refused["expired"] == 0 {
		t.Errorf("verification failures expired = %d, servers said expired %d times", rep.VerificationFailuresExpired, calls.refused["expired"])
	}
	if rep.VerificationFailuresOther != 1 || rep.VerificationFailuresByKind["bad_signature"] != 1 {
		t.Errorf("verification failures other = %d by kind %v, want 1 bad_signature", rep.VerificationFailuresOther, rep.VerificationFailuresByKind)
	}
	if calls.refused["malformed"] != 0 {
		t.Errorf("the tool sent %d access tokens the issuer never issued", calls.refused["malformed"])
	}
	if rep.IdentityMismatches != 0 || rep.Operations["api"].OK != int64(calls.ok) {
		t.Errorf("identity mismatches %d, api ok %d, servers said ok %d", rep.IdentityMismatches, rep.Operations["api"].OK, calls.ok)
	}
	if rep.JWKSFull+rep.JWKSNotModified != rep.Operations["jwks"].Requests || rep.JWKSNotModified == 0 {
		t.Errorf("jwks 200 %d + 304 %d, requests %d", rep.JWKSFull, rep.JWKSNotModified, rep.Operations["jwks"].Requests)
	}

	emails := readLines(t, accounts)
	if int64(len(emails)) != rep.AccountsCreated || len(emails) != len(iss.users) || rep.Operations["signup"].OK != rep.AccountsCreated {
		t.Errorf("accounts file %d lines, report %d created, issuer has %d users", len(emails), rep.AccountsCreated, len(iss.users))
	}
	for _, e := range emails {
		if _, ok := iss.users[e]; !ok {
			t.Errorf("account %q in the file does not exist at the issuer", e)
		}
	}
	if !rep.Passed || len(rep.Violations) != 0 {
		t.Errorf("report failed without thresholds: %v", rep.Violations)
	}
	if rep.Operations["api"].LatencyMS.Max <= 0 || rep.Operations["api"].LatencyMS.P50 > rep.Operations["api"].LatencyMS.P99 {
		t.Errorf("api latency %+v", rep.Operations["api"].LatencyMS)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func TestEndToEndThresholds(t *testing.T) {
	t.Run("verification errors", func(t *testing.T) {
		s := startFakes(t)
		rep, err := runJSON(t, s.args("--concurrency", "2", "--requests", "200", "--mix", "refresh=1,api=5", "--fail-on-verify-errors"))
		if !errors.Is(err, errThresholds) || rep.Passed || rep.VerificationFailuresOther != 1 {
			t.Errorf("run = %v, passed %v, other %d; want a threshold failure for the bad signature", err, rep.Passed, rep.VerificationFailuresOther)
		}
	})
	t.Run("error rate", func(t *testing.T) {
		s := startFakes(t)
		// The throttled sign-in is one failure in a handful of sign-ins.
		rep, err := runJSON(t, s.args("--concurrency", "1", "--requests", "20", "--mix", "refresh=1", "--max-error-rate", "1%"))
		if !errors.Is(err, errThresholds) || len(rep.Violations) == 0 || !strings.Contains(rep.Violations[0], "error rate") {
			t.Errorf("run = %v, violations %v; want an error-rate failure", err, rep.Violations)
		}
	})
	t.Run("generous limits pass", func(t *testing.T) {
		s := startFakes(t)
		_, err := runJSON(t, s.args("--concurrency", "1", "--requests", "20", "--mix", "refresh=1", "--max-error-rate", "60%", "--fail-on-verify-errors"))
		if err != nil {
			t.Errorf("run = %v, want a pass", err)
		}
	})
}

func TestEndToEndRateAndDuration(t *testing.T) {
	t.Run("rate with a request budget", func(t *testing.T) {
		s := startFakes(t)
		rep, err := runJSON(t, s.args("--rate", "2000/s", "--requests", "60", "--mix", "refresh=2,api=3"))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Mode != "rate" || rep.Requests != 60 {
			t.Errorf("mode %q, %d requests; want rate, 60", rep.Mode, rep.Requests)
		}
	})
	t.Run("duration ends the run", func(t *testing.T) {
		s := startFakes(t)
		start := time.Now()
		rep, err := runJSON(t, s.args("--concurrency", "3", "--duration", "300ms", "--rate", "200"))
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("a 300ms run took %v", time.Since(start))
		}
		s.iss.mu.Lock()
		defer s.iss.mu.Unlock()
		s.calls.mu.Lock()
		defer s.calls.mu.Unlock()
		served := int64(s.calls.n)
		for _, n := range s.iss.requests {
			served += int64(n)
		}
		// 200/s for 0.3s: bounded by the pacer, and every request counted.
		if rep.Requests == 0 || rep.Requests > 62 || rep.Requests != served {
			t.Errorf("report %d requests, servers answered %d; want equal, between 1 and 62", rep.Requests, served)
		}
	})
}

// TestEndToEndWarmup: requests that end in the warm-up (here the workers'
// own sign-ups and sign-ins, their first requests) are left out.
func TestEndToEndWarmup(t *testing.T) {
	s := startFakes(t)
	rep, err := runJSON(t, s.args("--concurrency", "2", "--duration", "1500ms", "--warmup", "1s", "--rate", "100", "--mix", "refresh=1"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.WarmupSeconds != 1 || rep.ElapsedSeconds >= 1.5 {
		t.Errorf("warm-up %gs, measured %gs; want 1s and the rest", rep.WarmupSeconds, rep.ElapsedSeconds)
	}
	if n := rep.Operations["signup"].Requests + rep.Operations["signin"].Requests; n != 0 {
		t.Errorf("%d sign-ups and sign-ins counted, want none", n)
	}
	if rep.Operations["refresh"].Requests == 0 || rep.SessionsStarted < 2 {
		t.Errorf("%d refreshes counted, %d sessions started; want some and at least 2", rep.Operations["refresh"].Requests, rep.SessionsStarted)
	}
}

func TestEndToEndRotationCommand(t *testing.T) {
	for _, tt := range []struct {
		cmd            string
		wantOK, wantKO bool
	}{
		{cmd: `/bin/sh -c "echo rotated"`, wantOK: true},
		{cmd: `/bin/sh -c "echo no database >&2; exit 3"`, wantKO: true},
	} {
		s := startFakes(t)
		rep, err := runJSON(t, s.args("--concurrency", "1", "--duration", "450ms", "--rate", "50", "--mix", "jwks=1",
			"--rotate-every", "100ms", "--rotate-cmd", tt.cmd))
		if err != nil {
			t.Fatal(err)
		}
		r := rep.Rotations
		if r == nil || (r.OK > 0) != tt.wantOK || (r.Failed > 0) != tt.wantKO {
			t.Errorf("%s: rotations %+v", tt.cmd, r)
		}
		if tt.wantKO && !strings.Contains(r.LastError, "no database") {
			t.Errorf("last error %q does not carry the command's output", r.LastError)
		}
	}
}

func TestTextReport(t *testing.T) {
	s := startFakes(t)
	var stdout bytes.Buffer
	args := []string{
		"--issuer", s.issuerURLs[0], "--issuer", s.issuerURLs[1], "--api", strings.Join(s.apiURLs, ","),
		"--progress=false", "--concurrency", "2", "--requests", "100", "--mix", "signup=1,signin=1,refresh=2,api=5",
		"--max-failed", "off",
	}
	if err := run(t.Context(), args, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	t.Log("\n" + out)
	for _, want := range []string{"operation", "p99_ms", "refresh", "api", "expired", "other 1", "result: pass"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}

// TestFailedRequestsFailTheRun: a run in which a third of the requests
// fail says so, by outcome, and fails under the default --max-failed;
// a generous --max-failed lets it pass, still counting the failures.
func TestFailedRequestsFailTheRun(t *testing.T) {
	// start serves an issuer that refuses every third JWKS request.
	start := func() (args []string, refused *atomic.Int64) {
		iss := newFakeIssuer()
		var jwks atomic.Int64
		refused = &atomic.Int64{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/.well-known/jwks.json" && jwks.Add(1)%3 == 0 {
				refused.Add(1)
				oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable")
				return
			}
			iss.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		return []string{"--issuer", srv.URL, "--progress=false", "--concurrency", "1", "--requests", "62", "--mix", "jwks=1"}, refused
	}

	args, refused := start()
	var stdout bytes.Buffer
	err := run(t.Context(), args, &stdout, io.Discard)
	out := stdout.String()
	if !errors.Is(err, errThresholds) {
		t.Fatalf("run = %v, want a threshold failure\n%s", err, out)
	}
	n := refused.Load()
	for _, want := range []string{
		fmt.Sprintf("outcomes: %d ok, %d failed (", 62-n, n),
		"limit 1%)",
		fmt.Sprintf("result: FAIL (%d of 62 requests failed", n),
		"> --max-failed 1%)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "result: pass") {
		t.Errorf("report says pass:\n%s", out)
	}

	args, refused = start()
	stdout.Reset()
	if err := run(t.Context(), append(args, "--max-failed", "50%", "--json"), &stdout, io.Discard); err != nil {
		t.Fatalf("run with --max-failed 50%%: %v", err)
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	n = refused.Load()
	if !rep.Passed || rep.Failed != n || rep.FailuresByKind["503 temporarily_unavailable"] != n || rep.OK != 62-n || rep.MaxFailed != 0.5 || rep.FailedRatio < 0.3 {
		t.Errorf("report: passed %v, ok %d, failed %d %v (server refused %d), ratio %g, max %g", rep.Passed, rep.OK, rep.Failed, rep.FailuresByKind, n, rep.FailedRatio, rep.MaxFailed)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/httpapi"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
	"github.com/signet-auth/signet/verifier"
)

// replicas starts two issuer servers on one store, like two replicas on
// one database: the iss claim and discovery name the second.
func replicas(t *testing.T, wrap ...func(http.Handler) http.Handler) (a, b *httptest.Server) {
	t.Helper()
	db := storetest.Open(t, store.SQLite)
	sealer, _ := keys.NewSealer(bytes.Repeat([]byte{7}, 32))
	policy := keys.Policy{Alg: keys.EdDSA, RotationPeriod: 24 * time.Hour, JWKSMaxAge: time.Minute,
		ReloadInterval: time.Second, AccessTokenTTL: 15 * time.Minute, Leeway: 30 * time.Second}
	rot := &keys.Rotator{Store: db, Sealer: sealer, Policy: policy}
	if _, err := rot.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	lnB, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + lnB.Addr().String()
	var handlers [2]http.Handler
	for i := range handlers {
		ring := keys.NewKeyring(db, sealer, policy, nil)
		if err := ring.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		iss, err := issuer.New(issuer.Config{IssuerURL: url, Audience: []string{url}, BcryptCost: 4,
			SignupLimit: issuer.RateLimit{Burst: -1}, Lifecycle: issuer.LifecycleConfig{SignupMode: issuer.SignupOpen}}, db, ring, sealer)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := httpapi.NewServer(iss, httpapi.Config{})
		if err != nil {
			t.Fatal(err)
		}
		handlers[i] = srv.Handler()
		if i < len(wrap) {
			handlers[i] = wrap[i](handlers[i])
		}
	}
	a = httptest.NewServer(handlers[0])
	b = httptest.NewUnstartedServer(handlers[1])
	b.Listener.Close()
	b.Listener = lnB
	b.Start()
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	return a, b
}

// resourceServer verifies tokens with the verifier package, following
// the revocation feed, and answers GET /api/me like the demo servers.
func resourceServer(t *testing.T, issuerURL string) *httptest.Server {
	t.Helper()
	v, err := verifier.New(context.Background(), verifier.Config{Issuer: issuerURL, Audience: issuerURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := v.Authenticate(r)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_token", "kind": verifier.ErrorKind(err)})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"sub": c.Subject, "email": c.Email})
	}))
	t.Cleanup(s.Close)
	return s
}

// TestReachWithReplicaFailover: with a real issuer (two servers on one
// store) and two resource servers, --signouts times every sign-out to a
// 401 revoked at both, and the feed follower, moved from replica A to B
// when A stops partway, resumes from its cursor and sees every sign-out.
func TestReachWithReplicaFailover(t *testing.T) {
	var a, b *httptest.Server

	// Sign-outs go to B. After the fifth, B holds the next one until A
	// has answered the follower with a cursor and been stopped.
	var signouts atomic.Int64
	aStopped := make(chan struct{})
	var aAnswered atomic.Int64 // feed requests to A that carried a cursor past 0
	var stopOnce sync.Once
	stopA := func() {
		stopOnce.Do(func() {
			a.CloseClientConnections()
			a.Close()
			close(aStopped)
		})
	}
	// The handlers are wrapped before the servers start (a server's
	// handler is not to be replaced while it serves).
	wrapA := func(orig http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/revocations" {
				if after := r.URL.Query().Get("after"); after != "" && after != "0" {
					aAnswered.Add(1)
				}
			}
			orig.ServeHTTP(w, r)
		})
	}
	wrapB := func(origB http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/signout" && signouts.Add(1) == 6 {
				go func() {
					for i := 0; i < 1000 && aAnswered.Load() == 0; i++ {
						time.Sleep(10 * time.Millisecond)
					}
					stopA()
				}()
				select {
				case <-aStopped:
				case <-time.After(15 * time.Second):
				}
			}
			origB.ServeHTTP(w, r)
		})
	}
	a, b = replicas(t, wrapA, wrapB)
	shop, video := resourceServer(t, b.URL), resourceServer(t, b.URL)

	outFile := filepath.Join(t.TempDir(), "signouts.txt")
	rep, err := runJSON(t, []string{"--issuer", b.URL, "--signouts-out", outFile,
		"--target", shop.URL + ",path=/api/me", "--api", video.URL,
		"--signouts", "20", "--signout-workers", "2", "--reach-timeout", "10s",
		"--feed-issuer", a.URL, "--feed-issuer", b.URL,
		"--concurrency", "2", "--duration", "60s", "--mix", "refresh=1,api=5", "--progress=false", "--json"})
	if err != nil {
		t.Fatalf("run: %v (%+v)", err, rep)
	}
	so := rep.Signouts
	if so == nil || so.Measured != 20 || so.NotReached != 0 || so.WrongKind != 0 || len(so.ReachMS) != 2 {
		t.Fatalf("sign-outs: %+v", so)
	}
	for name, l := range so.ReachMS {
		if l.P50 <= 0 || l.P99 < l.P50 || l.Max > 10000 {
			t.Fatalf("reach at %s: %+v", name, l)
		}
	}
	f := so.Feed
	if f == nil || f.Missed != 0 || f.Failovers < 1 || f.ResumedWithCursor < 1 || f.Answers[0] == 0 || f.Answers[1] == 0 || f.Events < 20 ||
		len(f.Switches) == 0 || f.Switches[0].From != 0 || f.Switches[0].To != 1 || f.Switches[0].After == "" || f.Switches[0].After == "0" {
		t.Fatalf("feed follower: %+v", f)
	}
	lines := readLines(t, outFile)
	if len(lines) != 20 {
		t.Fatalf("--signouts-out has %d lines, want 20", len(lines))
	}
	for _, l := range lines {
		if fs := strings.Fields(l); len(fs) != 3 || fs[1] != "reached" {
			t.Fatalf("--signouts-out line %q", l)
		}
	}
	select {
	case <-aStopped:
	default:
		t.Fatal("replica A was never stopped")
	}
	if rep.VerificationFailuresOther != 0 || rep.IdentityMismatches != 0 || rep.Interrupted {
		t.Fatalf("load: %+v", rep)
	}
	if !strings.Contains(strings.Join(rep.APIs, " "), shop.URL+"/api/me") {
		t.Fatalf("targets: %v", rep.APIs)
	}
}

// TestIdleFollowers: --followers runs real verifiers that long-poll the
// feed, each from its own loopback address, and counts their requests,
// bytes and the CPU time of --cpu-pid over the window.
func TestIdleFollowers(t *testing.T) {
	_, b := replicas(t)
	// An idle test process may use less than one clock tick of CPU in the
	// window; a light, steady load on it makes the --cpu-pid reading one
	// that must come out above zero.
	burnCtx, stopBurn := context.WithCancel(t.Context())
	defer stopBurn()
	go burnCPU(burnCtx, 10*time.Millisecond, 100*time.Millisecond)
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"--issuer", b.URL, "--followers", "3", "--follower-timeout", "3s",
		"--duration", "3s", "--cpu-pid", strconv.Itoa(os.Getpid()), "--json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	var fr followersReport
	if err := json.Unmarshal(stdout.Bytes(), &fr); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	// A 3 s client long-polls 1 s: about three requests each in 3 s.
	if fr.Followers != 3 || fr.FeedRequests < 3 || fr.FeedRequests > 30 || fr.BytesIn == 0 || fr.BytesOut == 0 ||
		fr.RequestsPerMinute <= 0 || fr.WindowSeconds < 3 || fr.CPUPid != os.Getpid() || fr.CPUSeconds <= 0 || fr.FetchErrors != 0 {
		t.Fatalf("followers report: %+v", fr)
	}
	for _, bad := range [][]string{
		{"--issuer", b.URL, "--followers", "2000", "--duration", "1s"},
		{"--issuer", b.URL, "--followers", "2", "--signouts", "3", "--api", b.URL, "--duration", "1s"},
		{"--issuer", b.URL, "--cpu-pid", "1", "--api", b.URL, "--duration", "1s"},
		{"--issuer", b.URL, "--signouts", "3", "--duration", "1s", "--mix", "refresh=1"},
		{"--issuer", b.URL, "--target", b.URL + ",color=red", "--duration", "1s"},
		{"--issuer", b.URL, "--target", "http://192.0.2.1:80", "--duration", "1s"},
	} {
		if err := run(t.Context(), bad, io.Discard, io.Discard); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}

// burnCPU spins for busy out of every period until ctx ends.
func burnCPU(ctx context.Context, busy, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		for end := time.Now().Add(busy); time.Now().Before(end); {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

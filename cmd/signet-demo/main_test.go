package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDemo runs the demo page and returns its log once it serves.
func startDemo(t *testing.T, args ...string) (bound string, log *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log = &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(string) string { return "" }, log, ready) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	select {
	case bound = <-ready:
	case err := <-done:
		t.Fatalf("demo exited: %v\n%s", err, log)
	}
	return bound, log
}

// fakeIssuer answers CORS preflights, allowing the origins given.
func fakeIssuer(t *testing.T, allowed ...string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := r.Header.Get("Origin")
		for _, a := range allowed {
			if a == o {
				w.Header().Set("Access-Control-Allow-Origin", o)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		w.WriteHeader(http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestDemoPrintsTheOriginToOpen: the page's URL keeps the host name
// given (localhost, not 127.0.0.1, which is another origin), and the log
// gives the settings the issuer and the resource servers need for it.
func TestDemoPrintsTheOriginToOpen(t *testing.T) {
	bound, log := startDemo(t, "--addr", "localhost:0", "--issuer", fakeIssuer(t))
	_, port, _ := net.SplitHostPort(bound)
	origin := "http://localhost:" + port
	for _, want := range []string{"url=" + origin, `issuer_needs="SIGNET_CORS_ORIGINS=` + origin + `"`, `resource_servers_need="ALLOWED_ORIGINS=` + origin + `"`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log.String(), "http://127.0.0.1:"+port) {
		t.Errorf("log names the 127.0.0.1 origin:\n%s", log)
	}
}

// TestDemoChecksTheIssuersCORS: at start the demo asks the issuer, as a
// preflight would, and warns when the page's origin is not allowed.
func TestDemoChecksTheIssuersCORS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	origin := "http://" + addr

	_, log := startDemo(t, "--addr", addr, "--issuer", fakeIssuer(t, "http://localhost:3000"))
	if !strings.Contains(log.String(), "does not allow this page's origin") || !strings.Contains(log.String(), "SIGNET_CORS_ORIGINS="+origin) {
		t.Fatalf("no warning for an issuer that refuses %s:\n%s", origin, log)
	}
}

func TestDemoCORSAllowed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, log := startDemo(t, "--addr", addr, "--issuer", fakeIssuer(t, "http://"+addr))
	if strings.Contains(log.String(), "does not allow") {
		t.Fatalf("warned although the issuer allows the origin:\n%s", log)
	}
}

func TestDemoRefusesStrayArguments(t *testing.T) {
	var log syncBuffer
	err := run(context.Background(), []string{"--addr", "127.0.0.1:0", "extra"}, func(string) string { return "" }, &log, nil)
	if err != errUsage || !strings.Contains(log.String(), `unexpected argument "extra"`) {
		t.Fatalf("run = %v, log %q", err, log.String())
	}
}

package httprun

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	// A new connection for every request, as a client arriving during
	// the drain makes.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDrain: once the context ends, readiness fails at once while new
// connections are still accepted and served; when the drain ends, the
// listener closes and the request in flight still finishes.
func TestDrain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ready") })
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, "done")
	})
	var draining atomic.Bool
	endDrain := make(chan struct{})
	hs := &http.Server{Handler: NotReadyWhileDraining(mux, "/readyz", &draining), ReadHeaderTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, hs, ln, Options{Drain: time.Hour, Draining: &draining, EndDrain: endDrain, Grace: time.Minute})
	}()

	if code, body := get(t, base+"/readyz"); code != 200 || body != "ready" {
		t.Fatalf("readyz before shutdown: %d %q", code, body)
	}
	cancel()
	for !draining.Load() {
		time.Sleep(time.Millisecond)
	}
	if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz while draining: %d, want 503", code)
	}
	for range 20 {
		if code, body := get(t, base+"/hello"); code != 200 || body != "hello" {
			t.Fatalf("a new connection while draining: %d %q", code, body)
		}
	}

	slow := make(chan string, 1)
	go func() {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(base + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	<-started
	close(endDrain)
	// The listener closes; the request in flight is still served.
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v with a request in flight", err)
	default:
	}
	close(release)
	if got := <-slow; got != "done" {
		t.Fatalf("the request in flight got %q", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestNoDrain: without a drain period the listener closes at once.
func TestNoDrain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var draining atomic.Bool
	if err := Run(ctx, &http.Server{Handler: http.NotFoundHandler()}, ln, Options{Draining: &draining, Grace: time.Second}); err != nil {
		t.Fatal(err)
	}
	if !draining.Load() {
		t.Fatal("Draining was not set")
	}
}

// TestLimitPerIP: a client address gets at most max open connections;
// one over is closed before it is served, and a closed one frees its
// slot.
func TestLimitPerIP(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitPerIP(raw, PerIP{Max: 2})
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }), ReadHeaderTimeout: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, hs, ln, Options{Grace: time.Second}) }()
	t.Cleanup(func() { cancel(); <-done })

	// request sends one request on c and reads the answer's status line.
	request := func(c net.Conn) (string, error) {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return "", err
		}
		return bufio.NewReader(c).ReadString('\n')
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dial(), dial()
	for _, c := range []net.Conn{a, b} {
		if line, err := request(c); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("a connection within the limit: %q %v", line, err)
		}
	}
	over := dial()
	if line, err := request(over); err == nil {
		t.Fatalf("a third connection from one address was served: %q", line)
	}
	if ln.Rejected() != 1 {
		t.Fatalf("Rejected() = %d, want 1", ln.Rejected())
	}
	a.Close()
	// The server notices the close and frees the slot.
	for {
		c := dial()
		line, err := request(c)
		if err == nil && strings.HasPrefix(line, "HTTP/1.1 200") {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClientKey(t *testing.T) {
	key := func(s string) string {
		p, ok := clientKey(&net.TCPAddr{IP: netip.MustParseAddr(s).AsSlice()})
		if !ok {
			t.Fatalf("no key for %s", s)
		}
		return p.String()
	}
	for addr, want := range map[string]string{
		"192.0.2.7":             "192.0.2.7/32",
		"::ffff:192.0.2.7":      "192.0.2.7/32",
		"2001:db8::1":           "2001:db8::/64",
		"2001:db8::ffff:abcd:1": "2001:db8::/64",
		"2001:db8:0:1::1":       "2001:db8:0:1::/64",
	} {
		if got := key(addr); got != want {
			t.Errorf("clientKey(%s) = %s, want %s", addr, got, want)
		}
	}
	if _, ok := clientKey(&net.UnixAddr{Name: "/run/x.sock", Net: "unix"}); ok {
		t.Error("a Unix socket address has a key")
	}
}

// TestLimitPerIPExempt: addresses in Exempt (proxies) have no cap.
func TestLimitPerIPExempt(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitPerIP(raw, PerIP{Max: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sc := <-accepted
		defer sc.Close()
	}
	if ln.Rejected() != 0 {
		t.Fatalf("Rejected() = %d from an exempt address", ln.Rejected())
	}
}

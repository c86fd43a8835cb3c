package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRawConn: the refresh connection sends a well-formed request, keeps
// the connection while the server does, dials again after a
// "Connection: close", reads chunked bodies, refuses an oversized one and
// gives up at once when the run ends.
func TestRawConn(t *testing.T) {
	var conns, mode atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/token/refresh" || r.Header.Get("Content-Type") != "application/json" ||
			r.Host == "" || string(b) != `{"refresh_token":"x"}` {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		switch mode.Load() {
		case 1:
			w.Header().Set("Connection", "close")
		case 2:
			w.(http.Flusher).Flush() // no Content-Length: chunked
		case 3:
			w.Write(make([]byte, maxBody+10))
			return
		case 4:
			select {
			case <-r.Context().Done():
			case <-time.After(20 * time.Second):
			}
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	rc := newRawConn(srv.URL, 10*time.Second)
	if rc == nil {
		t.Fatal("no raw connection for plain http")
	}
	defer rc.close()
	ctx := context.Background()
	body := []byte(`{"refresh_token":"x"}`)
	check := func(name string, wantConns int32) {
		t.Helper()
		r := rc.post(ctx, "/v1/token/refresh", body)
		if r.err != nil || r.status != http.StatusOK || string(r.body) != `{"ok":true}` || conns.Load() != wantConns {
			t.Fatalf("%s: %d %q %v, %d connections (want %d)", name, r.status, r.body, r.err, conns.Load(), wantConns)
		}
	}
	check("first", 1)
	check("kept alive", 1)
	mode.Store(1)
	check("Connection: close", 1)
	mode.Store(0)
	check("after the close", 2)
	mode.Store(2)
	check("chunked", 2)
	mode.Store(3)
	if r := rc.post(ctx, "/v1/token/refresh", body); r.err == nil || !strings.Contains(r.err.Error(), "over") {
		t.Fatalf("oversized body: %d %v", r.status, r.err)
	}
	mode.Store(4)
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if r := rc.post(cctx, "/v1/token/refresh", body); r.err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("cancelled run: %v after %v", r.err, time.Since(start))
	}
	mode.Store(0)
	check("after the cancel", 4)
	for _, u := range []string{"https://127.0.0.1:1", "http://", "::"} {
		if newRawConn(u, time.Second) != nil {
			t.Errorf("raw connection for %q", u)
		}
	}
}

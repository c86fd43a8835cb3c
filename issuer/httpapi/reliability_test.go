package httpapi_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// shortTimeout is the statement timeout of the tests that wait for it.
const shortTimeout = 300 * time.Millisecond

// openWithTimeout opens a fresh, migrated database with a short statement
// timeout; u is its URL (storetest.URL) when not empty.
func openWithTimeout(t *testing.T, dialect, u string) *store.DB {
	t.Helper()
	if u == "" {
		u = storetest.URL(t, dialect)
	}
	db, err := store.Open(context.Background(), u, store.StatementTimeout(shortTimeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.MigrateUp(); err != nil {
		t.Fatal(err)
	}
	return db
}

// failsafe runs release after a long while, in case the code under test
// waits for it instead of timing out, and reports whether it had to.
func failsafe(t *testing.T, release func()) (fired func() bool) {
	var done atomic.Bool
	timer := time.AfterFunc(30*time.Second, func() { done.Store(true); release() })
	t.Cleanup(func() { timer.Stop() })
	return done.Load
}

// wantUnavailable checks a 503 temporarily_unavailable with Retry-After.
func wantUnavailable(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	wantError(t, resp, body, http.StatusServiceUnavailable, "temporarily_unavailable")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

// TestRefreshBlockedByLockTimesOut: a statement that waits for a lock
// held by another transaction fails at the statement timeout with 503 and
// Retry-After, while the lock is still held, instead of waiting for it.
func TestRefreshBlockedByLockTimesOut(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			db := openWithTimeout(t, d, "")
			e := newEnv(t, db)
			e.signup("ann@example.com", "correct horse")
			tk := e.signin("ann@example.com", "correct horse")

			// Postgres: a table lock blocks even the read. SQLite: the write
			// lock (transactions begin IMMEDIATE) blocks the rotation.
			tx, err := db.SQL().BeginTx(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if d == store.Postgres {
				if _, err := tx.Exec(`LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE`); err != nil {
					t.Fatal(err)
				}
			} else if _, err := tx.Exec(`UPDATE users SET updated_at = updated_at`); err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			release := func() { once.Do(func() { _ = tx.Rollback() }) }
			fired := failsafe(t, release)

			resp, body := e.refresh(tk.RefreshToken)
			if fired() {
				t.Fatal("the refresh waited for the lock")
			}
			wantUnavailable(t, resp, body)
			release()
			if next := e.mustRefresh(tk.RefreshToken); next.RefreshToken == "" {
				t.Fatal("no refresh once the lock was released")
			}
		})
	}
}

// TestNetworkFaultToPostgres: while the network between the issuer and
// Postgres drops everything, requests that need the database answer 503
// with Retry-After within the timeout instead of hanging, and the issuer
// recovers once the network is back.
func TestNetworkFaultToPostgres(t *testing.T) {
	u, err := url.Parse(storetest.URL(t, store.Postgres))
	if err != nil {
		t.Fatal(err)
	}
	p := newFaultProxy(t, u.Host)
	u.Host = p.addr
	db := openWithTimeout(t, store.Postgres, u.String())
	e := newEnv(t, db)
	e.signup("ann@example.com", "correct horse")
	tk := e.signin("ann@example.com", "correct horse")

	p.cut()
	fired := failsafe(t, p.restore)
	resp, body := e.refresh(tk.RefreshToken)
	if fired() {
		t.Fatal("the refresh waited for the network to come back")
	}
	wantUnavailable(t, resp, body)
	p.restore()
	if next := e.mustRefresh(tk.RefreshToken); next.RefreshToken == "" {
		t.Fatal("no refresh once the network was back")
	}
}

// faultProxy forwards TCP connections to a server until cut: then it
// forwards nothing in either direction and closes nothing, like a network
// that drops packets.
type faultProxy struct {
	addr string
	mu   sync.Mutex
	up   *sync.Cond
	down bool
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{addr: ln.Addr().String()}
	p.up = sync.NewCond(&p.mu)
	t.Cleanup(func() {
		ln.Close()
		p.restore()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go p.pipe(s, c)
			go p.pipe(c, s)
		}
	}()
	return p
}

// pipe copies from src to dst, holding each chunk while the proxy is cut.
func (p *faultProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.down {
				p.up.Wait()
			}
			p.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *faultProxy) cut() {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
}

func (p *faultProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.up.Broadcast()
	p.mu.Unlock()
}

// readiness returns /readyz's status and checks.
func (e *env) readiness() (int, map[string]string) {
	e.t.Helper()
	resp, body := e.do("GET", "/readyz", nil)
	var r struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		e.t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	if (resp.StatusCode == http.StatusOK) != (r.Status == "ready") {
		e.t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	return resp.StatusCode, r.Checks
}

// TestSQLiteDiskFull: when the database cannot grow (here PRAGMA
// max_page_count; on a server, a full disk), writes answer 503 with
// Retry-After, /readyz says the storage is unwritable, and both recover
// once there is room again.
func TestSQLiteDiskFull(t *testing.T) {
	ctx := context.Background()
	u := storetest.URL(t, store.SQLite)
	setup := openWithTimeout(t, store.SQLite, u)
	var pages int
	if err := setup.SQL().GetContext(ctx, &pages, `PRAGMA page_count`); err != nil {
		t.Fatal(err)
	}
	setup.Close()
	db := openWithTimeout(t, store.SQLite, u+"?_pragma=max_page_count("+strconv.Itoa(pages+16)+")")
	e := newEnv(t, db)
	e.signup("ann@example.com", "correct horse")
	if status, checks := e.readiness(); status != http.StatusOK || checks["storage"] != "ok" {
		t.Fatalf("readyz before the disk fills: %d %v", status, checks)
	}

	var resp *http.Response
	var body []byte
	for range 1000 {
		resp, body = e.do("POST", "/v1/signin", map[string]string{"email": "ann@example.com", "password": "correct horse"})
		if resp.StatusCode != http.StatusOK {
			break
		}
	}
	wantUnavailable(t, resp, body)
	if status, checks := e.readiness(); status != http.StatusServiceUnavailable || checks["storage"] != "unwritable" || checks["database"] != "ok" {
		t.Fatalf("readyz with the disk full: %d %v", status, checks)
	}

	if _, err := db.SQL().ExecContext(ctx, `DELETE FROM audit_events`); err != nil {
		t.Fatal(err)
	}
	if status, checks := e.readiness(); status != http.StatusOK || checks["storage"] != "ok" {
		t.Fatalf("readyz once there is room: %d %v", status, checks)
	}
	e.signin("ann@example.com", "correct horse")
}

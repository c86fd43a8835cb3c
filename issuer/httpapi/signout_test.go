package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

func TestSignoutScopes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.signup("ann@example.com", "correct horse")
		e.signup("bob@example.com", "battery staple")
		a1 := e.signin("ann@example.com", "correct horse")
		a2 := e.signin("ann@example.com", "correct horse")
		a3 := e.signin("ann@example.com", "correct horse")
		a4 := e.signin("ann@example.com", "correct horse")
		bob := e.signin("bob@example.com", "battery staple")
		signout := func(at, query string) *http.Response {
			t.Helper()
			resp, body := e.do("POST", "/v1/signout"+query, nil, "Authorization", "Bearer "+at)
			if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
				t.Fatalf("signout%s: %d %s", query, resp.StatusCode, body)
			}
			return resp
		}
		// live checks both the access token and the refresh token; a live
		// refresh token is rotated, so the caller keeps the new one.
		live := func(tk *tokens) bool {
			t.Helper()
			me := e.me(tk.AccessToken)
			resp, body := e.refresh(tk.RefreshToken)
			rt := resp.StatusCode == 200
			if rt {
				var next tokens
				_ = json.Unmarshal(body, &next)
				tk.RefreshToken = next.RefreshToken
			}
			if me != rt {
				t.Fatalf("access token live=%v but refresh token live=%v", me, rt)
			}
			return me
		}
		e.clock.Advance(time.Minute)

		// local: only this session.
		signout(a1.AccessToken, "")
		if live(&a1) || !live(&a2) || !live(&a3) || !live(&a4) || !live(&bob) {
			t.Fatal("local sign-out ended the wrong sessions")
		}
		e.clock.Advance(time.Minute)
		signout(a4.AccessToken, "?scope=local")
		if live(&a4) || !live(&a2) {
			t.Fatal("scope=local ended the wrong sessions")
		}
		// others: all of Ann's sessions but the caller's.
		a5 := e.signin("ann@example.com", "correct horse")
		e.clock.Advance(time.Minute)
		signout(a2.AccessToken, "?scope=others")
		if !live(&a2) || live(&a3) || live(&a5) || !live(&bob) {
			t.Fatal("scope=others ended the wrong sessions")
		}
		// global: every session of Ann, Bob's stays.
		a6 := e.signin("ann@example.com", "correct horse")
		e.clock.Advance(time.Minute)
		signout(a6.AccessToken, "?scope=global")
		if live(&a2) || live(&a6) || !live(&bob) {
			t.Fatal("scope=global ended the wrong sessions")
		}
		ev, _ := db.Events(context.Background(), "session_revoked")
		if len(ev) != 4 {
			t.Fatalf("session_revoked events: %d, want 4", len(ev))
		}
		for _, x := range ev {
			if x.UserID == nil || x.SessionID == nil || x.IP == nil || !strings.Contains(x.Detail, `"scope"`) {
				t.Fatalf("session_revoked event %+v", x)
			}
		}
		// A signed-out session's access token cannot sign out again.
		resp, body := e.do("POST", "/v1/signout", nil, "Authorization", "Bearer "+a1.AccessToken)
		wantError(t, resp, body, 401, "invalid_token")
	})
}

func TestSignoutAndMeRequests(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	e.signup("ann@example.com", "correct horse")
	tk := e.signin("ann@example.com", "correct horse")

	resp, body := e.do("GET", "/v1/me", nil, "Authorization", "Bearer "+tk.AccessToken)
	var me struct {
		User map[string]any `json:"user"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &me) != nil || me.User["id"] != tk.User.ID || me.User["email"] != "ann@example.com" {
		t.Fatalf("/v1/me: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "$2a$") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("/v1/me leaks the hash or is cacheable: %s %v", body, resp.Header)
	}

	for _, q := range []string{"?scope=all", "?scope=GLOBAL", "?scope=local&scope=global"} {
		resp, body := e.do("POST", "/v1/signout"+q, nil, "Authorization", "Bearer "+tk.AccessToken)
		wantError(t, resp, body, 400, "invalid_request")
	}
	if !e.me(tk.AccessToken) {
		t.Fatal("a rejected sign-out ended the session")
	}

	for _, path := range []string{"/v1/me", "/v1/signout"} {
		method := map[string]string{"/v1/me": "GET", "/v1/signout": "POST"}[path]
		resp, body := e.do(method, path, nil)
		wantError(t, resp, body, 401, "invalid_token")
		if got := resp.Header.Get("WWW-Authenticate"); got != "Bearer" {
			t.Fatalf("%s without a token: WWW-Authenticate %q", path, got)
		}
		for _, bad := range []string{"Bearer nope", "Bearer " + tk.AccessToken + "x", "Bearer " + tk.RefreshToken} {
			resp, body := e.do(method, path, nil, "Authorization", bad)
			wantError(t, resp, body, 401, "invalid_token")
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer error="invalid_token"`) {
				t.Fatalf("%s with a bad token: WWW-Authenticate %q", path, got)
			}
		}
		// Another scheme carries no bearer credentials: a bare challenge.
		resp, body = e.do(method, path, nil, "Authorization", "Basic YTpi")
		wantError(t, resp, body, 401, "invalid_token")
		if got := resp.Header.Get("WWW-Authenticate"); got != "Bearer" {
			t.Fatalf("%s with Basic: WWW-Authenticate %q", path, got)
		}
		// A malformed bearer header is a bad request (RFC 6750 §3.1).
		resp, body = e.do(method, path, nil, "Authorization", "Bearer two words")
		wantError(t, resp, body, 400, "invalid_request")
		if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer error="invalid_request"` {
			t.Fatalf("%s with a malformed header: WWW-Authenticate %q", path, got)
		}
	}

	// An access token past its expiry (and the 30s leeway) is refused.
	e.clock.Advance(15*time.Minute + 31*time.Second)
	if e.me(tk.AccessToken) {
		t.Fatal("an expired access token works")
	}
}

package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// tokenKeyID reads the refresh MAC key id a current-format token names.
func tokenKeyID(t testing.TB, rt string) uint32 {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(rt, "sgt_rt2_"))
	if err != nil || !strings.HasPrefix(rt, "sgt_rt2_") || len(raw) < 4 {
		t.Fatalf("not a current-format refresh token: %q", rt)
	}
	return binary.BigEndian.Uint32(raw[:4])
}

// TestRefreshKeyRotation, on an injected clock: once the refresh MAC key
// is a rotation period old, the pass makes key 2 and every new token is
// MACed with it; tokens MACed with key 1 keep working, and a spent one
// still revokes its session when presented again, until key 1 is deleted
// at key 2's creation + the session maximum age + the margin. After that a
// token naming key 1 gets the 401 of any bad token, as does one naming a
// key that never existed.
func TestRefreshKeyRotation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		const period = 24 * time.Hour
		e := newEnv(t, db, func(c *settings, _ *keys.Policy) {
			c.RefreshKeyRotationPeriod = period
			c.RefreshTokenTTL = 48 * time.Hour
			c.SessionMaxAge = 72 * time.Hour
		})
		ctx := context.Background()
		rk := e.iss.Sessions.RefreshKeys()
		e.signup("ann@example.com", "correct horse")
		a := e.signin("ann@example.com", "correct horse")
		b := e.signin("ann@example.com", "correct horse")
		if tokenKeyID(t, a.RefreshToken) != 1 {
			t.Fatalf("first token names key %d", tokenKeyID(t, a.RefreshToken))
		}
		a1 := e.mustRefresh(a.RefreshToken) // spent: a

		e.clock.Advance(period - time.Second)
		if p, err := rk.Pass(ctx); err != nil || p.Created != 0 {
			t.Fatalf("pass before the period: %+v %v", p, err)
		}
		e.clock.Advance(time.Second)
		p, err := rk.Pass(ctx)
		if err != nil || p.Created != 2 || p.Newest != 2 {
			t.Fatalf("pass at the period: %+v %v", p, err)
		}
		created2 := e.clock.Now()
		ev, _ := db.Events(ctx, "refresh_key_created")
		if len(ev) != 0 {
			t.Fatal("a pass called directly is audited by its caller only")
		}

		// A token of key 1 works, and its successor is MACed with key 2.
		a2 := e.mustRefresh(a1.RefreshToken)
		if tokenKeyID(t, a1.RefreshToken) != 1 || tokenKeyID(t, a2.RefreshToken) != 2 {
			t.Fatalf("key ids: %d then %d", tokenKeyID(t, a1.RefreshToken), tokenKeyID(t, a2.RefreshToken))
		}
		if !e.me(a2.AccessToken) {
			t.Fatal("the access token beside a key-2 token does not work")
		}
		if c := e.signin("ann@example.com", "correct horse"); tokenKeyID(t, c.RefreshToken) != 2 {
			t.Fatal("a new session's token is not MACed with the newest key")
		}
		// A spent token of key 1 is still recognised: its reuse revokes
		// the session.
		e.wantReused(a.RefreshToken, a)

		// Key 1 stays until created2 + retention.
		spentKey1 := b.RefreshToken
		retention := rk.Retention()
		if retention < 72*time.Hour {
			t.Fatalf("retention %s is shorter than the session maximum age", retention)
		}
		e.clock.Advance(retention - time.Second)
		if _, err := rk.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		if ks, _ := db.RefreshMACKeys(ctx); len(ks) == 0 || ks[0].ID != 1 {
			t.Fatalf("key 1 deleted before %s after key 2: %+v", retention, ks)
		}
		e.clock.Advance(time.Second)
		p, err = rk.Pass(ctx)
		if err != nil || len(p.Deleted) == 0 || p.Deleted[0] != 1 || !e.clock.Now().Equal(created2.Add(retention)) {
			t.Fatalf("pass at the end of key 1's retention: %+v %v", p, err)
		}

		// Key 1 is gone: its tokens get the 401 of any bad token, and so
		// does a token naming a key that never was.
		resp, badBody := e.refresh(tampered(spentKey1))
		wantError(t, resp, badBody, http.StatusUnauthorized, "invalid_grant")
		for name, tok := range map[string]string{
			"removed key": spentKey1,
			"no such key": e.mintTokenWith(e.sessionOf(b), p.Newest, p.Newest+1, 0),
		} {
			resp, body := e.refresh(tok)
			wantError(t, resp, body, http.StatusUnauthorized, "invalid_grant")
			if string(body) != string(badBody) {
				t.Fatalf("%s: %s, a bad token gets %s", name, body, badBody)
			}
		}
	})
}

// TestRefreshKeyOtherReplica: a token MACed with a key another replica
// has just made is accepted by a replica that has not run its pass since:
// it reads the keys again on meeting an id above its newest.
func TestRefreshKeyOtherReplica(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		e.signup("ann@example.com", "correct horse")
		tk := e.signin("ann@example.com", "correct horse") // both replicas know key 1
		other, err := issuer.New(e.cfg.Config, e.store, e.ring, e.sealer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Sessions.RefreshKeys().Pass(ctx); err != nil {
			t.Fatal(err)
		}
		if p, err := e.iss.Sessions.RefreshKeys().Rotate(ctx); err != nil || p.Created != 2 {
			t.Fatalf("rotate: %+v %v", p, err)
		}
		next := e.mustRefresh(tk.RefreshToken)
		if tokenKeyID(t, next.RefreshToken) != 2 {
			t.Fatal("the rotating replica does not MAC with its new key")
		}
		ts, err := other.Sessions.Refresh(ctx, issuer.Caller{IP: "192.0.2.1"}, next.RefreshToken)
		if err != nil {
			t.Fatalf("the other replica refused a token of the new key: %v", err)
		}
		if tokenKeyID(t, ts.RefreshToken) != 2 {
			t.Fatal("the other replica did not move to the new key")
		}
	})
}

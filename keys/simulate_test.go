package keys_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/signet-auth/signet/keys"
)

// TestSimulatedMonth runs a month of rotations on a simulated clock, with a
// change of algorithm (EdDSA to RS256) near the end, and checks that every
// token signed during it verifies until its expiry plus leeway, both for a
// verifier that just fetched the JWK set and for one whose copy is as old
// as the rules allow: fetched JWKSMaxAge ago from a replica that had last
// loaded the keys ReloadInterval before that.
//
// Each step is one reload interval: a pass, then tokens signed by a replica
// that loaded the keys one interval ago and by one that has just reloaded,
// then the JWK set as served from then on.
func TestSimulatedMonth(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a month")
	}
	ctx := context.Background()
	clk := newClock()
	st := &memStore{now: clk.Now}
	p := testPolicy()
	p.RotationPeriod = 12 * time.Hour
	p.ReloadInterval = time.Minute
	const (
		step      = time.Minute // = p.ReloadInterval
		passEvery = 1           // a pass every minute
		signEvery = 10          // a token every 10 minutes ...
	)
	days := 30 * 24 * time.Hour
	switchAlg := clk.Now().Add(25 * 24 * time.Hour)
	end := clk.Now().Add(days)

	type snapshot struct {
		at   time.Time
		body string
		set  jwk.Set
	}
	var snaps []snapshot
	record := func(ring *keys.Keyring) {
		body := string(ring.JWKS().Body)
		if len(snaps) > 0 && snaps[len(snaps)-1].body == body {
			return
		}
		set, err := jwk.Parse([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, snapshot{clk.Now(), body, set})
	}
	// servedAt is the JWK set a replica served at time u (nil before the
	// first one).
	servedAt := func(u time.Time) *snapshot {
		i := sort.Search(len(snaps), func(i int) bool { return snaps[i].at.After(u) })
		if i == 0 {
			return nil
		}
		return &snaps[i-1]
	}
	type issued struct {
		at    time.Time
		kid   string
		token string
	}
	var tokens []issued

	r := newReplica(t, st, clk, p)
	r.pass()
	record(r.ring)
	lastChange := clk.Now()
	kidsSeen := map[string]bool{}
	for i := 1; clk.Now().Before(end); i++ {
		clk.Advance(step)
		if r.rot.Policy.Alg == keys.EdDSA && !clk.Now().Before(switchAlg) {
			p.Alg = keys.RS256
			r = newReplica(t, st, clk, p)
			r.reload()
		}
		if i%passEvery == 0 {
			if _, err := r.rot.Pass(ctx); err != nil {
				t.Fatal(err)
			}
			active := map[string]int{}
			for _, k := range mustList(t, st) {
				if k.State == keys.StateActive {
					active[k.Alg]++
				}
			}
			for alg, n := range active {
				if n > 1 {
					t.Fatalf("%s: %d active %s keys", clk.Now(), n, alg)
				}
			}
		}
		// A token every signEvery steps, and at every step for a few
		// minutes after any change; each time from a replica that has not
		// reloaded since the last step (the stalest signer) and from one
		// that reloaded just now (the replica whose pass made the change).
		signing := i%signEvery == 0 || clk.Now().Sub(lastChange) <= 3*time.Minute
		sign := func() {
			now := clk.Now()
			c := keys.AccessClaims{Issuer: "iss", Subject: "u", Audience: []string{"aud"},
				IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(p.AccessTokenTTL).Unix(), ID: fmt.Sprint(i)}
			tok, kid, err := r.ring.Sign(&c)
			if err != nil {
				t.Fatalf("%s: sign: %v", now, err)
			}
			tokens = append(tokens, issued{now, kid, tok})
			kidsSeen[kid] = true
		}
		if signing {
			sign()
		}
		before := r.ring.JWKS().ETag
		r.reload()
		if r.ring.JWKS().ETag != before {
			lastChange = clk.Now()
		}
		if signing {
			sign()
		}
		record(r.ring)
	}

	algs := map[string]int{}
	for _, k := range mustList(t, st) {
		if kidsSeen[k.KID] {
			algs[k.Alg]++
		}
	}
	if algs[keys.EdDSA] < 40 || algs[keys.RS256] < 8 {
		t.Fatalf("signing keys used: %v; want about 50 EdDSA and 10 RS256", algs)
	}

	// A key is in the served set over one interval of time (published,
	// then removed or revoked, never back), so checking the first and last
	// moments of a token's life against the stalest and the freshest copy
	// covers every moment and every copy in between.
	stale := p.JWKSMaxAge + p.ReloadInterval
	checks := 0
	for _, tk := range tokens {
		exp := tk.at.Add(p.AccessTokenTTL)
		for _, u := range []time.Time{tk.at, exp, exp.Add(p.Leeway - time.Second)} {
			for _, s := range []*snapshot{servedAt(u), servedAt(u.Add(-stale))} {
				if s == nil {
					continue // before the issuer first served: no verifier had a copy
				}
				_, err := jwt.Parse([]byte(tk.token), jwt.WithKeySet(s.set), jwt.WithValidate(true),
					jwt.WithClock(jwt.ClockFunc(func() time.Time { return u })), jwt.WithAcceptableSkew(p.Leeway))
				if err != nil {
					t.Fatalf("token signed at %s by %s fails at %s against the set served at %s: %v",
						tk.at.Format(time.DateTime), tk.kid, u.Format(time.DateTime), s.at.Format(time.DateTime), err)
				}
				checks++
			}
		}
	}
	t.Logf("%d tokens, %d verifications, %d JWK sets, keys used per alg %v", len(tokens), checks, len(snaps), algs)
}

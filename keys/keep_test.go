package keys_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"errors"
	"testing"
	"time"

	"github.com/signet-auth/signet/keys"
)

// activeOf returns the kid of alg's active key ("" when none).
func activeOf(t *testing.T, st keys.Store, alg string) string {
	t.Helper()
	ks, err := st.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	kid := ""
	for _, k := range ks {
		if k.Alg == alg && k.State == keys.StateActive {
			if kid != "" {
				t.Fatalf("two active %s keys", alg)
			}
			kid = k.KID
		}
	}
	return kid
}

// TestKeptAlgorithm: a kept algorithm (the ID-token RS256 key beside an
// EdDSA signing key) goes through the same lifecycle as the signing
// algorithm: both sign at once on a new store, each is published a lead
// ahead of its successor, rotated and removed after the retention; access
// tokens are signed with the signing algorithm only; SignJWT signs with
// either, typ JWT; the kept key is revocable with promotion; a change of
// the signing algorithm does not retire a kept algorithm's key.
func TestKeptAlgorithm(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := &memStore{now: clk.Now}
	p := testPolicy()
	p.Keep = []string{keys.RS256}
	r := newReplica(t, st, clk, p)
	t0 := clk.Now()

	r.pass()
	ed, rs := activeOf(t, st, keys.EdDSA), activeOf(t, st, keys.RS256)
	if ed == "" || rs == "" {
		t.Fatalf("a new store: active EdDSA %q and RS256 %q, want both", ed, rs)
	}
	r.published(ed, rs)
	r.signsWith(ed)
	for alg, kid := range map[string]string{keys.EdDSA: ed, keys.RS256: rs} {
		tok, err := r.ring.SignJWT(ctx, alg, []byte(`{"sub":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		h := decodeHeader(t, tok)
		if h["typ"] != "JWT" || h["alg"] != alg || h["kid"] != kid {
			t.Fatalf("SignJWT(%s) header = %v", alg, h)
		}
	}

	// Both successors are published a lead ahead and promoted when due.
	clk.Set(t0.Add(time.Hour - p.PublishLead()))
	r.pass()
	if n := len(byState(t, st)[keys.StateNext]); n != 2 {
		t.Fatalf("next keys = %d, want one per algorithm", n)
	}
	clk.Set(t0.Add(time.Hour))
	r.pass()
	ed2, rs2 := activeOf(t, st, keys.EdDSA), activeOf(t, st, keys.RS256)
	if ed2 == ed || rs2 == rs || r.key(rs).State != keys.StateRetired {
		t.Fatalf("after the period: %v", byState(t, st))
	}
	r.published(ed, rs, ed2, rs2)
	// Retired keys of both algorithms go after the retention.
	clk.Set(t0.Add(time.Hour + p.Retention()))
	r.pass()
	if r.key(rs).State != keys.StateRemoved || r.key(ed).State != keys.StateRemoved {
		t.Fatalf("after the retention: %v", byState(t, st))
	}

	// The kept key is revocable; its replacement signs in the same step.
	if _, _, err := r.rot.Revoke(ctx, rs2, false); !errors.Is(err, keys.ErrOnlyActiveKey) {
		t.Fatalf("revoke the active RS256 key without promote: %v", err)
	}
	if _, promoted, err := r.rot.Revoke(ctx, rs2, true); err != nil || promoted == nil || promoted.Alg != keys.RS256 {
		t.Fatalf("revoke with promote: %v %v", promoted, err)
	}
	r.reload()
	rs3 := activeOf(t, st, keys.RS256)
	if tok, err := r.ring.SignJWT(ctx, keys.RS256, []byte(`{}`)); err != nil || decodeHeader(t, tok)["kid"] != rs3 {
		t.Fatalf("after revocation SignJWT: %v", err)
	}

	// The signing algorithm becomes RS256, EdDSA kept: the EdDSA key stays
	// active (ID tokens), and the RS256 key, published long ago, signs
	// access tokens at once.
	p2 := p
	p2.Alg, p2.Keep = keys.RS256, []string{keys.EdDSA}
	r2 := newReplica(t, st, clk, p2)
	r2.pass()
	if activeOf(t, st, keys.EdDSA) != ed2 || activeOf(t, st, keys.RS256) != rs3 {
		t.Fatalf("after the change of algorithm: %v", byState(t, st))
	}
	r2.signsWith(rs3)
}

// TestKeptAlgorithmAdded: a store whose keys predate the kept algorithm
// gets its key published a lead ahead, not signing at once, since
// verifiers' cached key sets do not have it yet.
func TestKeptAlgorithmAdded(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := &memStore{now: clk.Now}
	r := newReplica(t, st, clk, testPolicy())
	r.pass()
	ed := activeOf(t, st, keys.EdDSA)

	p := testPolicy()
	p.Keep = []string{keys.RS256}
	r2 := newReplica(t, st, clk, p)
	r2.pass()
	next := byState(t, st)[keys.StateNext]
	if len(next) != 1 || activeOf(t, st, keys.RS256) != "" || activeOf(t, st, keys.EdDSA) != ed {
		t.Fatalf("after adding RS256: %v", byState(t, st))
	}
	if _, err := r2.ring.SignJWT(ctx, keys.RS256, []byte(`{}`)); !errors.Is(err, keys.ErrNoActiveKey) {
		t.Fatalf("SignJWT before the lead: %v, want ErrNoActiveKey", err)
	}
	clk.Advance(p.PublishLead())
	r2.pass()
	if activeOf(t, st, keys.RS256) != next[0] {
		t.Fatalf("after the lead: %v", byState(t, st))
	}
	r2.signsWith(ed)
}

func decodeHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

package issuer

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/keys"
)

// secretStore keeps sealed secrets in memory, or fails while down.
type secretStore struct {
	ThrottleStore // only SealedSecret is used
	secrets       map[string][]byte
	down          bool
	calls         int
}

func (s *secretStore) SealedSecret(_ context.Context, name string, sealed []byte, _ time.Time) ([]byte, error) {
	s.calls++
	if s.down {
		return nil, errors.New("store: unreachable")
	}
	if _, ok := s.secrets[name]; !ok {
		s.secrets[name] = sealed
	}
	return s.secrets[name], nil
}

func TestDeviceTokens(t *testing.T) {
	sl, _ := keys.NewSealer(bytes.Repeat([]byte{7}, 32))
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	st := &secretStore{secrets: map[string][]byte{}}
	d := &deviceTokens{store: st, sealer: sl, now: clock, ttl: time.Hour, log: NewAuditor(nil, nil, nil).log}
	ctx := context.Background()

	tok := d.issue(ctx, "ann@example.com")
	if !strings.HasPrefix(tok, "sgt_dv_") || len(tok) != deviceTokenBytes || strings.Contains(tok, "ann") {
		t.Fatalf("token %q", tok)
	}
	id, ok := d.verify(ctx, tok, "ann@example.com")
	if !ok || id == "" {
		t.Fatal("a fresh token does not verify")
	}
	if d.issue(ctx, "ann@example.com") == tok {
		t.Fatal("two tokens are the same")
	}
	if _, ok := d.verify(ctx, tok, "bob@example.com"); ok {
		t.Fatal("a token verifies for another account")
	}
	// Another replica (same store, same key-encryption key) shares the key.
	other := &deviceTokens{store: st, sealer: sl, now: clock, ttl: time.Hour, log: d.log}
	if id2, ok := other.verify(ctx, tok, "ann@example.com"); !ok || id2 != id {
		t.Fatal("another replica does not accept the token")
	}
	// A changed expiry breaks the MAC; the real one ends the token.
	raw := []byte(tok)
	raw[len(devicePrefix)+25] ^= 1
	if _, ok := d.verify(ctx, string(raw), "ann@example.com"); ok {
		t.Fatal("a tampered token verifies")
	}
	now = now.Add(time.Hour)
	if _, ok := d.verify(ctx, tok, "ann@example.com"); ok {
		t.Fatal("an expired token verifies")
	}
	if st.calls != 2 {
		t.Fatalf("%d store calls, want one per replica", st.calls)
	}
}

// TestDeviceKeyUnavailable: without its key, sign-in goes on without
// device tokens, and the key is tried again a minute later, not at every
// sign-in.
func TestDeviceKeyUnavailable(t *testing.T) {
	sl, _ := keys.NewSealer(bytes.Repeat([]byte{7}, 32))
	now := time.Unix(1_700_000_000, 0)
	st := &secretStore{secrets: map[string][]byte{}, down: true}
	d := &deviceTokens{store: st, sealer: sl, now: func() time.Time { return now }, ttl: time.Hour, log: NewAuditor(nil, nil, nil).log}
	ctx := context.Background()
	for range 3 {
		if tok := d.issue(ctx, "ann@example.com"); tok != "" {
			t.Fatalf("issued %q without a key", tok)
		}
	}
	if st.calls != 1 {
		t.Fatalf("%d store calls while down, want 1", st.calls)
	}
	st.down = false
	now = now.Add(deviceKeyRetry)
	if tok := d.issue(ctx, "ann@example.com"); tok == "" {
		t.Fatal("no token once the store is back")
	}
	// Sealed under another key-encryption key, the key does not open.
	wrong, _ := keys.NewSealer(bytes.Repeat([]byte{8}, 32))
	d2 := &deviceTokens{store: st, sealer: wrong, now: func() time.Time { return now }, ttl: time.Hour, log: d.log}
	if tok := d2.issue(ctx, "ann@example.com"); tok != "" {
		t.Fatal("a key sealed under another key-encryption key was used")
	}
	// No sealer (administration): no device tokens.
	if tok := (&deviceTokens{store: st, now: d.now, log: d.log}).issue(ctx, "ann@example.com"); tok != "" {
		t.Fatal("a token without a sealer")
	}
}

package verifier

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The eight points of small order on edwards25519, canonically encoded
// (libsodium's blocklist; "Taming the many EdDSAs", Chalkias et al., 2020).
var smallOrderPoints = []string{
	"0100000000000000000000000000000000000000000000000000000000000000",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0000000000000000000000000000000000000000000000000000000000000080",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
}

// Non-canonical encodings: small-order points spelled another way, and
// y >= p.
var nonCanonicalPoints = []string{
	"0100000000000000000000000000000000000000000000000000000000000080", // identity, x = -0
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // (0, -1), x = -0
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p, i.e. 0: order 4
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p, the other x
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p+1, i.e. the identity
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p+1, x = -0
	"f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p+6
	"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = 2^255-1
}

// TestSmallOrderEd25519KeysDropped: a JWKS key that is a small-order point
// (or a non-canonical encoding) would let the trivial signature R =
// identity, S = 0 verify. Each is dropped alone, with a log line, and the
// forged token that crypto/ed25519 itself accepts is refused.
func TestSmallOrderEd25519KeysDropped(t *testing.T) {
	good := newEdKey(t)
	forgedSig := make([]byte, ed25519.SignatureSize)
	forgedSig[0] = 0x01 // R = the identity (0100..00), S = 0

	points := append(append([]string{}, smallOrderPoints...), nonCanonicalPoints...)
	for i, p := range points {
		t.Run(p, func(t *testing.T) {
			pub, err := hex.DecodeString(p)
			must(t, err)
			kid := fmt.Sprintf("weak-%d", i)
			jwks := fmt.Sprintf(`{"keys":[%s,{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":%q,"x":%q}]}`,
				toJSON(t, good.pub), kid, b64(pub))
			var logs bytes.Buffer
			v, err := New(context.Background(), Config{
				Issuer: testIssuer, Audience: testAudience, StaticJWKS: []byte(jwks),
				Now:    func() time.Time { return testNow },
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			must(t, err)

			// A token whose forged signature crypto/ed25519 accepts with
			// this key: always for the identity, for one message in
			// order(A) otherwise, so try a few jti values (deterministic).
			var forged string
			for n := 0; n < 256 && forged == ""; n++ {
				in := b64(toJSON(t, map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid})) + "." +
					b64(toJSON(t, claimsAt(testNow, map[string]any{"jti": fmt.Sprint("forged-", n)})))
				if ed25519.Verify(pub, []byte(in), forgedSig) {
					forged = in + "." + b64(forgedSig)
				}
			}
			if forged == "" && i < len(smallOrderPoints) {
				t.Fatal("no forgery found: not a small-order point")
			}
			if forged != "" {
				if _, err := v.Verify(context.Background(), forged); !errors.Is(err, ErrUnknownKey) {
					t.Fatalf("forged token: %v, want ErrUnknownKey", err)
				}
			}
			if n := len(v.keys.current.Load().keys); n != 1 {
				t.Fatalf("%d usable keys, want 1", n)
			}
			must(t, verifies(v, good.token(t, testNow, nil)))
			if line := logs.String(); !strings.Contains(line, "kid="+kid) || !strings.Contains(line, "ed25519") {
				t.Fatalf("no log line for the dropped key: %q", line)
			}
		})
	}
}

func TestWeakEd25519AcceptsRealKeys(t *testing.T) {
	for range 100 {
		k := newEdKey(t)
		if reason := weakEd25519(k.priv.Public().(ed25519.PublicKey)); reason != "" {
			t.Fatalf("a generated key refused: %s", reason)
		}
	}
}

package verifier

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

type benchCase struct {
	v     *Verifier
	tok   string
	input []byte // signing input
	sig   []byte
	key   *testKey
}

func newBenchCase(b *testing.B, k *testKey) *benchCase {
	b.Helper()
	v, err := New(context.Background(), Config{
		Issuer: testIssuer, Audience: testAudience,
		StaticKeys: mustSet(b, k),
		Now:        func() time.Time { return testNow },
	})
	must(b, err)
	tok := k.token(b, testNow, nil)
	dot := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	must(b, err)
	return &benchCase{v: v, tok: tok, input: []byte(tok[:dot]), sig: sig, key: k}
}

// rawVerify is the floor: only the signature check on the same token.
func (c *benchCase) rawVerify() bool {
	switch p := c.key.priv.Public().(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(p, c.input, c.sig)
	case *rsa.PublicKey:
		sum := sha256.Sum256(c.input)
		return rsa.VerifyPKCS1v15(p, crypto.SHA256, sum[:], c.sig) == nil
	}
	return false
}

func benchVerify(b *testing.B, c *benchCase) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.v.Verify(ctx, c.tok); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRaw(b *testing.B, c *benchCase) {
	pub := c.key.priv.Public()
	b.ReportAllocs()
	switch p := pub.(type) {
	case ed25519.PublicKey:
		for b.Loop() {
			if !ed25519.Verify(p, c.input, c.sig) {
				b.Fatal("bad signature")
			}
		}
	case *rsa.PublicKey:
		for b.Loop() {
			sum := sha256.Sum256(c.input)
			if rsa.VerifyPKCS1v15(p, crypto.SHA256, sum[:], c.sig) != nil {
				b.Fatal("bad signature")
			}
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	b.Run("EdDSA", func(b *testing.B) { benchVerify(b, newBenchCase(b, newEdKey(b))) })
	b.Run("RS256", func(b *testing.B) { benchVerify(b, newBenchCase(b, newRSAKey(b, 2048, false))) })
}

func BenchmarkRawEd25519(b *testing.B) { benchRaw(b, newBenchCase(b, newEdKey(b))) }

func BenchmarkRawRSA(b *testing.B) { benchRaw(b, newBenchCase(b, newRSAKey(b, 2048, false))) }

// BenchmarkVerifyRatio runs Verify and the raw signature check alternately
// on the same token and reports Verify's throughput as a share of the raw
// check's (target: at least 0.80).
func BenchmarkVerifyRatio(b *testing.B) {
	for _, tc := range []struct {
		name string
		key  func() *testKey
	}{
		{"EdDSA", func() *testKey { return newEdKey(b) }},
		{"RS256", func() *testKey { return newRSAKey(b, 2048, false) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := newBenchCase(b, tc.key())
			ctx := context.Background()
			var tVerify, tRaw time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := c.v.Verify(ctx, c.tok); err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				if !c.rawVerify() {
					b.Fatal("bad signature")
				}
				tVerify += mid.Sub(start)
				tRaw += time.Since(mid)
			}
			b.ReportMetric(float64(tRaw)/float64(tVerify), "throughput-ratio")
			b.ReportMetric(float64(tVerify-tRaw)/float64(b.N), "overhead-ns/op")
		})
	}
}

// BenchmarkParseClaims is the claim reader alone, on the standard payload.
func BenchmarkParseClaims(b *testing.B) {
	payload := toJSON(b, claimsAt(testNow, nil))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseClaims(payload); !ok {
			b.Fatal("parse failed")
		}
	}
}

// BenchmarkAppendJSON is the claim writer the issuer signs with.
func BenchmarkAppendJSON(b *testing.B) {
	c := fullClaims()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = c.AppendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

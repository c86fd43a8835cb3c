package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/keys"
	"github.com/signet-auth/signet/verifier"
)

// BenchmarkSign signs an access token through the keyring (claims to JSON,
// base64url, the signature) and, interleaved in the same loop, the same
// signing input with the bare primitive (ed25519.Sign, rsa.SignPKCS1v15).
// Interleaving keeps a noisy machine from favouring one side. ns/op is the
// pair; signer-ns/op and primitive-ns/op split it, and x-primitive is the
// keyring's cost as a multiple of the primitive's.
func BenchmarkSign(b *testing.B) {
	for _, alg := range []string{keys.EdDSA, keys.RS256} {
		b.Run(alg, func(b *testing.B) {
			ring, priv := benchKeyring(b, alg)
			now := time.Now()
			claims := verifier.Claims{
				Issuer: "https://auth.example.com", Subject: "0b7e1a9c-3f0e-4d8e-9d6c-2a1f5e4b3c2d",
				Audience: []string{"shop-api", "video-api"}, IssuedAt: now, NotBefore: now,
				Expiry: now.Add(15 * time.Minute), ID: "4rQ2v9cVbq2kq3W1x0pZfA",
				SessionID: "7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d", Email: "ann@example.com",
			}
			tok, _, err := ring.Sign(&claims)
			if err != nil {
				b.Fatal(err)
			}
			input := []byte(tok[:strings.LastIndexByte(tok, '.')])
			primitive := func() {
				switch p := priv.(type) {
				case ed25519.PrivateKey:
					_ = ed25519.Sign(p, input)
				case *rsa.PrivateKey:
					sum := sha256.Sum256(input)
					if _, err := rsa.SignPKCS1v15(rand.Reader, p, crypto.SHA256, sum[:]); err != nil {
						b.Fatal(err)
					}
				}
			}

			var signer, raw time.Duration
			n := 0
			for b.Loop() {
				t0 := time.Now()
				if _, _, err := ring.Sign(&claims); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				primitive()
				signer += t1.Sub(t0)
				raw += time.Since(t1)
				n++
			}
			reportPair(b, n, signer, raw, "signer", "primitive")
		})
	}
}

// reportPair reports two interleaved measurements and their ratio.
func reportPair(b *testing.B, n int, measured, base time.Duration, name, baseName string) {
	b.ReportMetric(float64(measured.Nanoseconds())/float64(n), name+"-ns/op")
	b.ReportMetric(float64(base.Nanoseconds())/float64(n), baseName+"-ns/op")
	b.ReportMetric(float64(measured)/float64(base), "x-"+baseName)
}

// benchKeyring returns a keyring loaded with one active key of alg, and
// that key's private part.
func benchKeyring(b *testing.B, alg string) (*keys.Keyring, crypto.Signer) {
	b.Helper()
	sealer, err := keys.NewSealer(bytes.Repeat([]byte{7}, keys.KEKSize))
	if err != nil {
		b.Fatal(err)
	}
	p := keys.Policy{
		Alg: alg, RSABits: 2048, RotationPeriod: 7 * 24 * time.Hour, JWKSMaxAge: 5 * time.Minute,
		ReloadInterval: 10 * time.Second, AccessTokenTTL: 15 * time.Minute, Leeway: 30 * time.Second,
	}
	st := &memStore{}
	rot := &keys.Rotator{Store: st, Sealer: sealer, Policy: p}
	if _, err := rot.Pass(context.Background()); err != nil {
		b.Fatal(err)
	}
	ring := keys.NewKeyring(st, sealer, p, nil)
	if err := ring.Reload(context.Background()); err != nil {
		b.Fatal(err)
	}
	var active keys.Key
	for _, k := range ring.Keys() {
		if k.State == keys.StateActive && k.Alg == alg {
			active = k
		}
	}
	der, err := sealer.Open(active.KID, active.PrivateKey)
	if err != nil {
		b.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		b.Fatal(err)
	}
	return ring, priv.(crypto.Signer)
}

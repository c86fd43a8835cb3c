package keys_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/signet-auth/signet/keys"
)

// opaque hides a key's Go type, as a PKCS#11 or KMS client does: it is a
// crypto.Signer and nothing more. sig, when set, replaces what it signs.
type opaque struct {
	inner crypto.Signer
	pub   crypto.PublicKey // when set, what Public returns
	sig   func() ([]byte, error)
}

func (o opaque) Public() crypto.PublicKey {
	if o.pub != nil {
		return o.pub
	}
	return o.inner.Public()
}

func (o opaque) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if o.sig != nil {
		return o.sig()
	}
	return o.inner.Sign(r, digest, opts)
}

// weird is a public key type Signet knows nothing of.
type weird struct{}

func TestNewSignerRefusesUnsupportedKeys(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, alg string
		priv      crypto.Signer
		want      string
	}{
		{"ECDSA", keys.EdDSA, ec, "unsupported key type *ecdsa.PrivateKey"},
		{"ECDSA behind an interface", keys.RS256, opaque{inner: ec}, "unsupported key type keys_test.opaque"},
		{"unknown public key", keys.EdDSA, opaque{inner: ed, pub: weird{}}, "unsupported key type"},
		{"Ed25519 as RS256", keys.RS256, ed, "is Ed25519 but stored as RS256"},
		{"RSA as EdDSA", keys.EdDSA, small, "is RSA but stored as EdDSA"},
		{"RSA 1024", keys.RS256, small, "RSA key of 1024 bits"},
		{"unknown algorithm", "ES256", ed, "is Ed25519 but stored as ES256"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := keys.NewSigner("kid", c.alg, c.priv)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewSigner = %v, %v; want an error with %q", s, err, c.want)
			}
		})
	}
}

// TestSignerRefusesBadSignatures: a crypto.Signer that reports success
// with an empty or short signature gives an error, never a token.
func TestSignerRefusesBadSignatures(t *testing.T) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for name, sig := range map[string]func() ([]byte, error){
		"empty":   func() ([]byte, error) { return nil, nil },
		"short":   func() ([]byte, error) { return make([]byte, 63), nil },
		"failing": func() ([]byte, error) { return nil, errors.New("device unplugged") },
	} {
		t.Run(name, func(t *testing.T) {
			s, err := keys.NewSigner("kid", keys.EdDSA, opaque{inner: ed, sig: sig})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := s.Sign(context.Background(), []byte("a.b")); err == nil {
				t.Fatalf("Sign = %x with no error", got)
			}
		})
	}
}

// TestKeyringRefusesBadSignatures: whatever a key source's Signer does,
// the keyring never returns a token without a signature of the right size.
func TestKeyringRefusesBadSignatures(t *testing.T) {
	for _, c := range []struct {
		name string
		s    keys.Signer
	}{
		{"empty", fixedSigner{alg: keys.EdDSA}},
		{"short RSA", fixedSigner{alg: keys.RS256, sig: make([]byte, 128)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := newHSM(t)
			src.override = func(k keys.Key) keys.Signer { s := c.s.(fixedSigner); s.kid = k.KID; return s }
			p := testPolicy()
			p.Alg = c.s.Alg()
			st := &memStore{}
			if _, err := (&keys.Rotator{Store: st, Source: src, Policy: p}).Pass(context.Background()); err != nil {
				t.Fatal(err)
			}
			ring := keys.NewKeyringWithSource(st, src, p, nil)
			if err := ring.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tok, _, err := ring.Sign(&keys.AccessClaims{Subject: "u"}); err == nil {
				t.Fatalf("signed %q", tok)
			}
		})
	}
}

type fixedSigner struct {
	kid, alg string
	sig      []byte
}

func (f fixedSigner) KID() string { return f.kid }
func (f fixedSigner) Alg() string { return f.alg }
func (f fixedSigner) Sign(context.Context, []byte) ([]byte, error) {
	return f.sig, nil
}

// TestOpaqueSignersVerify: keys that are crypto.Signers of another type
// sign through their Sign method, and the signatures verify.
func TestOpaqueSignersVerify(t *testing.T) {
	pub, ed, _ := ed25519.GenerateKey(rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	in := []byte("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0")
	ctx := context.Background()

	s, err := keys.NewSigner("e", keys.EdDSA, opaque{inner: ed})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.Sign(ctx, in)
	if err != nil || !ed25519.Verify(pub, in, sig) {
		t.Fatalf("Ed25519 behind an interface: %v, verifies %v", err, err == nil && ed25519.Verify(pub, in, sig))
	}

	s, err = keys.NewSigner("r", keys.RS256, opaque{inner: rk})
	if err != nil {
		t.Fatal(err)
	}
	if sig, err = s.Sign(ctx, in); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(in)
	if err := rsa.VerifyPKCS1v15(&rk.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("RSA behind an interface: %v", err)
	}
}

// hsm is a KeySource whose private keys never leave it: the stored record
// holds a reference ("hsm:" + kid), as a hardware module or KMS would.
type hsm struct {
	t         *testing.T
	mu        sync.Mutex
	keys      map[string]crypto.Signer
	destroyed []string
	override  func(keys.Key) keys.Signer
}

func newHSM(t *testing.T) *hsm { return &hsm{t: t, keys: map[string]crypto.Signer{}} }

func (h *hsm) Create(_ context.Context, alg string) (keys.Key, error) {
	var priv crypto.Signer
	switch alg {
	case keys.EdDSA:
		_, priv, _ = ed25519.GenerateKey(rand.Reader)
	case keys.RS256:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return keys.Key{}, err
		}
		priv = k
	default:
		return keys.Key{}, keys.ValidAlg(alg)
	}
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		return keys.Key{}, err
	}
	tp, _ := pub.Thumbprint(crypto.SHA256)
	kid := base64.RawURLEncoding.EncodeToString(tp)
	_ = pub.Set(jwk.KeyIDKey, kid)
	_ = pub.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg))
	body, _ := json.Marshal(pub)
	h.mu.Lock()
	h.keys[kid] = opaque{inner: priv}
	h.mu.Unlock()
	return keys.Key{KID: kid, Alg: alg, PublicJWK: string(body), PrivateKey: []byte("hsm:" + kid)}, nil
}

func (h *hsm) Signer(_ context.Context, k keys.Key) (keys.Signer, error) {
	if h.override != nil {
		return h.override(k), nil
	}
	h.mu.Lock()
	priv, ok := h.keys[strings.TrimPrefix(string(k.PrivateKey), "hsm:")]
	h.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("hsm: no key %q", k.PrivateKey)
	}
	return keys.NewSigner(k.KID, k.Alg, priv)
}

func (h *hsm) Destroy(_ context.Context, k keys.Key) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	ref := strings.TrimPrefix(string(k.PrivateKey), "hsm:")
	if _, ok := h.keys[ref]; !ok {
		h.t.Errorf("destroy of %q, which the module does not hold", k.PrivateKey)
	}
	delete(h.keys, ref)
	h.destroyed = append(h.destroyed, k.KID)
	return nil
}

// TestKeySourceOutsideTheStore runs the lifecycle on a source that keeps
// private keys outside the store: tokens verify against the JWK set, and
// revoked and removed keys are destroyed in the module.
func TestKeySourceOutsideTheStore(t *testing.T) {
	ctx := context.Background()
	src := newHSM(t)
	clk := newClock()
	st := &memStore{now: clk.Now}
	p := testPolicy()
	rot := &keys.Rotator{Store: st, Source: src, Policy: p, Now: clk.Now}
	ring := keys.NewKeyringWithSource(st, src, p, clk.Now)
	step := func() {
		t.Helper()
		if _, err := rot.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ring.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(tok string) {
		t.Helper()
		set, err := jwk.Parse(ring.JWKS().Body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jws.Verify([]byte(tok), jws.WithKeySet(set, jws.WithInferAlgorithmFromKey(true))); err != nil {
			t.Fatalf("token does not verify: %v", err)
		}
	}
	step()
	a := ring.Signing()[0].KID
	tok, kid, err := ring.Sign(&keys.AccessClaims{Subject: "u"})
	if err != nil || kid != a {
		t.Fatalf("sign: %s %v", kid, err)
	}
	verify(tok)

	clk.Advance(p.RotationPeriod - p.PublishLead())
	step() // published
	clk.Advance(p.PublishLead())
	step() // promoted
	b := ring.Signing()[0].KID
	if b == a {
		t.Fatal("no rotation")
	}
	tok, _, _ = ring.Sign(&keys.AccessClaims{Subject: "u"})
	verify(tok)

	clk.Advance(p.Retention())
	step()
	if _, _, err := rot.Revoke(ctx, b, true); err != nil {
		t.Fatal(err)
	}
	if err := ring.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	c := ring.Signing()[0].KID
	tok, _, _ = ring.Sign(&keys.AccessClaims{Subject: "u"})
	verify(tok)
	if got := strings.Join(src.destroyed, ","); got != a+","+b {
		t.Fatalf("destroyed %s, want %s,%s (removed, then revoked)", got, a, b)
	}
	if len(src.keys) != 1 || src.keys[c] == nil {
		t.Fatalf("the module holds %d keys, want only %s", len(src.keys), c)
	}
}

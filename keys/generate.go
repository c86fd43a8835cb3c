package keys

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Generate creates a key of the given algorithm (rsaBits applies to RS256:
// 2048, 3072 or 4096), seals its private part and returns it in state, with
// CreatedAt and ActivatesAt set. The kid is the RFC 7638 thumbprint.
func Generate(alg string, rsaBits int, state State, now, activatesAt time.Time, sealer *Sealer) (Key, error) {
	var priv crypto.Signer
	switch alg {
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Key{}, fmt.Errorf("keys: generate Ed25519: %w", err)
		}
		priv = k
	case RS256:
		if err := ValidRSABits(rsaBits); err != nil {
			return Key{}, err
		}
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return Key{}, fmt.Errorf("keys: generate RSA: %w", err)
		}
		priv = k
	default:
		return Key{}, ValidAlg(alg)
	}
	return newKey(alg, priv, state, now, activatesAt, sealer)
}

// ValidRSABits checks an RSA modulus size.
func ValidRSABits(bits int) error {
	switch bits {
	case 2048, 3072, 4096:
		return nil
	}
	return fmt.Errorf("keys: RSA key size must be 2048, 3072 or 4096, got %d", bits)
}

func newKey(alg string, priv crypto.Signer, state State, now, activatesAt time.Time, sealer *Sealer) (Key, error) {
	pub, err := publicJWK(alg, priv.Public())
	if err != nil {
		return Key{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, fmt.Errorf("keys: encode private key: %w", err)
	}
	kid, _ := pub.Get(jwk.KeyIDKey)
	buf, err := json.Marshal(pub)
	if err != nil {
		return Key{}, fmt.Errorf("keys: encode public key: %w", err)
	}
	return Key{
		KID:         kid.(string),
		Alg:         alg,
		State:       state,
		PublicJWK:   string(buf),
		PrivateKey:  sealer.Seal(kid.(string), der),
		CreatedAt:   now,
		ActivatesAt: activatesAt,
	}, nil
}

// publicJWK builds the published form of a public key: kty and its public
// parameters, kid (RFC 7638 SHA-256 thumbprint), alg and use.
func publicJWK(alg string, pub crypto.PublicKey) (jwk.Key, error) {
	k, err := jwk.FromRaw(pub)
	if err != nil {
		return nil, fmt.Errorf("keys: public key: %w", err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("keys: thumbprint: %w", err)
	}
	_ = k.Set(jwk.KeyIDKey, base64.RawURLEncoding.EncodeToString(tp))
	_ = k.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg))
	_ = k.Set(jwk.KeyUsageKey, jwk.ForSignature)
	return k, nil
}

// privateSigner opens a stored key's private part.
func privateSigner(k Key, sealer *Sealer) (crypto.Signer, error) {
	if k.PrivateKey == nil {
		return nil, fmt.Errorf("keys: key %s has no private part (state %s)", k.KID, k.State)
	}
	der, err := sealer.Open(k.KID, k.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("%w (kid %s)", err, k.KID)
	}
	p, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: parse private key %s: %w", k.KID, err)
	}
	s, ok := p.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: key %s is not a signing key", k.KID)
	}
	switch s.(type) {
	case ed25519.PrivateKey:
		if k.Alg != EdDSA {
			return nil, fmt.Errorf("keys: key %s is Ed25519 but stored as %s", k.KID, k.Alg)
		}
	case *rsa.PrivateKey:
		if k.Alg != RS256 {
			return nil, fmt.Errorf("keys: key %s is RSA but stored as %s", k.KID, k.Alg)
		}
	default:
		return nil, fmt.Errorf("keys: key %s has an unsupported type", k.KID)
	}
	return s, nil
}

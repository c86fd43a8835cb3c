package keys

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
)

// KeySource is where private keys live. The lifecycle (Rotator, Keyring)
// handles Key records and Signers only and leaves the private parts to
// the source, so keys held in a hardware module or a cloud KMS are a new
// KeySource and no change to the lifecycle. SealedKeys, which keeps them
// in the store sealed under the key-encryption key, is the first.
type KeySource interface {
	// Create makes a key of alg and returns its record with KID, Alg,
	// PublicJWK and PrivateKey set: PrivateKey is whatever the source needs
	// to find the key again (the sealed key, or a reference to a key held
	// elsewhere). The lifecycle sets the state and the times.
	Create(ctx context.Context, alg string) (Key, error)
	// Signer opens a stored key for signing. It fails with an error
	// wrapping ErrDecrypt when the key-encryption key is not the one the
	// key was sealed under.
	Signer(ctx context.Context, k Key) (Signer, error)
	// Destroy is called once a key's removal or revocation is committed,
	// with the key as it was before (PrivateKey set), for sources that
	// must delete a key held elsewhere. The store has cleared PrivateKey
	// by then. A failure is logged; the key is out of the lifecycle
	// whatever happens.
	Destroy(ctx context.Context, k Key) error
}

// SealedKeys keeps private keys in the store, as PKCS#8 sealed under the
// key-encryption key with the kid as associated data.
type SealedKeys struct {
	Sealer *Sealer
	// RSABits is the modulus size of new RS256 keys: 2048, 3072 or 4096.
	RSABits int
}

// Create generates a key in this process and seals its private part.
func (s SealedKeys) Create(_ context.Context, alg string) (Key, error) {
	var priv crypto.Signer
	switch alg {
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Key{}, fmt.Errorf("keys: generate Ed25519: %w", err)
		}
		priv = k
	case RS256:
		if err := ValidRSABits(s.RSABits); err != nil {
			return Key{}, err
		}
		k, err := rsa.GenerateKey(rand.Reader, s.RSABits)
		if err != nil {
			return Key{}, fmt.Errorf("keys: generate RSA: %w", err)
		}
		priv = k
	default:
		return Key{}, ValidAlg(alg)
	}
	return sealKey(alg, priv, s.Sealer)
}

// Signer opens the sealed private part.
func (s SealedKeys) Signer(_ context.Context, k Key) (Signer, error) {
	if k.PrivateKey == nil {
		return nil, fmt.Errorf("keys: key %s has no private part (state %s)", k.KID, k.State)
	}
	der, err := s.Sealer.Open(k.KID, k.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("%w (kid %s)", err, k.KID)
	}
	p, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: parse private key %s: %w", k.KID, err)
	}
	priv, ok := p.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: key %s is not a signing key", k.KID)
	}
	return NewSigner(k.KID, k.Alg, priv)
}

// Destroy does nothing: the sealed key lives in the row, which the store
// overwrites and purges when the private part is cleared.
func (SealedKeys) Destroy(context.Context, Key) error { return nil }

func sealKey(alg string, priv crypto.Signer, sealer *Sealer) (Key, error) {
	pub, err := publicJWK(alg, priv.Public())
	if err != nil {
		return Key{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, fmt.Errorf("keys: encode private key: %w", err)
	}
	kid, err := pubKID(pub)
	if err != nil {
		return Key{}, err
	}
	buf, err := json.Marshal(pub)
	if err != nil {
		return Key{}, fmt.Errorf("keys: encode public key: %w", err)
	}
	return Key{KID: kid, Alg: alg, PublicJWK: string(buf), PrivateKey: sealer.Seal(kid, der)}, nil
}

package keys

import (
	"context"
	"crypto"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Generate creates a key of the given algorithm (rsaBits applies to RS256:
// 2048, 3072 or 4096), seals its private part and returns it in state, with
// CreatedAt and ActivatesAt set. The kid is the RFC 7638 thumbprint.
func Generate(alg string, rsaBits int, state State, now, activatesAt time.Time, sealer *Sealer) (Key, error) {
	k, err := SealedKeys{Sealer: sealer, RSABits: rsaBits}.Create(context.Background(), alg)
	if err != nil {
		return Key{}, err
	}
	k.State, k.CreatedAt, k.ActivatesAt = state, now, activatesAt
	return k, nil
}

// ValidRSABits checks an RSA modulus size.
func ValidRSABits(bits int) error {
	switch bits {
	case 2048, 3072, 4096:
		return nil
	}
	return fmt.Errorf("keys: RSA key size must be 2048, 3072 or 4096, got %d", bits)
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

// pubKID returns the kid publicJWK set.
func pubKID(pub jwk.Key) (string, error) {
	if kid, ok := pub.Get(jwk.KeyIDKey); ok {
		if s, ok := kid.(string); ok {
			return s, nil
		}
	}
	return "", fmt.Errorf("keys: public key without a kid")
}

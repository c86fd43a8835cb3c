package keys

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// Signer signs with one key. The keyring builds the token around it, so a
// Signer only turns a signing input into a signature: a key held in a
// hardware module or a cloud KMS is one more Signer (see KeySource).
type Signer interface {
	// KID is the key's id, the RFC 7638 thumbprint of its public key.
	KID() string
	// Alg is the JWS algorithm: EdDSA or RS256.
	Alg() string
	// Sign returns the JWS signature of signingInput (RFC 7515 §5.1: the
	// encoded header, '.', the encoded payload).
	Sign(ctx context.Context, signingInput []byte) ([]byte, error)
}

// NewSigner returns a Signer for a crypto.Signer whose public key suits
// alg: Ed25519 for EdDSA, RSA of at least 2048 bits for RS256. Any other
// key is refused here, so that signing never meets a key it cannot use.
// Go's own Ed25519 and RSA keys sign directly; other implementations
// (PKCS#11, KMS clients) through their Sign method.
func NewSigner(kid, alg string, priv crypto.Signer) (Signer, error) {
	s := &cryptoSigner{kid: kid, alg: alg, priv: priv}
	switch pub := priv.Public().(type) {
	case ed25519.PublicKey:
		if alg != EdDSA {
			return nil, fmt.Errorf("keys: key %s is Ed25519 but stored as %s", kid, alg)
		}
		if len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("keys: key %s: Ed25519 public key of %d bytes", kid, len(pub))
		}
		s.size = ed25519.SignatureSize
		s.ed, _ = priv.(ed25519.PrivateKey)
	case *rsa.PublicKey:
		if alg != RS256 {
			return nil, fmt.Errorf("keys: key %s is RSA but stored as %s", kid, alg)
		}
		if pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("keys: key %s: RSA key of %d bits (minimum 2048)", kid, pub.N.BitLen())
		}
		s.size = pub.Size()
		s.rsa, _ = priv.(*rsa.PrivateKey)
	default:
		return nil, fmt.Errorf("keys: key %s: unsupported key type %T (want Ed25519 or RSA)", kid, priv)
	}
	return s, nil
}

// cryptoSigner signs with a crypto.Signer; ed or rsa is set when the key is
// Go's own, to skip the interface and, for Ed25519, the options check.
type cryptoSigner struct {
	kid, alg string
	priv     crypto.Signer
	ed       ed25519.PrivateKey
	rsa      *rsa.PrivateKey
	size     int // the signature's length
}

func (s *cryptoSigner) KID() string { return s.kid }
func (s *cryptoSigner) Alg() string { return s.alg }

func (s *cryptoSigner) Sign(_ context.Context, in []byte) ([]byte, error) {
	var sig []byte
	var err error
	switch {
	case s.ed != nil:
		sig = ed25519.Sign(s.ed, in)
	case s.rsa != nil:
		sum := sha256.Sum256(in)
		sig, err = rsa.SignPKCS1v15(rand.Reader, s.rsa, crypto.SHA256, sum[:])
	case s.alg == EdDSA:
		sig, err = s.priv.Sign(rand.Reader, in, crypto.Hash(0))
	case s.alg == RS256:
		sum := sha256.Sum256(in)
		sig, err = s.priv.Sign(rand.Reader, sum[:], crypto.SHA256)
	default:
		return nil, fmt.Errorf("%w %q (key %s)", ErrUnsupportedAlg, s.alg, s.kid)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: sign with %s: %w", s.kid, err)
	}
	// An implementation that "succeeds" without a proper signature must
	// not produce a token.
	if len(sig) != s.size {
		return nil, fmt.Errorf("keys: key %s gave a %d-byte signature, want %d", s.kid, len(sig), s.size)
	}
	return sig, nil
}

// signingKey is a key the keyring signs with: its Signer and its protected
// header, encoded once since it never changes for the key.
type signingKey struct {
	signer Signer
	header string // base64url of {"alg":..,"kid":..,"typ":"at+jwt"}
	// jwtHeader is the same with typ JWT, for ID tokens: a token signed
	// with it is never taken for an access token.
	jwtHeader string
	size   int    // the signature's length, from the published key
	// until, when set, is when the keyring stops signing with this key:
	// set when it stands in for an active key that could not be opened.
	until time.Time
}

// newSigningKey checks that s is the signer of k, whatever the source.
func newSigningKey(k Key, s Signer) (*signingKey, error) {
	if s.KID() != k.KID || s.Alg() != k.Alg {
		return nil, fmt.Errorf("keys: the key source opened %s (%s) for key %s (%s)", s.KID(), s.Alg(), k.KID, k.Alg)
	}
	size, err := signatureSize(k)
	if err != nil {
		return nil, err
	}
	header := func(typ string) (string, error) {
		h, err := json.Marshal(struct {
			Alg string `json:"alg"`
			KID string `json:"kid"`
			Typ string `json:"typ"`
		}{k.Alg, k.KID, typ})
		return base64.RawURLEncoding.EncodeToString(h), err
	}
	at, err := header("at+jwt")
	if err != nil {
		return nil, err
	}
	plain, err := header("JWT")
	if err != nil {
		return nil, err
	}
	return &signingKey{signer: s, header: at, jwtHeader: plain, size: size}, nil
}

// signatureSize is the length of k's signatures: 64 bytes for Ed25519, the
// modulus size for RSA.
func signatureSize(k Key) (int, error) {
	switch k.Alg {
	case EdDSA:
		return ed25519.SignatureSize, nil
	case RS256:
		var pub struct {
			N string `json:"n"`
		}
		if err := json.Unmarshal([]byte(k.PublicJWK), &pub); err != nil {
			return 0, fmt.Errorf("keys: public key %s: %w", k.KID, err)
		}
		n, err := base64.RawURLEncoding.DecodeString(pub.N)
		if err != nil || len(n) < 256 {
			return 0, fmt.Errorf("keys: public key %s: bad RSA modulus", k.KID)
		}
		return len(n), nil
	}
	return 0, fmt.Errorf("%w %q (key %s)", ErrUnsupportedAlg, k.Alg, k.KID)
}

// sign returns the compact JWS of payload (the JSON claims).
func (s *signingKey) sign(ctx context.Context, payload []byte) (string, error) {
	return s.signAs(ctx, s.header, payload)
}

// signAs returns the compact JWS of payload under the encoded header.
func (s *signingKey) signAs(ctx context.Context, header string, payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(512))
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, err := s.signer.Sign(ctx, buf)
	if err != nil {
		return "", err
	}
	if len(sig) != s.size {
		return "", fmt.Errorf("keys: key %s gave a %d-byte signature, want %d", s.signer.KID(), len(sig), s.size)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

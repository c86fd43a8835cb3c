package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KEKSize is the size of the key-encryption key in bytes.
const KEKSize = 32

const sealVersion = 1

// Sealer encrypts private keys (and other secrets at rest) with AES-256-GCM
// under the key-encryption key. The caller's label (a key id, a session id)
// is bound in as associated data, so a ciphertext moved to another row does
// not decrypt.
type Sealer struct {
	aead        cipher.AEAD
	fingerprint string
}

// NewSealer returns a Sealer for a 32-byte key-encryption key.
func NewSealer(kek []byte) (*Sealer, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("keys: key-encryption key must be %d bytes, got %d", KEKSize, len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption key: %w", err)
	}
	return &Sealer{aead: aead, fingerprint: KEKFingerprint(kek)}, nil
}

// KEKFingerprint names a key-encryption key in messages, logs and the
// audit trail without revealing it: 16 hex digits of an HMAC-SHA256 keyed
// with it.
func KEKFingerprint(kek []byte) string {
	m := hmac.New(sha256.New, kek)
	m.Write([]byte("signet key-encryption key fingerprint"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// Fingerprint is the fingerprint of the key that seals.
func (s *Sealer) Fingerprint() string { return s.fingerprint }

// ParseKEK decodes a base64 (standard or URL alphabet, padded or not)
// key-encryption key and checks its size.
func ParseKEK(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KEKSize {
				return nil, fmt.Errorf("must decode to %d bytes, got %d", KEKSize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("is not valid base64")
}

// NewKEK returns a fresh random key-encryption key, base64 encoded.
func NewKEK() string {
	b := make([]byte, KEKSize)
	if _, err := rand.Read(b); err != nil {
		panic("keys: crypto/rand failed: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Seal encrypts plaintext bound to label.
func (s *Sealer) Seal(label string, plaintext []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("keys: crypto/rand failed: " + err.Error())
	}
	out := append([]byte{sealVersion}, nonce...)
	return s.aead.Seal(out, nonce, plaintext, []byte(label))
}

// Open decrypts what Seal produced for the same label. A wrong
// key-encryption key, a wrong label or tampered data yield ErrDecrypt.
func (s *Sealer) Open(label string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrDecrypt
	}
	pt, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(label))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// KEKSize is the size of the key-encryption key in bytes.
const KEKSize = 32

const sealVersion = 1

// Sealer encrypts private keys (and other secrets at rest) with AES-256-GCM
// under the key-encryption key. The caller's label (a key id, a session id)
// is bound in as associated data, so a ciphertext moved to another row does
// not decrypt.
//
// A Sealer holds one or more key-encryption keys: the first seals, and
// every one opens, tried in order. That is how a change of key-encryption
// key runs while replicas serve (signet kek rotate): each replica is given
// the new key and the old one, opens what either sealed and seals with the
// first, while the stored secrets are re-sealed under the new key (see
// Reseal). The sealed form names no key: trying each is safe, since GCM
// authenticates (a wrong key fails, it never yields wrong plaintext), and
// cheap, since a ring holds two keys at most and only while a change runs.
// It also keeps the sealed form the same as before rings existed, so
// replicas of both versions read each other's secrets.
type Sealer struct {
	aeads        []cipher.AEAD // [0] seals
	fingerprints []string
}

// NewSealer returns a Sealer that seals with kek, a 32-byte key, and opens
// with kek and then each of previous.
func NewSealer(kek []byte, previous ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	all := append([][]byte{kek}, previous...)
	for i, k := range all {
		if len(k) != KEKSize {
			return nil, fmt.Errorf("keys: key-encryption key must be %d bytes, got %d", KEKSize, len(k))
		}
		if slices.ContainsFunc(all[:i], func(o []byte) bool { return bytes.Equal(o, k) }) {
			continue
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("keys: key-encryption key: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keys: key-encryption key: %w", err)
		}
		s.aeads = append(s.aeads, aead)
		s.fingerprints = append(s.fingerprints, KEKFingerprint(k))
	}
	return s, nil
}

// KEKFingerprint names a key-encryption key in messages, logs and the
// audit trail without revealing it: 16 hex digits of an HMAC-SHA256 keyed
// with it.
func KEKFingerprint(kek []byte) string {
	m := hmac.New(sha256.New, kek)
	m.Write([]byte("signet key-encryption key fingerprint"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// WithFirst returns a Sealer that seals with kek and opens with kek and
// then with every key of s: what re-seals s's secrets under kek.
func (s *Sealer) WithFirst(kek []byte) (*Sealer, error) {
	first, err := NewSealer(kek)
	if err != nil {
		return nil, err
	}
	for i, a := range s.aeads {
		if s.fingerprints[i] != first.fingerprints[0] {
			first.aeads = append(first.aeads, a)
			first.fingerprints = append(first.fingerprints, s.fingerprints[i])
		}
	}
	return first, nil
}

// Fingerprint is the fingerprint of the key that seals.
func (s *Sealer) Fingerprint() string { return s.fingerprints[0] }

// Fingerprints are the fingerprints of every key, the sealing one first.
func (s *Sealer) Fingerprints() []string { return append([]string(nil), s.fingerprints...) }

// ParseKEK decodes a key-encryption key, base64 (standard or URL alphabet,
// padded or not). Given a list (see ParseKEKs) it checks every key and
// returns the first, the one that seals.
func ParseKEK(s string) ([]byte, error) {
	ks, err := ParseKEKs(s)
	if err != nil {
		return nil, err
	}
	return ks[0], nil
}

// ParseKEKs decodes a list of key-encryption keys separated by newlines,
// commas or spaces, the key that seals first; lines starting with # are
// comments.
func ParseKEKs(s string) ([][]byte, error) {
	var fields []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		fields = append(fields, strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' })...)
	}
	if len(fields) == 0 {
		return nil, errors.New("is empty")
	}
	out := make([][]byte, 0, len(fields))
	for i, f := range fields {
		k, err := parseOneKEK(f)
		if err != nil {
			if len(fields) > 1 {
				return nil, fmt.Errorf("key %d of %d %v", i+1, len(fields), err)
			}
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func parseOneKEK(s string) ([]byte, error) {
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

// Seal encrypts plaintext bound to label, under the first key.
func (s *Sealer) Seal(label string, plaintext []byte) []byte {
	aead := s.aeads[0]
	nonce := make([]byte, aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("keys: crypto/rand failed: " + err.Error())
	}
	out := append([]byte{sealVersion}, nonce...)
	return aead.Seal(out, nonce, plaintext, []byte(label))
}

// Open decrypts what Seal produced for the same label, with whichever key
// sealed it. A key-encryption key not in the Sealer, a wrong label or
// tampered data yield ErrDecrypt.
func (s *Sealer) Open(label string, sealed []byte) ([]byte, error) {
	_, pt, err := s.open(label, sealed)
	return pt, err
}

// open also returns the index of the key that opened sealed.
func (s *Sealer) open(label string, sealed []byte) (int, []byte, error) {
	for i, aead := range s.aeads {
		n := aead.NonceSize()
		if len(sealed) < 1+n+aead.Overhead() || sealed[0] != sealVersion {
			return 0, nil, ErrDecrypt
		}
		if pt, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(label)); err == nil {
			return i, pt, nil
		}
	}
	return 0, nil, ErrDecrypt
}

// Reseal returns sealed re-sealed under the first key, or nil when it
// already is: what a change of key-encryption key applies to every stored
// secret. It fails with ErrDecrypt when no key opens sealed.
func (s *Sealer) Reseal(label string, sealed []byte) ([]byte, error) {
	i, pt, err := s.open(label, sealed)
	if err != nil || i == 0 {
		return nil, err
	}
	return s.Seal(label, pt), nil
}

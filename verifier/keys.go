package verifier

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// algorithm is a JWS alg this package can verify. Symmetric algorithms and
// "none" have no value here, so they can never be allowed.
type algorithm uint8

const (
	algEdDSA algorithm = iota + 1
	algRS256
	algPS256
	algES256
)

// algSet is a bit set of allowed algorithms.
type algSet uint8

func (s algSet) has(a algorithm) bool { return a != 0 && s&(1<<a) != 0 }

func parseAlg(name []byte) algorithm {
	switch string(name) {
	case "EdDSA":
		return algEdDSA
	case "RS256":
		return algRS256
	case "PS256":
		return algPS256
	case "ES256":
		return algES256
	}
	return 0
}

func (a algorithm) String() string {
	switch a {
	case algEdDSA:
		return "EdDSA"
	case algRS256:
		return "RS256"
	case algPS256:
		return "PS256"
	case algES256:
		return "ES256"
	}
	return "unknown"
}

const (
	minRSABits = 2048
	maxRSABits = 8192 // bounds the cost of one verification
)

// publicKey is a verification key extracted once from its JWK, bound to one
// algorithm, so the hot path does no JWK conversion.
type publicKey struct {
	alg algorithm
	ed  ed25519.PublicKey
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
}

// verify checks sig over signingInput (the ASCII "header.payload").
func (k *publicKey) verify(signingInput, sig []byte) bool {
	switch k.alg {
	case algEdDSA:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, signingInput, sig)
	case algRS256:
		sum := sha256.Sum256(signingInput)
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, sum[:], sig) == nil
	case algPS256:
		sum := sha256.Sum256(signingInput)
		return rsa.VerifyPSS(k.rsa, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case algES256:
		// JWS carries R||S, 32 bytes each (RFC 7518 §3.4), not ASN.1.
		if len(sig) != 64 {
			return false
		}
		sum := sha256.Sum256(signingInput)
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ec, sum[:], r, s)
	}
	return false
}

// parseJWKS reads a JWKS document. A body that is not a JSON object with a
// "keys" array is an error; a key that cannot be used is dropped alone (and
// logged), never failing the whole set.
func parseJWKS(body []byte, allowed algSet, log *slog.Logger) (map[string]*publicKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("jwks is not valid json: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`jwks has no "keys" array`)
	}
	keys := make([]jwk.Key, 0, len(doc.Keys))
	for i, raw := range doc.Keys {
		k, err := jwk.ParseKey(raw)
		if err != nil {
			log.Warn("verifier: dropping unparsable jwk", "index", i, "err", err)
			continue
		}
		keys = append(keys, k)
	}
	return usableKeys(keys, allowed, log), nil
}

// keysOfSet returns the keys of a jwk.Set.
func keysOfSet(set jwk.Set) []jwk.Key {
	keys := make([]jwk.Key, 0, set.Len())
	for i := range set.Len() {
		if k, ok := set.Key(i); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// usableKeys converts JWKs to verification keys by kid, dropping each key
// that is unusable. Keys that share a kid are all dropped: which one a token
// means would be ambiguous.
func usableKeys(keys []jwk.Key, allowed algSet, log *slog.Logger) map[string]*publicKey {
	out := make(map[string]*publicKey, len(keys))
	var collided []string
	for _, k := range keys {
		pk, err := usableKey(k, allowed)
		if err != nil {
			log.Warn("verifier: dropping jwk", "kid", k.KeyID(), "reason", err.Error())
			continue
		}
		kid := k.KeyID()
		if _, dup := out[kid]; dup {
			collided = append(collided, kid)
			continue
		}
		out[kid] = pk
	}
	for _, kid := range collided {
		log.Warn("verifier: dropping jwks keys that share a kid", "kid", kid)
		delete(out, kid)
	}
	return out
}

// usableKey applies the key rules: a kid is required; use, if present, is
// "sig"; key_ops, if present, includes "verify"; the type is OKP Ed25519,
// RSA of 2048..8192 bits, or EC P-256; the key's alg, if present, binds and
// must fit the key type; without alg it is inferred (Ed25519 → EdDSA,
// RSA → RS256, P-256 → ES256); the alg must be allowed.
func usableKey(k jwk.Key, allowed algSet) (*publicKey, error) {
	if k.KeyID() == "" {
		return nil, errors.New("no kid")
	}
	if use := k.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
		return nil, fmt.Errorf("use is %q, not sig", use)
	}
	if ops := k.KeyOps(); len(ops) > 0 && !slices.Contains(ops, jwk.KeyOpVerify) {
		return nil, errors.New(`key_ops lacks "verify"`)
	}
	if k.KeyType() == jwa.OctetSeq {
		return nil, errors.New("symmetric key")
	}
	pub, err := k.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("no public key: %w", err)
	}
	var raw any
	if err := pub.Raw(&raw); err != nil {
		return nil, fmt.Errorf("unusable key material: %w", err)
	}
	pk := &publicKey{}
	var inferred algorithm
	switch key := raw.(type) {
	case ed25519.PublicKey:
		if len(key) != ed25519.PublicKeySize {
			return nil, errors.New("bad ed25519 key size")
		}
		if reason := weakEd25519(key); reason != "" {
			return nil, errors.New(reason)
		}
		pk.ed, inferred = key, algEdDSA
	case *rsa.PublicKey:
		if bits := key.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("rsa key of %d bits, need %d..%d", bits, minRSABits, maxRSABits)
		}
		if key.E < 3 || key.E%2 == 0 {
			return nil, errors.New("bad rsa exponent")
		}
		pk.rsa, inferred = key, algRS256
	case *ecdsa.PublicKey:
		if key.Curve != elliptic.P256() {
			return nil, errors.New("ec key is not on p-256")
		}
		pk.ec, inferred = key, algES256
	default:
		return nil, fmt.Errorf("unsupported key type %s", k.KeyType())
	}
	pk.alg = inferred
	if name := k.Algorithm().String(); name != "" {
		a := parseAlg([]byte(name))
		if !fitsKey(a, inferred) {
			return nil, fmt.Errorf("alg %q does not fit the key type", name)
		}
		pk.alg = a
	}
	if !allowed.has(pk.alg) {
		return nil, fmt.Errorf("alg %s not allowed", pk.alg)
	}
	return pk, nil
}

// smallOrderEd25519 are the canonical encodings, in hex, of the eight
// points of small order on edwards25519 (libsodium's blocklist, and the
// list in "Taming the many EdDSAs"). With such a public key A, the
// signature R = identity, S = 0 verifies a message with probability
// 1/order(A), so always for the identity: crypto/ed25519 does not refuse
// them.
var smallOrderEd25519 = [8]string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity, order 1
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // (0, -1), order 2
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
}

// weakEd25519 says why an Ed25519 public key must not be used, or "" if it
// may. Non-canonical encodings (y >= p = 2^255-19, or x = 0 with the sign
// bit set), which RFC 8032 decoding refuses and crypto/ed25519 accepts, are
// refused first; each names a point that also has a canonical encoding, so
// the eight canonical encodings then cover every key of small order.
func weakEd25519(pub []byte) string {
	if !canonicalY(pub) {
		return "non-canonical ed25519 point encoding (y >= p)"
	}
	// x = 0 only for y = 1 and y = p-1: the identity and (0, -1), with the
	// sign bit set.
	if pub[31]&0x80 != 0 {
		y := slices.Clone(pub)
		y[31] &= 0x7f
		if h := hex.EncodeToString(y); h == smallOrderEd25519[0] || h == smallOrderEd25519[1] {
			return "non-canonical ed25519 point encoding (x = 0 with the sign bit set)"
		}
	}
	if slices.Contains(smallOrderEd25519[:], hex.EncodeToString(pub)) {
		return "ed25519 point of small order"
	}
	return ""
}

// canonicalY reports whether the 255-bit little-endian y of an encoded
// point (sign bit masked) is below p = 2^255-19. The values from p up are
// the bytes ed..ff in byte 0, ff in bytes 1..30 and 7f in byte 31.
func canonicalY(pub []byte) bool {
	if pub[31]&0x7f != 0x7f {
		return true
	}
	for _, b := range pub[1:31] {
		if b != 0xff {
			return true
		}
	}
	return pub[0] < 0xed
}

// fitsKey reports whether alg a can be used with a key whose inferred alg is
// inferred.
func fitsKey(a, inferred algorithm) bool {
	if a == 0 {
		return false
	}
	if inferred == algRS256 {
		return a == algRS256 || a == algPS256
	}
	return a == inferred
}

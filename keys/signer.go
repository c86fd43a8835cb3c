package keys

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// AccessClaims are the claims of an access token (the token contract).
type AccessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	ID        string   `json:"jti"`
	SessionID string   `json:"sid"`
	Email     string   `json:"email"`
	Scope     string   `json:"scope"`
	// EmailVerified is whether the owner confirmed Email; resource
	// servers trust Email only when it is true.
	EmailVerified bool `json:"email_verified"`
}

// signingKey is an active key opened for signing. The protected header is
// encoded once, since it never changes for the key.
type signingKey struct {
	kid    string
	alg    string
	priv   crypto.Signer
	header string // base64url of {"alg":..,"kid":..,"typ":"at+jwt"}
}

func newSigningKey(k Key, sealer *Sealer) (*signingKey, error) {
	priv, err := privateSigner(k, sealer)
	if err != nil {
		return nil, err
	}
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		KID string `json:"kid"`
		Typ string `json:"typ"`
	}{k.Alg, k.KID, "at+jwt"})
	if err != nil {
		return nil, err
	}
	return &signingKey{kid: k.KID, alg: k.Alg, priv: priv, header: base64.RawURLEncoding.EncodeToString(h)}, nil
}

// sign returns the compact JWS of claims. It signs with the raw Go key; the
// header is fixed per key.
func (s *signingKey) sign(c *AccessClaims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("keys: encode claims: %w", err)
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(s.header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(512))
	buf = append(buf, s.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	var sig []byte
	switch p := s.priv.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(p, buf)
	case *rsa.PrivateKey:
		sum := sha256.Sum256(buf)
		sig, err = rsa.SignPKCS1v15(rand.Reader, p, crypto.SHA256, sum[:])
		if err != nil {
			return "", fmt.Errorf("keys: sign: %w", err)
		}
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

package resource

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// ClientKey is a resource server's own key pair as an OAuth client: the
// private key signs its client assertions (private_key_jwt), and only the
// public half, served as a JWK set, is known to the issuer.
type ClientKey struct {
	Private ed25519.PrivateKey
	KID     string // RFC 7638 thumbprint of the public key
	// JWKS is the public JWK set (JSON) to serve at
	// /.well-known/jwks.json or to register with the issuer.
	JWKS []byte
}

// LoadOrCreateClientKey reads the Ed25519 private key (PKCS #8 PEM) at
// path, or, when there is no file there, makes one and writes it with
// mode 0600 (created reports that). A file other users can read is
// refused.
func LoadOrCreateClientKey(path string) (key ClientKey, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createClientKey(path); err != nil {
			return ClientKey{}, false, err
		}
		created = true
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return ClientKey{}, false, fmt.Errorf("client key: %w", err)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
			return ClientKey{}, false, fmt.Errorf("client key %s: every user of this machine can read it (mode %s); chmod 600 it", path, fi.Mode().Perm())
		}
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return ClientKey{}, false, fmt.Errorf("client key %s: not a PEM PRIVATE KEY", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return ClientKey{}, false, fmt.Errorf("client key %s: %w", path, err)
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return ClientKey{}, false, fmt.Errorf("client key %s: an Ed25519 key is expected, not %T", path, parsed)
	}
	key, err = newClientKey(priv)
	return key, created, err
}

func newClientKey(priv ed25519.PrivateKey) (ClientKey, error) {
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		return ClientKey{}, err
	}
	tp, err := pub.Thumbprint(cryptoSHA256)
	if err != nil {
		return ClientKey{}, err
	}
	kid := b64url(tp)
	for k, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: "EdDSA", jwk.KeyUsageKey: "sig"} {
		if err := pub.Set(k, v); err != nil {
			return ClientKey{}, err
		}
	}
	set, err := json.Marshal(map[string]any{"keys": []jwk.Key{pub}})
	if err != nil {
		return ClientKey{}, err
	}
	return ClientKey{Private: priv, KID: kid, JWKS: set}, nil
}

// createClientKey writes a new key to a temporary file and links it into
// place, so a reader never sees half a key and two processes starting at
// once end up with the same one.
func createClientKey(path string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("client key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".client-key-*")
	if err != nil {
		return fmt.Errorf("client key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("client key: %w", err)
	}
	return nil
}

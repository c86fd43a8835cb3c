package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/signet-auth/signet/keys"
)

// errWrongKEK marks a command refused because its key-encryption key does
// not open what the store holds.
var errWrongKEK = errors.New("wrong key-encryption key")

// kekOrigin names where the configuration took the key-encryption key
// from, for messages.
func kekOrigin(cfg *config) string {
	switch {
	case cfg.kekB64 != "":
		return "SIGNET_KEY_ENCRYPTION_KEY"
	case cfg.kekFile != "":
		return "SIGNET_KEY_ENCRYPTION_KEY_FILE (" + cfg.kekFile + ")"
	}
	return "the key-encryption key generated in the data directory (" + filepath.Join(cfg.DataDir, "key-encryption-key") + ")"
}

// proveKEK is the check every command that writes keys or secrets makes
// first: its key-encryption key must open the active signing keys, the ones
// the running issuers open with theirs, or what it writes would be sealed
// under a key they do not have (and every later start with the right key
// would fail). Other stored keys that do not open are reported, not
// refused, so that they can be revoked.
func proveKEK(ctx context.Context, list func(context.Context) ([]keys.Key, error), sealer *keys.Sealer, origin string, stderr io.Writer) error {
	ks, err := list(ctx)
	if err != nil {
		return err
	}
	src := keys.SealedKeys{Sealer: sealer}
	var refused, others []string
	for _, k := range ks {
		if k.PrivateKey == nil {
			continue
		}
		if _, err := src.Signer(ctx, k); err != nil {
			desc := fmt.Sprintf("%s (%s, %s)", k.KID, k.Alg, k.State)
			if k.State == keys.StateActive {
				refused = append(refused, desc)
			} else {
				others = append(others, desc)
			}
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("%w: %s (fingerprint %s) does not open the active signing key %s; a key or secret written with it could not be opened by issuers running with the right one. Run this command with the key-encryption key the issuer runs with",
			errWrongKEK, origin, sealer.Fingerprint(), strings.Join(refused, ", "))
	}
	for _, o := range others {
		fmt.Fprintf(stderr, "signet: warning: %s does not open the stored key %s; revoke it if no issuer can open it either\n", origin, o)
	}
	return nil
}

// kekSealer builds the sealer from every key-encryption key configured (a
// list during a change of key, the key that seals first) after checking
// the key file, if any: keyEncryptionKey returns the first key only.
func kekSealer(cfg *config, log *slog.Logger, kek []byte) (*keys.Sealer, error) {
	list := cfg.kekB64
	if list == "" {
		path := cfg.kekFile
		if path == "" {
			path = filepath.Join(cfg.DataDir, "key-encryption-key")
		}
		if err := checkKEKFile(path, log); err != nil {
			return nil, configError{err}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("key-encryption key file: %w", err)
		}
		list = string(b)
	}
	ring, err := keys.ParseKEKs(list)
	if err != nil || !bytes.Equal(ring[0], kek) {
		return nil, configError{fmt.Errorf("%s changed while it was read", kekOrigin(cfg))}
	}
	sealer, err := keys.NewSealer(ring[0], ring[1:]...)
	if err != nil {
		return nil, err
	}
	fps := sealer.Fingerprints()
	log.Debug("key-encryption key", "fingerprint", fps[0], "also_opens", strings.Join(fps[1:], ","))
	return sealer, nil
}

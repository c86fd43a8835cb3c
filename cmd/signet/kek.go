package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
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

const kekAbout = `Change the key-encryption key, which seals the signing keys' private parts
and the sessions' refresh secrets in the store.

  rotate --new-key-file PATH   re-seal every sealed secret in the store under
                               the key in PATH (32 bytes, base64); the key in
                               use comes from SIGNET_KEY_ENCRYPTION_KEY or
                               SIGNET_KEY_ENCRYPTION_KEY_FILE as for serve

Replicas keep serving through the change when each can open both keys: a
key-encryption key setting may hold several keys (one per line, or
comma-separated), the first seals and every one opens.

  1. openssl rand -base64 32 > kek.new && chmod 600 kek.new
  2. give every replica the old key and the new one, and restart them one
     by one; then put the new key first and restart them again (with the
     new key first from the start, one restart round is enough, but until it
     ends a replica that knows only the old key may meet a session it
     cannot open)
  3. signet kek rotate --new-key-file kek.new
     (in batches; safe to stop and run again; audited)
  4. give every replica the new key alone and restart them one by one

Keep the old key only as long as backups taken before step 3 are kept:
they are sealed under it.`

func runKEK(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kek", flag.ContinueOnError)
	src := addSettings(fs, getenv)
	newFile := fs.String("new-key-file", "", "rotate: file holding the new key-encryption key")
	batch := fs.Int("batch-size", 500, "rotate: sessions re-sealed per transaction")
	commandUsage(fs, "signet kek rotate --new-key-file PATH", kekAbout)
	if err := parseFlags(fs, reorder(fs, args), stdout, stderr); err != nil {
		return err
	}
	if rest := fs.Args(); len(rest) != 1 || rest[0] != "rotate" {
		fs.Usage()
		return errUsage
	}
	if *newFile == "" {
		return configError{errors.New("kek rotate: --new-key-file is required")}
	}
	if *batch < 1 {
		return configError{fmt.Errorf("kek rotate: --batch-size must be positive, got %d", *batch)}
	}
	cfg, err := loadConfig(src)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	newKEK, err := readNewKEK(*newFile, log)
	if err != nil {
		return err
	}
	db, sealer, err := openStore(ctx, cfg, log, cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer db.Close()

	// Seal with the new key, open with it and with every key in use: a
	// run that was stopped finds some secrets under each.
	to, err := sealer.WithFirst(newKEK)
	if err != nil {
		return err
	}
	detail := map[string]string{
		"actor": actor(getenv),
		"from":  strings.Join(sealer.Fingerprints(), ","),
		"to":    to.Fingerprint(),
	}
	err = rotateKEK(ctx, db, to, kekOrigin(cfg), *batch, detail, log, stdout, stderr)
	if err == nil {
		detail["result"] = "ok"
		log.Info("key-encryption key rotated", "from", detail["from"], "to", detail["to"],
			"signing_keys_resealed", detail["signing_keys_resealed"], "sessions_resealed", detail["sessions_resealed"])
	} else {
		detail["result"], detail["error"] = "failed", err.Error()
		if errors.Is(err, errWrongKEK) {
			detail["result"] = "refused"
		}
		log.Error("key-encryption key rotation failed", "from", detail["from"], "to", detail["to"], "error", err)
	}
	ev := issuer.AuditEvent{At: time.Now(), Type: "cli_kek_rotate", Detail: detail}
	if aerr := db.RecordEvent(ctx, ev); aerr != nil {
		fmt.Fprintf(stderr, "signet kek: warning: the audit event was not written: %v\n", aerr)
	}
	return err
}

// readNewKEK reads the new key-encryption key: one key, in a file only its
// owner can read.
func readNewKEK(path string, log *slog.Logger) ([]byte, error) {
	if err := checkKEKFile(path, log); err != nil {
		return nil, configError{fmt.Errorf("--new-key-file: %w", err)}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, configError{fmt.Errorf("--new-key-file: %w", err)}
	}
	ks, err := keys.ParseKEKs(string(b))
	switch {
	case err != nil:
		return nil, configError{fmt.Errorf("--new-key-file: the content of %s %v", path, err)}
	case len(ks) != 1:
		return nil, configError{fmt.Errorf("--new-key-file: %s holds %d keys; give the new key alone", path, len(ks))}
	}
	return ks[0], nil
}

// rotateKEK re-seals the store's secrets under to's first key until a pass
// finds none left to re-seal (a replica may have sealed a session the old
// way while a pass ran), and records the counts in detail, per table.
func rotateKEK(ctx context.Context, db *store.DB, to *keys.Sealer, origin string, batch int, detail map[string]string, log *slog.Logger, stdout, stderr io.Writer) error {
	if err := proveKEK(ctx, db.ListKeys, to, origin+" with the new key", stderr); err != nil {
		return err
	}
	progress := func(c store.ResealCount) {
		log.Debug("re-sealing", "table", c.Table, "resealed", c.Resealed, "current", c.Current)
	}
	const maxPasses = 3
	var total []store.ResealCount // per table, in the store's order
	for pass := 1; ; pass++ {
		counts, err := db.ResealSecrets(ctx, batch, to.Reseal, progress)
		resealed := 0
		for _, c := range counts {
			i := slices.IndexFunc(total, func(t store.ResealCount) bool { return t.Table == c.Table })
			if i < 0 {
				total, i = append(total, store.ResealCount{Table: c.Table}), len(total)
			}
			t := &total[i]
			t.Resealed += c.Resealed
			t.Gone += c.Gone
			// What is current and what cannot be opened is what the last
			// pass saw.
			t.Current, t.Unopened, t.UnopenedLabels = c.Current, c.Unopened, c.UnopenedLabels
			resealed += c.Resealed
		}
		detail["passes"] = strconv.Itoa(pass)
		for _, t := range total {
			detail[t.Table+"_resealed"] = strconv.Itoa(t.Resealed)
			detail[t.Table+"_current"] = strconv.Itoa(t.Current)
			detail[t.Table+"_unopened"] = strconv.Itoa(t.Unopened)
		}
		if err != nil {
			return fmt.Errorf("kek rotate: %w (what was done is kept: run the command again to finish)", err)
		}
		if resealed == 0 {
			break
		}
		if pass == maxPasses {
			return fmt.Errorf("kek rotate: after %d passes secrets still appear sealed under an old key: a replica still seals with it (give every replica the new key first)", pass)
		}
	}
	fmt.Fprintf(stdout, "re-sealed under key-encryption key %s:\n", to.Fingerprint())
	var unopened []string
	for _, t := range total {
		fmt.Fprintf(stdout, "  %s: %d re-sealed, %d already\n", t.Table, t.Resealed, t.Current-t.Resealed)
		if t.Unopened > 0 {
			unopened = append(unopened, fmt.Sprintf("%s: %d %v", t.Table, t.Unopened, t.UnopenedLabels))
		}
	}
	if len(unopened) > 0 {
		return fmt.Errorf("kek rotate: secrets that no key given opens were left as they are (%s)", strings.Join(unopened, "; "))
	}
	fmt.Fprintf(stdout, "The old key-encryption key opens nothing in the store any more. Next: give every replica the new key alone and restart them one by one; keep the old key only as long as backups taken before now.\n")
	return nil
}

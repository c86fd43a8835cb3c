package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/keys"
)

const keysAbout = `Inspect and manage signing keys. The commands act through the database, so
they take effect on every running replica (at once on Postgres, within
SIGNET_KEY_RELOAD_INTERVAL on SQLite).

  list                 every key: kid, alg, state and its schedule (--json)
  rotate [--now]       publish the next key now; --now also makes it sign at
                       once (emergency: verifiers whose cached JWKS predates
                       it reject its tokens until they refetch)
  revoke KID           take a key out of the JWKS at once and make its
                       private part unusable (overwritten and purged from
                       the database; copies in its backups stay sealed
                       under the key-encryption key); the active key needs
                       --promote, which makes its successor sign in the
                       same step
  generate --alg A     publish a next key of algorithm A (EdDSA or RS256),
                       for example ahead of a change of SIGNET_SIGNING_ALG
  rotate-refresh       make a new refresh MAC key now (they otherwise rotate
                       every SIGNET_REFRESH_KEY_ROTATION_PERIOD): new refresh
                       tokens are MACed with it from each replica's next
                       pass (within a minute), or at once on meeting one;
                       tokens of the older keys stay valid`

func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	src := addSettings(fs, getenv)
	asJSON := fs.Bool("json", false, "list: print JSON")
	now := fs.Bool("now", false, "rotate: promote the new key at once")
	promote := fs.Bool("promote", false, "revoke: promote a replacement when revoking the active key")
	alg := fs.String("alg", "", "generate, rotate: algorithm (default SIGNET_SIGNING_ALG)")
	commandUsage(fs, "signet keys [flags] list|rotate|revoke KID|generate|rotate-refresh", keysAbout)
	if err := parseFlags(fs, reorder(fs, args), stdout, stderr); err != nil {
		return err
	}
	rest, err := subcommand("keys", fs, stderr)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(src)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	db, sealer, err := openStore(ctx, cfg, log, cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer db.Close()
	if *alg == "" {
		*alg = cfg.SigningAlg
	}
	refreshKeys, err := issuer.NewRefreshKeys(db, sealer, issuer.RefreshKeysConfig{})
	if err != nil {
		return err
	}
	c := &keysCommand{
		rot:         &keys.Rotator{Store: db, Sealer: sealer, Policy: cfg.policy(), Logger: slog.New(slog.DiscardHandler)},
		refreshKeys: refreshKeys,
		list:        db.ListKeys,
		policy:      cfg.policy(),
		stdout:      stdout,
	}
	detail := map[string]string{"actor": actor(getenv)}
	if rest[0] != "list" {
		err = proveKEK(ctx, db.ListKeys, sealer, kekOrigin(cfg), stderr)
	}
	if err == nil {
		err = c.run(ctx, rest, *alg, *now, *promote, *asJSON, detail)
	}

	// Every command, refused and failed ones included, leaves an audit
	// row (the key changes themselves are recorded with the change).
	switch {
	case err == nil:
		detail["result"] = "ok"
	case errors.Is(err, keys.ErrOnlyActiveKey), errors.Is(err, errWrongKEK):
		detail["result"], detail["error"] = "refused", err.Error()
	default:
		detail["result"], detail["error"] = "failed", err.Error()
	}
	ev := issuer.AuditEvent{At: time.Now(), Type: "cli_keys_" + rest[0], Detail: detail}
	if aerr := db.RecordEvent(ctx, ev); aerr != nil {
		fmt.Fprintf(stderr, "signet keys: warning: the audit event was not written: %v\n", aerr)
	}
	return err
}

// keysCommand carries out one keys subcommand.
type keysCommand struct {
	rot         *keys.Rotator
	refreshKeys *issuer.RefreshKeys
	list        func(context.Context) ([]keys.Key, error)
	policy      keys.Policy
	stdout      io.Writer
}

// run carries out the subcommand and adds what it did to detail.
func (c *keysCommand) run(ctx context.Context, rest []string, alg string, now, promote, asJSON bool, detail map[string]string) error {
	w := c.stdout
	switch rest[0] {
	case "list":
		ks, err := c.list(ctx)
		if err != nil {
			return err
		}
		return printKeys(w, ks, asJSON)
	case "rotate":
		detail["alg"], detail["now"] = alg, strconv.FormatBool(now)
		k, err := c.rot.Rotate(ctx, alg, now)
		if err != nil {
			return err
		}
		detail["kid"] = k.KID
		if now {
			fmt.Fprintf(w, "key %s (%s) is now active; the previous key is retired and stays published for %s.\n", k.KID, k.Alg, c.policy.Retention())
			fmt.Fprintf(w, "Cost: a verifier whose cached JWKS predates the new key (cached up to SIGNET_JWKS_MAX_AGE = %s, plus up to SIGNET_KEY_RELOAD_INTERVAL = %s on replicas) meets an unknown kid: it refetches the JWKS at once if it refreshes on unknown kids, otherwise it rejects the new tokens until its cache expires.\n",
				c.policy.JWKSMaxAge, c.policy.ReloadInterval)
		} else {
			fmt.Fprintf(w, "key %s (%s) is published and starts signing at %s (after the publication lead of %s).\n", k.KID, k.Alg, k.ActivatesAt.Format(time.RFC3339), c.policy.PublishLead())
		}
		return nil
	case "rotate-refresh":
		p, err := c.refreshKeys.Rotate(ctx)
		if err != nil {
			return err
		}
		if p.Created == 0 {
			// Another replica's scheduled pass made the next key first.
			detail["key_id"] = strconv.FormatUint(uint64(p.Newest), 10)
			fmt.Fprintf(w, "refresh MAC key %d was made at the same moment by a replica's scheduled rotation; it is the newest.\n", p.Newest)
			return nil
		}
		detail["key_id"] = strconv.FormatUint(uint64(p.Created), 10)
		fmt.Fprintf(w, "refresh MAC key %d is made: each replica MACs new refresh tokens with it from its next pass (within a minute) or on meeting one; tokens of older keys stay valid until those keys are deleted, SIGNET_SESSION_MAX_AGE plus an hour after their successor was made.\n", p.Created)
		return nil
	case "generate":
		detail["alg"] = alg
		k, err := c.rot.Generate(ctx, alg)
		if err != nil {
			return err
		}
		detail["kid"] = k.KID
		fmt.Fprintf(w, "key %s (%s) is published (state %s).\n", k.KID, k.Alg, k.State)
		return nil
	case "revoke":
		if len(rest) != 2 {
			return configError{fmt.Errorf("keys revoke: give exactly one KID")}
		}
		detail["kid"], detail["promote"] = rest[1], strconv.FormatBool(promote)
		revoked, promoted, err := c.rot.Revoke(ctx, rest[1], promote)
		if err != nil {
			if errors.Is(err, keys.ErrOnlyActiveKey) {
				return fmt.Errorf("%w; rerun with --promote to make a replacement sign in the same step", err)
			}
			return err
		}
		detail["alg"] = revoked.Alg
		fmt.Fprintf(w, "key %s (%s) is revoked: removed from the JWKS and its private part made unusable (overwritten in the database; backups keep it sealed under the key-encryption key).\n", revoked.KID, revoked.Alg)
		if promoted != nil {
			detail["promoted_kid"] = promoted.KID
			fmt.Fprintf(w, "key %s (%s) is now active. Tokens signed by the revoked key no longer verify once verifiers refetch the JWKS (within SIGNET_JWKS_MAX_AGE = %s).\n", promoted.KID, promoted.Alg, c.policy.JWKSMaxAge)
		}
		return nil
	}
	return errUsage
}

// actor names who ran a command, for the audit trail.
func actor(getenv func(string) string) string {
	for _, v := range []string{"SIGNET_ACTOR", "SUDO_USER", "USER", "USERNAME"} {
		if s := getenv(v); s != "" {
			return s
		}
	}
	return "unknown"
}

// reorder moves flags after the subcommand (keys revoke KID --promote) in
// front of it, since package flag stops at the first argument. A flag that
// takes a value keeps the argument after it. After the subcommand, a word
// that names no flag is an argument: a kid is base64url and may begin
// with '-'.
func reorder(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if f == nil && len(pos) > 0 {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		if hasValue || f == nil {
			continue // an unknown flag: parseFlags reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(flags, pos...)
}

func printKeys(w io.Writer, ks []keys.Key, asJSON bool) error {
	if asJSON {
		if ks == nil {
			ks = []keys.Key{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(ks)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATES\tRETIRES\tREMOVED AT")
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, k := range ks {
		removed := k.RemovedAt
		if removed.IsZero() {
			removed = k.RevokedAt
		}
		if removed.IsZero() && k.State == keys.StateRetired {
			removed = k.RemoveAt
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State, ts(k.CreatedAt), ts(k.ActivatesAt), ts(k.RetiresAt), ts(removed))
	}
	return tw.Flush()
}

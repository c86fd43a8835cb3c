package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/signet-auth/signet/keys"
)

const keysAbout = `Inspect and manage signing keys. The commands act through the database, so
they take effect on every running replica (at once on Postgres, within
SIGNET_KEY_RELOAD_INTERVAL on SQLite).

  list                 every key: kid, alg, state and its schedule (--json)
  rotate [--now]       publish the next key now; --now also makes it sign at
                       once (emergency: verifiers whose cached JWKS predates
                       it reject its tokens until they refetch)
  revoke KID           take a key out of the JWKS at once and destroy its
                       private part; the active key needs --promote, which
                       makes its successor sign in the same step
  generate --alg A     publish a next key of algorithm A (EdDSA or RS256),
                       for example ahead of a change of SIGNET_SIGNING_ALG`

func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	src := addSettings(fs, getenv)
	asJSON := fs.Bool("json", false, "list: print JSON")
	now := fs.Bool("now", false, "rotate: promote the new key at once")
	promote := fs.Bool("promote", false, "revoke: promote a replacement when revoking the active key")
	alg := fs.String("alg", "", "generate, rotate: algorithm (default SIGNET_SIGNING_ALG)")
	commandUsage(fs, "signet keys [flags] list|rotate|revoke KID|generate", keysAbout)
	if err := parseFlags(fs, reorder(args), stdout, stderr); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return errUsage
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
	rot := &keys.Rotator{Store: db, Sealer: sealer, Policy: cfg.policy(), Logger: slog.New(slog.DiscardHandler)}
	if *alg == "" {
		*alg = cfg.SigningAlg
	}
	switch rest[0] {
	case "list":
		ks, err := db.ListKeys(ctx)
		if err != nil {
			return err
		}
		return printKeys(stdout, ks, *asJSON)
	case "rotate":
		k, err := rot.Rotate(ctx, *alg, *now)
		if err != nil {
			return err
		}
		if *now {
			fmt.Fprintf(stdout, "key %s (%s) is now active.\n", k.KID, k.Alg)
			fmt.Fprintln(stdout, "Verifiers whose cached JWKS predates it reject its tokens until they refetch the JWKS (on the unknown kid, or within SIGNET_JWKS_MAX_AGE).")
		} else {
			fmt.Fprintf(stdout, "key %s (%s) is published and starts signing at %s.\n", k.KID, k.Alg, k.ActivatesAt.Format(time.RFC3339))
		}
		return nil
	case "generate":
		k, err := rot.Generate(ctx, *alg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %s (%s) is published (state %s).\n", k.KID, k.Alg, k.State)
		return nil
	case "revoke":
		if len(rest) != 2 {
			return configError{fmt.Errorf("keys revoke: give exactly one KID")}
		}
		revoked, promoted, err := rot.Revoke(ctx, rest[1], *promote)
		if err != nil {
			if err == keys.ErrOnlyActiveKey {
				return fmt.Errorf("%w; rerun with --promote to make a replacement sign in the same step", err)
			}
			return err
		}
		fmt.Fprintf(stdout, "key %s (%s) is revoked: removed from the JWKS and its private part destroyed.\n", revoked.KID, revoked.Alg)
		if promoted != nil {
			fmt.Fprintf(stdout, "key %s (%s) is now active.\n", promoted.KID, promoted.Alg)
		}
		return nil
	}
	fmt.Fprintf(stderr, "signet keys: unknown subcommand %q\n", rest[0])
	return errUsage
}

// reorder moves flags after the subcommand (keys revoke KID --promote) in
// front of it, since package flag stops at the first argument.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			if a == "--alg" || a == "-alg" {
				if i+1 < len(args) {
					flags = append(flags, args[i+1])
					i++
				}
			}
			continue
		}
		pos = append(pos, a)
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

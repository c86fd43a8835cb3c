package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/signet-auth/signet/issuer"
)

func runUsers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("users", flag.ContinueOnError)
	src := addSettings(fs, getenv, "SIGNET_DATA_DIR", "SIGNET_DATABASE_URL")
	asJSON := fs.Bool("json", false, "list: print JSON")
	limit := fs.Int("limit", 1000, "list: at most this many users")
	passwordStdin := fs.Bool("password-stdin", false, "create: read the password from standard input instead of inviting the user")
	commandUsage(fs, "signet users [flags] list|create EMAIL|delete EMAIL|ID", `Inspect and manage accounts.

  list              users, oldest first (--json)
  create EMAIL      make an account: an invitation to choose a password is
                    mailed (or --password-stdin)
  delete EMAIL|ID   delete a user with their sessions, tokens and pending mail`)
	if err := parseFlags(fs, reorder(fs, args), stdout, stderr); err != nil {
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
	cfg.finishAddr(cfg.Addr) // the issuer URL, for the links of mail queued here
	db, sealer, err := openStore(ctx, cfg, newLogger(cfg, stderr), cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer db.Close()
	switch rest[0] {
	case "list":
		us, err := db.ListUsers(ctx, *limit)
		if err != nil {
			return err
		}
		if *asJSON {
			if us == nil {
				us = []issuer.User{}
			}
			return json.NewEncoder(stdout).Encode(us)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tCREATED")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.ID, u.Email, u.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "create":
		if len(rest) != 2 {
			return configError{fmt.Errorf("users create: give exactly one email address")}
		}
		return createUser(ctx, cfg, db, sealer, newLogger(cfg, stderr), rest[1], *passwordStdin, stdin, stdout)
	case "delete":
		if len(rest) != 2 {
			return configError{fmt.Errorf("users delete: give exactly one email address or user ID")}
		}
		icfg := cfg.issuerConfig(newLogger(cfg, stderr))
		accounts, err := issuer.NewAccounts(icfg, db)
		if err != nil {
			return err
		}
		if err := accounts.DeleteUser(ctx, issuer.Caller{}, rest[1]); err != nil {
			return fmt.Errorf("users delete %s: %w", rest[1], err)
		}
		fmt.Fprintf(stdout, "user %s deleted\n", rest[1])
		return nil
	}
	fmt.Fprintf(stderr, "signet users: unknown subcommand %q\n", rest[0])
	return errUsage
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/keys"
)

const usersAbout = `Inspect and manage accounts. Listing, finding, disabling and deleting
need no key-encryption key; creating does (it queues mail, which is sealed).

  list [--after ID]   users, oldest first, --limit at a time (--json); when
                      more follow, stderr says the --after to pass next
  find EMAIL          the user with this email (case-insensitive)
  create EMAIL        make an account: an invitation to choose a password is
                      mailed (or --password-stdin)
  disable EMAIL|ID    refuse the user sign-in and refresh, end every session
                      of theirs and tell verifiers (revocation feed) to refuse
                      every access token issued to them so far; audited
  enable EMAIL|ID     let a disabled user sign in again; audited
  delete EMAIL|ID     delete a user with their sessions, tokens and pending mail
  roles list|add|remove EMAIL|ID [ROLE]
                      a user's roles (the roles claim; mapped to scopes per
                      resource by signet resources --role); changes are audited

Disable and delete record revocation events that live the access-token
lifetime plus the clock leeway: give them the SIGNET_ACCESS_TOKEN_TTL and
SIGNET_CLOCK_LEEWAY the issuer runs with.`

func runUsers(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("users", flag.ContinueOnError)
	src := addSettings(fs, getenv)
	asJSON := fs.Bool("json", false, "list, find: print JSON")
	limit := fs.Int("limit", 100, "list: at most this many users")
	after := fs.String("after", "", "list: start after the user with this `ID` (the last one of the previous page)")
	passwordStdin := fs.Bool("password-stdin", false, "create: read the password from standard input instead of inviting the user")
	commandUsage(fs, "signet users [flags] list | find EMAIL | create EMAIL | disable EMAIL|ID | enable EMAIL|ID | delete EMAIL|ID | roles list|add|remove EMAIL|ID [ROLE]", usersAbout)
	if err := parseFlags(fs, reorder(fs, args), stdout, stderr); err != nil {
		return err
	}
	rest, err := subcommand("users", fs, stderr)
	if err != nil {
		return err
	}
	if *limit < 1 {
		return configError{fmt.Errorf("users list: --limit must be at least 1, got %d", *limit)}
	}
	cfg, err := loadConfig(src)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg, existingStore)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := checkSchema(db, cfg, existingStore, cfg.AutoMigrate); err != nil {
		return err
	}
	switch rest[0] {
	case "roles":
		return runUserRoles(ctx, cfg, db, rest[1:], stdout, stderr)
	case "list":
		us, more, err := db.ListUsersAfter(ctx, *after, *limit)
		if errors.Is(err, issuer.ErrNotFound) {
			return fmt.Errorf("users list: --after %s: no user has this ID", *after)
		}
		if err != nil {
			return err
		}
		if err := printUsers(stdout, us, *asJSON); err != nil {
			return err
		}
		if more {
			fmt.Fprintf(stderr, "more users follow: signet users list --after %s\n", us[len(us)-1].ID)
		}
		return nil
	case "find":
		u, err := db.UserByEmail(ctx, strings.TrimSpace(rest[1]))
		if errors.Is(err, issuer.ErrNotFound) {
			return fmt.Errorf("users find: no user has the email %s", rest[1])
		}
		if err != nil {
			return err
		}
		return printUsers(stdout, []issuer.User{u}, *asJSON)
	case "create":
		cfg.finishAddr(cfg.Addr) // the issuer URL, for the links of mail queued here
		log := newLogger(cfg, stderr)
		kek, err := cfg.keyEncryptionKey(log, db.Dialect(), false)
		if err != nil {
			return err
		}
		sealer, err := keys.NewSealer(kek)
		if err != nil {
			return err
		}
		return createUser(ctx, cfg, db, sealer, log, rest[1], *passwordStdin, stdin, stdout)
	case "disable", "enable":
		accounts, err := newAccounts(cfg, db, stderr)
		if err != nil {
			return err
		}
		return setDisabled(ctx, accounts, rest[0] == "disable", rest[1], stdout)
	default: // delete
		accounts, err := newAccounts(cfg, db, stderr)
		if err != nil {
			return err
		}
		err = accounts.DeleteUser(ctx, issuer.Caller{}, rest[1])
		if errors.Is(err, issuer.ErrNotFound) {
			return fmt.Errorf("users delete: no user has the ID or email %s", rest[1])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s deleted\n", rest[1])
		return nil
	}
}

// newAccounts is the accounts service, which writes the audit events and
// the revocation events. It wants an issuer URL and an audience, which
// these commands do not use.
func newAccounts(cfg *config, db *store.DB, stderr io.Writer) (*issuer.Accounts, error) {
	cfg.finishAddr(cfg.Addr)
	return issuer.NewAccounts(cfg.issuerConfig(newLogger(cfg, stderr)), db)
}

// setDisabled is "signet users disable|enable EMAIL|ID".
func setDisabled(ctx context.Context, accounts *issuer.Accounts, disable bool, idOrEmail string, stdout io.Writer) error {
	verb, do := "enable", accounts.EnableUser
	if disable {
		verb, do = "disable", accounts.DisableUser
	}
	d, err := do(ctx, issuer.Caller{}, idOrEmail)
	if errors.Is(err, issuer.ErrNotFound) {
		return fmt.Errorf("users %s: no user has the ID or email %s", verb, idOrEmail)
	}
	if err != nil {
		return err
	}
	switch {
	case !d.Changed:
		fmt.Fprintf(stdout, "user %s (%s) was already %sd\n", d.User.ID, d.User.Email, verb)
	case disable:
		fmt.Fprintf(stdout, "user %s (%s) disabled; %d sessions revoked\n", d.User.ID, d.User.Email, d.SessionsRevoked)
	default:
		fmt.Fprintf(stdout, "user %s (%s) enabled\n", d.User.ID, d.User.Email)
	}
	return nil
}

// userView is a user as the CLI shows it: the API's fields and the
// account's state.
type userView struct {
	issuer.User
	State      string    `json:"state"` // "enabled" or "disabled"
	DisabledAt time.Time `json:"disabled_at,omitzero"`
}

func printUsers(w io.Writer, us []issuer.User, asJSON bool) error {
	views := make([]userView, len(us))
	for i, u := range us {
		views[i] = userView{User: u, State: "enabled"}
		if u.Disabled() {
			views[i].State, views[i].DisabledAt = "disabled", u.DisabledAt
		}
	}
	if asJSON {
		return json.NewEncoder(w).Encode(views)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tCREATED\tSTATE")
	for _, v := range views {
		state := v.State
		if !v.DisabledAt.IsZero() {
			state += " since " + v.DisabledAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.ID, v.Email, v.CreatedAt.Format(time.RFC3339), state)
	}
	return tw.Flush()
}

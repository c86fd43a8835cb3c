package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
)

// runUserRoles is "signet users roles list|add|remove EMAIL|ID [ROLE]".
func runUserRoles(ctx context.Context, cfg *config, db *store.DB, args []string, stdout, stderr io.Writer) error {
	action, who := args[0], args[1]
	cfg.finishAddr(cfg.Addr)
	roles, err := issuer.NewRoles(cfg.issuerConfig(newLogger(cfg, stderr)), db)
	if err != nil {
		return err
	}
	if action == "list" {
		if len(args) > 2 {
			return configError{fmt.Errorf("users roles list: unexpected argument %q", args[2])}
		}
		rs, err := roles.List(ctx, who)
		if errors.Is(err, issuer.ErrNotFound) {
			return fmt.Errorf("users roles: no user has the ID or email %s", who)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, strings.Join(rs, "\n"))
		return nil
	}
	if len(args) < 3 {
		return configError{fmt.Errorf("users roles %s: missing ROLE", action)}
	}
	var changed bool
	switch action {
	case "add":
		changed, err = roles.Add(ctx, issuer.Caller{}, who, args[2])
	case "remove":
		changed, err = roles.Remove(ctx, issuer.Caller{}, who, args[2])
	default:
		return configError{fmt.Errorf("users roles: unknown action %q: list, add or remove", action)}
	}
	var ie *issuer.Error
	switch {
	case errors.Is(err, issuer.ErrNotFound):
		return fmt.Errorf("users roles: no user has the ID or email %s", who)
	case errors.As(err, &ie) && ie.Kind == issuer.KindInvalid:
		return configError{fmt.Errorf("users roles: %s", ie.Description)}
	case err != nil:
		return err
	case !changed && action == "add":
		fmt.Fprintf(stdout, "user %s already has the role %s\n", who, args[2])
	case !changed:
		fmt.Fprintf(stdout, "user %s does not have the role %s\n", who, args[2])
	case action == "add":
		fmt.Fprintf(stdout, "role %s given to user %s\n", args[2], who)
	default:
		fmt.Fprintf(stdout, "role %s taken from user %s\n", args[2], who)
	}
	return nil
}

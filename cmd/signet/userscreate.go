package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/keys"
)

// createUser is "signet users create EMAIL": an account made by an
// administrator (the way in when SIGNET_SIGNUP_MODE=closed). Without
// --password-stdin the user is invited: a link to choose a password is
// queued, which a running issuer delivers. With it, the first line of
// standard input is the password, and a confirmation message is queued.
func createUser(ctx context.Context, cfg *config, db *store.DB, sealer *keys.Sealer, log *slog.Logger, email string, passwordStdin bool, stdin io.Reader, stdout io.Writer) error {
	password := ""
	if passwordStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return configError{fmt.Errorf("users create: --password-stdin: no password on standard input")}
		}
		password = strings.TrimRight(line, "\r\n")
		if password == "" {
			return configError{fmt.Errorf("users create: --password-stdin: the password is empty")}
		}
	}
	life, err := issuer.NewLifecycle(cfg.issuerConfig(log), db, sealer)
	if err != nil {
		return err
	}
	u, err := life.CreateUser(ctx, issuer.Caller{}, email, password)
	if err != nil {
		if e := issuer.AsError(err); e.Kind == issuer.KindInvalid || e.Kind == issuer.KindEmailTaken {
			return configError{fmt.Errorf("users create: %s", e.Description)}
		}
		return fmt.Errorf("users create: %w", err)
	}
	if passwordStdin {
		fmt.Fprintf(stdout, "user %s created for %s; a confirmation message is queued\n", u.ID, u.Email)
	} else {
		fmt.Fprintf(stdout, "user %s created for %s; an invitation to choose a password is queued\n", u.ID, u.Email)
	}
	return nil
}

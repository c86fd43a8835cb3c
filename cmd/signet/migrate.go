package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/signet-auth/signet/issuer/store"
)

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	src := addSettings(fs, getenv)
	commandUsage(fs, "signet migrate [flags] up|down [N]|version",
		`Apply every pending migration (up), revert the last N migrations or all of
them (down), or print the schema version (version).`)
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
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	switch rest[0] {
	case "up":
		if err := db.MigrateUp(); err != nil {
			return err
		}
	case "down":
		n := 0
		if len(rest) > 1 {
			if n, err = strconv.Atoi(rest[1]); err != nil || n < 1 {
				return configError{fmt.Errorf("migrate down: %q is not a positive number of steps", rest[1])}
			}
		}
		if err := db.MigrateDown(n); err != nil {
			return err
		}
	case "version":
	default:
		fmt.Fprintf(stderr, "signet migrate: unknown subcommand %q\n", rest[0])
		fs.Usage()
		return errUsage
	}
	st, err := db.MigrationVersion()
	if err != nil {
		return err
	}
	dirty := ""
	if st.Dirty {
		dirty = " (dirty: a migration failed half-way; fix it and force the version)"
	}
	fmt.Fprintf(stdout, "schema version %d of %d%s\n", st.Version, st.Latest, dirty)
	return nil
}

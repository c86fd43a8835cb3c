package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/signet-auth/signet/issuer/store"
)

const migrateAbout = `Apply every pending migration (up), revert migrations (down), or print
the schema version (version).

  up           apply every pending migration; creates the SQLite file
  down N       revert the latest N migrations
  down --all   revert every migration: drops every table and its data.
               On a terminal it asks you to type the database name or
               "yes"; otherwise it needs --yes.
  version      print the schema version`

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	src := addSettings(fs, getenv)
	all := fs.Bool("all", false, "down: revert every migration (drops every table)")
	yes := fs.Bool("yes", false, "down --all: confirm without a prompt")
	commandUsage(fs, "signet migrate [flags] up | down N | down --all [--yes] | version", migrateAbout)
	if err := parseFlags(fs, reorder(fs, args), stdout, stderr); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return errUsage
	}
	cmd := rest[0]
	steps := 0
	switch cmd {
	case "up", "version":
		if *all {
			return configError{fmt.Errorf("migrate %s: --all goes with down only", cmd)}
		}
	case "down":
		switch {
		case len(rest) == 2 && *all:
			return configError{errors.New("migrate down: give N or --all, not both")}
		case len(rest) == 2:
			n, err := strconv.Atoi(rest[1])
			if err != nil || n < 1 {
				return configError{fmt.Errorf("migrate down: %q is not a positive number of migrations", rest[1])}
			}
			steps = n
		case !*all:
			return configError{errors.New("migrate down: give the number of migrations to revert (down 1), or --all to revert every one, which drops every table")}
		}
	default:
		fmt.Fprintf(stderr, "signet migrate: unknown subcommand %q\n", cmd)
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(src)
	if err != nil {
		return err
	}
	mode := existingStore
	if cmd == "up" {
		mode = createMissing
	}
	db, err := openDB(ctx, cfg, mode)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := db.MigrationVersion()
	if err != nil {
		return err
	}
	switch cmd {
	case "up":
		if st.Version > st.Latest {
			return newerSchemaError(st)
		}
		if err := db.MigrateUp(); err != nil {
			return err
		}
	case "down":
		if st.Dirty {
			return dirtySchemaError(st)
		}
		if steps > st.Applied || (*all && st.Applied == 0) {
			return fmt.Errorf("migrate down %s: %s", downArg(steps), appliedCount(st.Applied))
		}
		if *all {
			if err := confirmDropAll(cfg, stdin, stderr, *yes); err != nil {
				return err
			}
		}
		if err := db.MigrateDown(steps); err != nil {
			return err
		}
	}
	if st, err = db.MigrationVersion(); err != nil {
		return err
	}
	dirty := ""
	if st.Dirty {
		dirty = " (dirty: a migration failed half-way; fix it and force the version)"
	}
	fmt.Fprintf(stdout, "schema version %d of %d%s\n", st.Version, st.Latest, dirty)
	return nil
}

func downArg(steps int) string {
	if steps == 0 {
		return "--all"
	}
	return strconv.Itoa(steps)
}

func appliedCount(n int) string {
	switch n {
	case 0:
		return "no migration is applied"
	case 1:
		return "only 1 migration is applied"
	}
	return fmt.Sprintf("only %d migrations are applied", n)
}

// confirmDropAll asks the person at the terminal to type the database's
// name or "yes". Without a terminal there is no one to ask: --yes must say
// it up front.
func confirmDropAll(cfg *config, stdin io.Reader, stderr io.Writer, yes bool) error {
	name := cfg.db.Name
	if yes {
		return nil
	}
	if !isTerminal(stdin) {
		return configError{fmt.Errorf("migrate down --all drops every table of %s; standard input is not a terminal, so add --yes to confirm", name)}
	}
	fmt.Fprintf(stderr, "migrate down --all reverts every migration of %s (%s): every table and all its data are dropped.\nType the database name or yes to go on: ", name, cfg.db.Dialect)
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("migrate down --all: not confirmed; nothing was changed")
	}
	if answer := strings.TrimSpace(line); answer != "yes" && (name == "" || answer != name) {
		return errors.New("migrate down --all: not confirmed; nothing was changed")
	}
	return nil
}

// storeMode says whether a command may create the store.
type storeMode int

const (
	// existingStore refuses an SQLite file that does not exist and a
	// database without a schema: an administrative command run from the
	// wrong directory must not create an empty store and report success.
	existingStore storeMode = iota
	// createMissing creates the SQLite file (serve, migrate up).
	createMissing
)

// openDB connects to the configured database.
func openDB(ctx context.Context, cfg *config, mode storeMode) (*store.DB, error) {
	if mode == existingStore && cfg.db.Dialect == store.SQLite {
		if _, err := os.Stat(cfg.db.Path); errors.Is(err, os.ErrNotExist) {
			return nil, configError{fmt.Errorf("no database at %s: run this command with the SIGNET_DATA_DIR or SIGNET_DATABASE_URL that signet serve uses, or create the database with signet migrate up", describePath(cfg.db.Path))}
		}
	}
	return store.Open(ctx, cfg.DatabaseURL, store.StatementTimeout(cfg.DBStatementTimeout),
		store.RevocationLifetime(cfg.AccessTokenTTL+cfg.ClockLeeway))
}

// describePath is path, with the absolute path when path is relative: the
// usual mistake is running a command from another directory.
func describePath(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	if abs, err := filepath.Abs(path); err == nil {
		return fmt.Sprintf("%s (%s)", path, abs)
	}
	return path
}

// checkSchema makes sure the database has the schema this signet knows,
// applying pending migrations when migrate is set. A database without any
// schema is migrated only in createMissing mode (serve); the other commands
// refuse it, so that they never turn a wrong database into a Signet one.
func checkSchema(db *store.DB, cfg *config, mode storeMode, migrate bool) error {
	st, err := db.MigrationVersion()
	if err != nil {
		return err
	}
	switch {
	case st.Dirty:
		return dirtySchemaError(st)
	case st.Version > st.Latest:
		return newerSchemaError(st)
	case st.Version == 0 && (mode == existingStore || !migrate):
		hint := ""
		if mode == createMissing {
			hint = " (SIGNET_AUTO_MIGRATE is false)"
		}
		return fmt.Errorf("the database %s has no schema: run signet migrate up%s", cfg.db.Name, hint)
	case st.Version < st.Latest && !migrate:
		return fmt.Errorf("the database %s has schema version %d of %d: run signet migrate up (SIGNET_AUTO_MIGRATE is false)", cfg.db.Name, st.Version, st.Latest)
	case st.Version < st.Latest:
		return db.MigrateUp()
	}
	return nil
}

func dirtySchemaError(st store.MigrationStatus) error {
	return fmt.Errorf("the database schema is dirty at version %d: a migration failed half-way; repair the database by hand, then run signet migrate up", st.Version)
}

func newerSchemaError(st store.MigrationStatus) error {
	return fmt.Errorf("the database schema is at version %d, newer than this signet knows (%d): run a newer signet", st.Version, st.Latest)
}

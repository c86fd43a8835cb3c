package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// errUsage reports a command line that could not be parsed; the usage has
// already been printed.
var errUsage = errors.New("usage")

// configError is an invalid configuration: exit status 2.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ce configError
	if errors.Is(err, errUsage) || errors.As(err, &ce) {
		return 2
	}
	return 1
}

const usage = `signet: a token issuer with rotating asymmetric keys

Usage:
  signet serve [flags]           run the issuer
  signet migrate up|down|version apply, revert or show the database schema
  signet keys list|rotate|revoke|generate
                                 inspect and manage signing keys
  signet users list|delete       inspect and manage accounts
  signet kek rotate --new-key-file PATH
                                 change the key-encryption key
  signet version                 print the version

Run "signet <command> --help" for a command's flags. Every flag has an
environment variable (SIGNET_*); a flag overrides its variable.
`

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	err := dispatch(ctx, args, getenv, stdout, stderr)
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, getenv, stdout, stderr)
	case "users":
		return runUsers(ctx, rest, getenv, stdout, stderr)
	case "kek":
		return runKEK(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "signet", versionString())
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "signet: unknown command %q\n\n%s", cmd, usage)
	return errUsage
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

// parseFlags parses fs: help goes to stdout (errHelp), a bad flag to
// stderr with the usage (errUsage).
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.SetOutput(stderr)
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(stdout)
		}
		if a == "--" {
			break
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	return nil
}

// errHelp means --help was asked for and printed: exit 0.
var errHelp = errors.New("help")

func commandUsage(fs *flag.FlagSet, line, about string) {
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\n%s\n", line, strings.TrimSpace(about))
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
}

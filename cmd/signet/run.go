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
  signet migrate up|down N|down --all|version
                                 apply, revert or show the database schema
  signet keys list|rotate|revoke|generate
                                 inspect and manage signing keys
  signet users list|find|delete  inspect and manage accounts
  signet sessions list|revoke|revoke-all
                                 inspect and end sessions (verifiers learn through the feed)
  signet resources|clients list|show|create|update|delete
                                 manage the registry of resource servers and clients
  signet check-emails            report stored emails not in normal form, or look-alikes
  signet kek rotate --new-key-file PATH
                                 change the key-encryption key
  signet version                 print the version

Run "signet <command> --help" for a command's flags. Every setting has an
environment variable (SIGNET_*); its flag, if it has one, overrides it.
`

// run is the whole program with no standard input (it is not a terminal,
// so nothing can be confirmed by typing); tests call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runWithInput(ctx, args, getenv, strings.NewReader(""), stdout, stderr)
}

// runWithInput is the whole program; main only wires the process to it.
// stdin answers confirmations (migrate down --all) when it is a terminal.
func runWithInput(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	err := dispatch(ctx, args, getenv, stdin, stdout, stderr)
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdin, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, getenv, stdout, stderr)
	case "users":
		return runUsers(ctx, rest, getenv, stdin, stdout, stderr)
	case "sessions":
		return runSessions(ctx, rest, getenv, stdout, stderr)
	case "resources":
		return runResources(ctx, rest, getenv, stdout, stderr)
	case "clients":
		return runClients(ctx, rest, getenv, stdout, stderr)
	case "check-emails":
		return runCheckEmails(ctx, rest, getenv, stdout, stderr)
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
	if msg := checkArgs(fs.Name(), fs.Args()); msg != "" {
		fmt.Fprintf(stderr, "%s (see signet %s --help)\n", msg, fs.Name())
		return errUsage
	}
	return nil
}

// commandArgs lists the arguments each command takes after its flags: its
// subcommands, each with the arguments it needs ("[N]" is optional). A
// command without subcommands takes none. parseFlags holds every command to
// it, so that no command quietly ignores a stray argument.
var commandArgs = map[string]map[string][]string{
	"serve":        nil,
	"migrate":      {"up": nil, "down": {"[N]"}, "version": nil},
	"keys":         {"list": nil, "rotate": nil, "revoke": {"KID"}, "generate": nil, "rotate-refresh": nil},
	"users":        {"list": nil, "find": {"EMAIL"}, "create": {"EMAIL"}, "delete": {"ID"}, "disable": {"EMAIL|ID"}, "enable": {"EMAIL|ID"}, "roles": {"list|add|remove", "EMAIL|ID", "[ROLE]"}},
	"check-emails": nil,
	"kek":          {"rotate": nil},
	"sessions":     {"list": {"USER"}, "revoke": {"SESSION_ID"}, "revoke-all": {"USER"}},
	"resources":    {"list": nil, "show": {"URI"}, "create": {"URI"}, "update": {"URI"}, "delete": {"URI"}},
	"clients":      {"list": nil, "show": {"ID"}, "create": {"ID"}, "update": {"ID"}, "delete": {"ID"}},
}

// subcommand returns the arguments left after fs parsed the flags of
// command cmd, the first one a subcommand listed in commandArgs; without
// one, or with an unknown one, it prints the usage and gives errUsage.
func subcommand(cmd string, fs *flag.FlagSet, stderr io.Writer) ([]string, error) {
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return nil, errUsage
	}
	if _, ok := commandArgs[cmd][rest[0]]; !ok {
		fmt.Fprintf(stderr, "signet %s: unknown subcommand %q\n", cmd, rest[0])
		fs.Usage()
		return nil, errUsage
	}
	return rest, nil
}

// checkArgs says what is wrong with a command's arguments ("signet keys
// list: unexpected argument "x""), or "". A missing or unknown subcommand is
// left to the command, which prints its usage.
func checkArgs(cmd string, args []string) string {
	subs, ok := commandArgs[cmd]
	if !ok {
		return ""
	}
	if subs == nil {
		if len(args) > 0 {
			return fmt.Sprintf("signet %s: unexpected argument %q", cmd, args[0])
		}
		return ""
	}
	if len(args) == 0 {
		return ""
	}
	want, ok := subs[args[0]]
	if !ok {
		return ""
	}
	got := args[1:]
	required := 0
	for _, w := range want {
		if !strings.HasPrefix(w, "[") {
			required++
		}
	}
	switch {
	case len(got) < required:
		return fmt.Sprintf("signet %s %s: missing %s", cmd, args[0], strings.Join(want[len(got):required], " "))
	case len(got) > len(want):
		return fmt.Sprintf("signet %s %s: unexpected argument %q", cmd, args[0], got[len(want)])
	}
	return ""
}

// errHelp means --help was asked for and printed: exit 0.
var errHelp = errors.New("help")

// commandUsage sets fs's usage: the command line, what it does, its flags,
// and its settings that have no flag (secrets, kept out of the process
// list).
func commandUsage(fs *flag.FlagSet, line, about string) {
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\n%s\n", line, strings.TrimSpace(about))
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
		first := true
		for _, s := range commandSettings(fs.Name()) {
			if s.flag != "" {
				continue
			}
			if first {
				fmt.Fprintln(w, "\nEnvironment only:")
				first = false
			}
			fmt.Fprintf(w, "  %s\n    \t%s\n", s.env, s.help)
		}
	}
}

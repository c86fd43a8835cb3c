package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
)

const resourcesAbout = `Manage the resource servers of the registry. A resource is an RFC 8707
resource indicator (an absolute URI, the aud of the tokens minted for it)
with the scopes it defines. The default resource, SIGNET_AUDIENCE, is built
in. Every change is written to the audit log.

  list                 resources (--json)
  show URI             one resource, as JSON
  create URI           add a resource (--name, --scopes, --role)
  update URI           change the flags given, keep the rest
  delete URI           remove a resource`

// listFlag is a comma-separated list flag that records being set.
type listFlag struct {
	vals []string
	set  bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }
func (l *listFlag) Set(v string) error {
	l.set = true
	l.vals = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			l.vals = append(l.vals, s)
		}
	}
	return nil
}

// roleFlag collects repeated --role ROLE=SCOPE,SCOPE.
type roleFlag struct {
	m   map[string][]string
	set bool
}

func (r *roleFlag) String() string { return "" }
func (r *roleFlag) Set(v string) error {
	role, scopes, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(role) == "" {
		return errors.New("want ROLE=SCOPE,SCOPE")
	}
	if r.m == nil {
		r.m = map[string][]string{}
	}
	r.set = true
	var l listFlag
	_ = l.Set(scopes)
	r.m[strings.TrimSpace(role)] = append(r.m[strings.TrimSpace(role)], l.vals...)
	return nil
}

// openRegistry opens the store of a registry command and the registry
// service over it.
func openRegistry(ctx context.Context, src *source, stderr io.Writer) (*store.DB, *issuer.Registry, error) {
	cfg, err := loadConfig(src)
	if err != nil {
		return nil, nil, err
	}
	db, err := openDB(ctx, cfg, existingStore)
	if err != nil {
		return nil, nil, err
	}
	if err := checkSchema(db, cfg, existingStore, cfg.AutoMigrate); err != nil {
		db.Close()
		return nil, nil, err
	}
	cfg.finishAddr(cfg.Addr)
	reg, err := issuer.NewRegistry(cfg.issuerConfig(newLogger(cfg, stderr)), db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, reg, nil
}

// registryError words a store error about the entry named.
func registryError(cmd, what string, err error) error {
	switch {
	case errors.Is(err, issuer.ErrNotFound):
		return fmt.Errorf("%s: no %s", cmd, what)
	case errors.Is(err, issuer.ErrExists):
		return fmt.Errorf("%s: %s already exists", cmd, what)
	}
	var ie *issuer.Error
	if errors.As(err, &ie) && ie.Kind == issuer.KindInvalid {
		return configError{fmt.Errorf("%s: %s", cmd, ie.Description)}
	}
	return err
}

func runResources(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("resources", flag.ContinueOnError)
	src := addSettings(fs, getenv)
	asJSON := fs.Bool("json", false, "list: print JSON")
	name := fs.String("name", "", "create, update: a name for people")
	var scopes listFlag
	fs.Var(&scopes, "scopes", "create, update: the scopes the resource defines, comma-separated")
	var roles roleFlag
	fs.Var(&roles, "role", "create, update: `ROLE=SCOPE,SCOPE`: the scopes a user role grants here (repeat for each role; update replaces the whole mapping)")
	commandUsage(fs, "signet resources [flags] list | show URI | create URI | update URI | delete URI", resourcesAbout)
	if err := parseFlags(fs, reorder(fs, args), stdout, stderr); err != nil {
		return err
	}
	rest, err := subcommand("resources", fs, stderr)
	if err != nil {
		return err
	}
	db, reg, err := openRegistry(ctx, src, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	cmd := "resources " + rest[0]
	entries := registryEntries[issuer.Resource]{noun: "resource", list: reg.Resources, get: reg.Resource,
		del: reg.DeleteResource, print: printResources}
	if done, err := entries.run(ctx, rest, *asJSON, stdout); done {
		return err
	}
	r := issuer.Resource{URI: rest[1]}
	if rest[0] == "update" {
		if r, err = db.Resource(ctx, rest[1]); err != nil {
			return registryError(cmd, "resource "+rest[1], err)
		}
	}
	if rest[0] == "create" || src.flagSet("name") {
		r.Name = *name
	}
	if scopes.set || rest[0] == "create" {
		r.Scopes = scopes.vals
	}
	if roles.set || rest[0] == "create" {
		r.RoleScopes = roles.m
	}
	if rest[0] == "create" {
		r, err = reg.CreateResource(ctx, issuer.Caller{}, r)
	} else {
		r, err = reg.UpdateResource(ctx, issuer.Caller{}, r)
	}
	if err != nil {
		return registryError(cmd, "resource "+rest[1], err)
	}
	return printJSON(stdout, r)
}

// registryEntries is what `signet resources` and `signet clients` share:
// list, show and delete of one kind of registry entry.
type registryEntries[T any] struct {
	noun  string // "resource", "client"
	list  func(context.Context) ([]T, error)
	get   func(context.Context, string) (T, error)
	del   func(context.Context, issuer.Caller, string) error
	print func(io.Writer, []T, bool) error
}

// run does list, show or delete (rest[0], the key in rest[1]) and
// reports true; for any other subcommand it does nothing and reports
// false.
func (e registryEntries[T]) run(ctx context.Context, rest []string, asJSON bool, stdout io.Writer) (bool, error) {
	cmd := e.noun + "s " + rest[0]
	switch rest[0] {
	case "list":
		all, err := e.list(ctx)
		if err != nil {
			return true, err
		}
		return true, e.print(stdout, all, asJSON)
	case "show":
		v, err := e.get(ctx, rest[1])
		if err != nil {
			return true, registryError(cmd, e.noun+" "+rest[1], err)
		}
		return true, printJSON(stdout, v)
	case "delete":
		if err := e.del(ctx, issuer.Caller{}, rest[1]); err != nil {
			return true, registryError(cmd, e.noun+" "+rest[1], err)
		}
		fmt.Fprintf(stdout, "%s %s deleted\n", e.noun, rest[1])
		return true, nil
	}
	return false, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printResources(w io.Writer, rs []issuer.Resource, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(rs)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "URI\tNAME\tSCOPES")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.URI, r.Name, strings.Join(r.Scopes, " "))
	}
	return tw.Flush()
}

// applyRegistryFile applies SIGNET_REGISTRY_FILE, if set, before serving.
func applyRegistryFile(ctx context.Context, cfg *config, iss *issuer.Issuer, log interface {
	Info(msg string, args ...any)
}) error {
	if cfg.RegistryFile == "" {
		return nil
	}
	b, err := os.ReadFile(cfg.RegistryFile)
	if err != nil {
		return configError{fmt.Errorf("SIGNET_REGISTRY_FILE: %w", err)}
	}
	f, err := issuer.ParseRegistryFile(b)
	if err != nil {
		return configError{fmt.Errorf("SIGNET_REGISTRY_FILE: %w", err)}
	}
	res, err := iss.Registry.Apply(ctx, issuer.Caller{}, f)
	if err != nil {
		return fmt.Errorf("SIGNET_REGISTRY_FILE: %w", err)
	}
	log.Info("registry file applied", "path", cfg.RegistryFile, "created", res.Created, "updated", res.Updated,
		"deleted", res.Deleted, "unchanged", res.Unchanged, "prune", f.Prune)
	return nil
}

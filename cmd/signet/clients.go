package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/signet-auth/signet/issuer"
)

const clientsAbout = `Manage the OAuth clients of the registry. The first-party client
("signet", the client of /v1/signin) is built in. A confidential client
authenticates with private_key_jwt against its public keys (--jwks-file or
--jwks-uri); client_secret_basic is used only when asked for with
--auth-method, and the generated secret is printed once (only its hash is
stored). Every change is written to the audit log.

  list                 clients (--json)
  show ID              one client, as JSON
  create ID            add a client
  update ID            change the flags given, keep the rest
  delete ID            remove a client`

func runClients(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("clients", flag.ContinueOnError)
	src := addSettings(fs, getenv)
	asJSON := fs.Bool("json", false, "list: print JSON")
	name := fs.String("name", "", "create, update: a name for people")
	typ := fs.String("type", "", "create, update: public or confidential (default confidential)")
	authMethod := fs.String("auth-method", "", "create, update: private_key_jwt (default for confidential), client_secret_basic, or none (public)")
	jwksFile := fs.String("jwks-file", "", "create, update: `FILE` holding the client's public JWK or JWK set")
	jwksURI := fs.String("jwks-uri", "", "create, update: https `URL` of the client's public JWK set")
	idTokenAlg := fs.String("id-token-alg", "", "create, update: id_token_signed_response_alg (EdDSA or RS256)")
	rotateSecret := fs.Bool("rotate-secret", false, "update: make a new client secret (client_secret_basic)")
	var grants, resources, scopes, actToward, redirects, logoutRedirects listFlag
	fs.Var(&grants, "grants", "create, update: allowed grant types, comma-separated (password, refresh_token, client_credentials, authorization_code, urn:ietf:params:oauth:grant-type:token-exchange)")
	fs.Var(&resources, "resources", "create, update: resource URIs the client may ask tokens for, comma-separated")
	fs.Var(&scopes, "scopes", "create, update: scopes the client may ask for, comma-separated")
	fs.Var(&actToward, "act-toward", "create, update: resources toward which this client may exchange a user's token, comma-separated")
	fs.Var(&redirects, "redirect-uris", "create, update: redirect URIs, comma-separated")
	fs.Var(&logoutRedirects, "post-logout-redirect-uris", "create, update: post-logout redirect URIs, comma-separated")
	commandUsage(fs, "signet clients [flags] list | show ID | create ID | update ID | delete ID", clientsAbout)
	if err := parseFlags(fs, reorder(fs, args), stdout, stderr); err != nil {
		return err
	}
	rest, err := subcommand("clients", fs, stderr)
	if err != nil {
		return err
	}
	var jwks json.RawMessage
	if *jwksFile != "" {
		b, err := os.ReadFile(*jwksFile)
		if err != nil {
			return configError{fmt.Errorf("clients %s: --jwks-file: %w", rest[0], err)}
		}
		jwks = json.RawMessage(strings.TrimSpace(string(b)))
	}
	db, reg, err := openRegistry(ctx, src, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	cmd := "clients " + rest[0]
	entries := registryEntries[issuer.Client]{noun: "client", list: reg.Clients, get: reg.Client,
		del: reg.DeleteClient, print: printClients}
	if done, err := entries.run(ctx, rest, *asJSON, stdout); done {
		return err
	}
	create := rest[0] == "create"
	c := issuer.Client{ID: rest[1]}
	if !create {
		if c, err = db.Client(ctx, rest[1]); err != nil {
			return registryError(cmd, "client "+rest[1], err)
		}
	}
	set := func(f string) bool { return create || src.flagSet(f) }
	if set("name") {
		c.Name = *name
	}
	if set("type") {
		c.Type = *typ
	}
	if set("auth-method") {
		c.AuthMethod = *authMethod
	}
	if set("id-token-alg") {
		c.IDTokenSignedResponseAlg = *idTokenAlg
	}
	if set("jwks-file") || set("jwks-uri") {
		c.JWKS, c.JWKSURI = jwks, *jwksURI
	}
	for _, l := range []struct {
		flag *listFlag
		dst  *[]string
	}{{&grants, &c.GrantTypes}, {&resources, &c.Resources}, {&scopes, &c.Scopes}, {&actToward, &c.ActToward},
		{&redirects, &c.RedirectURIs}, {&logoutRedirects, &c.PostLogoutRedirectURIs}} {
		if create || l.flag.set {
			*l.dst = l.flag.vals
		}
	}
	var secret string
	if create {
		c, secret, err = reg.CreateClient(ctx, issuer.Caller{}, c)
	} else {
		c, secret, err = reg.UpdateClient(ctx, issuer.Caller{}, c, *rotateSecret)
	}
	if err != nil {
		return registryError(cmd, "client "+rest[1], err)
	}
	if err := printJSON(stdout, c); err != nil {
		return err
	}
	if secret != "" {
		fmt.Fprintf(stdout, "client secret (shown once, store it now): %s\n", secret)
	}
	return nil
}

func printClients(w io.Writer, cs []issuer.Client, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(cs)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT_ID\tTYPE\tAUTH\tGRANTS\tRESOURCES")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Type, c.AuthMethod, strings.Join(c.GrantTypes, " "), strings.Join(c.Resources, " "))
	}
	return tw.Flush()
}

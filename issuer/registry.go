package issuer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// Grant types a client may be allowed.
const (
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// Client types (RFC 6749 §2.1).
const (
	ClientPublic       = "public"
	ClientConfidential = "confidential"
)

// Client authentication methods at the token endpoint (RFC 7591 §2).
const (
	AuthNone              = "none"
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthClientSecretBasic = "client_secret_basic"
)

// FirstPartyClientID is the built-in client of /v1/signin and of
// /oauth/token requests that name no client.
const FirstPartyClientID = "signet"

// Resource is a resource server: its RFC 8707 resource indicator, which
// is the aud of the tokens minted for it, and the scopes it defines.
type Resource struct {
	URI  string `json:"uri"`
	Name string `json:"name,omitempty"`
	// Scopes are the scopes this resource understands; a token for it
	// carries only these.
	Scopes []string `json:"scopes"`
	// RoleScopes maps a user role to the scopes it grants here.
	RoleScopes map[string][]string `json:"role_scopes,omitempty"`
	// Default marks the built-in resource of SIGNET_AUDIENCE.
	Default   bool      `json:"default,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Client is an OAuth client. The fields past AuthMethod are what an
// OpenID Provider needs of a client (RFC 7591 names); the token endpoint
// uses the first ones.
type Client struct {
	ID   string `json:"client_id"`
	Name string `json:"client_name,omitempty"`
	// Type is ClientPublic or ClientConfidential.
	Type       string   `json:"client_type"`
	GrantTypes []string `json:"grant_types"`
	// Resources are the resource URIs the client may ask tokens for;
	// Scopes the scopes it may ask (empty: none).
	Resources []string `json:"resources"`
	Scopes    []string `json:"scopes"`
	// AuthMethod is how a confidential client authenticates at the token
	// endpoint: AuthPrivateKeyJWT (with JWKS or JWKSURI) or, when chosen
	// explicitly, AuthClientSecretBasic.
	AuthMethod string `json:"token_endpoint_auth_method"`
	// JWKS is the client's public key set (a JWK or a JWK set, JSON);
	// JWKSURI where it is published instead.
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI string          `json:"jwks_uri,omitempty"`
	// ActToward are the resources toward which this client, as a resource
	// server, may exchange a user's token (RFC 8693).
	ActToward []string `json:"act_toward,omitempty"`

	RedirectURIs             []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs   []string `json:"post_logout_redirect_uris,omitempty"`
	IDTokenSignedResponseAlg string   `json:"id_token_signed_response_alg,omitempty"`

	// FirstParty marks the built-in client.
	FirstParty bool `json:"first_party,omitempty"`
	// HasSecret reports whether a client secret is set (its hash is
	// SecretHash, never shown).
	HasSecret  bool      `json:"has_secret,omitempty"`
	SecretHash []byte    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Allows reports whether the client may use grant.
func (c Client) Allows(grant string) bool { return slices.Contains(c.GrantTypes, grant) }

// RegistryStore keeps resources and clients.
type RegistryStore interface {
	// CreateResource and CreateClient give ErrExists for a taken key.
	CreateResource(ctx context.Context, r Resource) error
	UpdateResource(ctx context.Context, r Resource) error
	// DeleteResource, DeleteClient, Resource and Client give ErrNotFound.
	DeleteResource(ctx context.Context, uri string) error
	Resource(ctx context.Context, uri string) (Resource, error)
	ListResources(ctx context.Context) ([]Resource, error)
	CreateClient(ctx context.Context, c Client) error
	UpdateClient(ctx context.Context, c Client) error
	DeleteClient(ctx context.Context, id string) error
	Client(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error)
}

// ErrExists is a registry entry created twice.
var ErrExists = errors.New("already exists")

// Registry manages resources and clients, with the built-in default
// resource (the configured audience) and first-party client, which are
// not stored and cannot be changed.
type Registry struct {
	store    RegistryStore
	audit    *Auditor
	now      func() time.Time
	audience []string
}

// NewRegistry returns the registry over store; cfg gives the audience of
// the default resource.
func NewRegistry(cfg Config, store interface {
	RegistryStore
	AuditStore
}) (*Registry, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return newRegistry(cfg, store, NewAuditor(store, cfg.Logger, cfg.Now)), nil
}

func newRegistry(cfg Config, store RegistryStore, audit *Auditor) *Registry {
	return &Registry{store: store, audit: audit, now: cfg.Now, audience: cfg.Audience}
}

// DefaultResource is the resource of tokens that name none: the
// configured audience (SIGNET_AUDIENCE). A token for it carries every
// configured audience, as before the registry.
func (g *Registry) DefaultResource() Resource {
	return Resource{URI: g.audience[0], Name: "default", Scopes: []string{}, Default: true}
}

// FirstPartyClient is the built-in client of /v1/signin and of token
// requests that name no client: password and refresh grants, every
// resource and scope the registry has.
func (g *Registry) FirstPartyClient() Client {
	return Client{
		ID: FirstPartyClientID, Name: "Signet first-party", Type: ClientPublic,
		GrantTypes: []string{GrantPassword, GrantRefreshToken}, AuthMethod: AuthNone, FirstParty: true,
		Resources: []string{}, Scopes: []string{},
	}
}

func (g *Registry) isBuiltinResource(uri string) bool { return slices.Contains(g.audience, uri) }

// Resource returns a resource by URI, the default one included.
func (g *Registry) Resource(ctx context.Context, uri string) (Resource, error) {
	if g.isBuiltinResource(uri) {
		return g.DefaultResource(), nil
	}
	return g.store.Resource(ctx, uri)
}

// Resources lists the default resource then the stored ones by URI.
func (g *Registry) Resources(ctx context.Context) ([]Resource, error) {
	rs, err := g.store.ListResources(ctx)
	if err != nil {
		return nil, err
	}
	return append([]Resource{g.DefaultResource()}, rs...), nil
}

// Client returns a client by id, the first-party one included.
func (g *Registry) Client(ctx context.Context, id string) (Client, error) {
	if id == FirstPartyClientID {
		return g.FirstPartyClient(), nil
	}
	return g.store.Client(ctx, id)
}

// Clients lists the first-party client then the stored ones by id.
func (g *Registry) Clients(ctx context.Context) ([]Client, error) {
	cs, err := g.store.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	return append([]Client{g.FirstPartyClient()}, cs...), nil
}

// CreateResource validates and stores a new resource.
func (g *Registry) CreateResource(ctx context.Context, caller Caller, r Resource) (Resource, error) {
	if err := g.checkResource(&r); err != nil {
		return Resource{}, err
	}
	r.CreatedAt = g.now().UTC().Truncate(time.Millisecond)
	r.UpdatedAt = r.CreatedAt
	if err := g.store.CreateResource(ctx, r); err != nil {
		return Resource{}, err
	}
	g.audit.Record(ctx, caller, AuditEvent{Type: "registry.resource.create", Detail: map[string]string{"resource": r.URI}})
	return r, nil
}

// UpdateResource replaces a stored resource's name, scopes and role
// mapping.
func (g *Registry) UpdateResource(ctx context.Context, caller Caller, r Resource) (Resource, error) {
	if err := g.checkResource(&r); err != nil {
		return Resource{}, err
	}
	old, err := g.store.Resource(ctx, r.URI)
	if err != nil {
		return Resource{}, err
	}
	r.CreatedAt = old.CreatedAt
	r.UpdatedAt = g.now().UTC().Truncate(time.Millisecond)
	if err := g.store.UpdateResource(ctx, r); err != nil {
		return Resource{}, err
	}
	g.audit.Record(ctx, caller, AuditEvent{Type: "registry.resource.update", Detail: map[string]string{"resource": r.URI}})
	return r, nil
}

// DeleteResource removes a stored resource.
func (g *Registry) DeleteResource(ctx context.Context, caller Caller, uri string) error {
	if g.isBuiltinResource(uri) {
		return Errorf(KindInvalid, "the default resource %s is the configured audience and cannot be deleted", uri)
	}
	if err := g.store.DeleteResource(ctx, uri); err != nil {
		return err
	}
	g.audit.Record(ctx, caller, AuditEvent{Type: "registry.resource.delete", Detail: map[string]string{"resource": uri}})
	return nil
}

func (g *Registry) checkResource(r *Resource) error {
	if err := CheckResourceURI(r.URI); err != nil {
		return err
	}
	if g.isBuiltinResource(r.URI) {
		return Errorf(KindInvalid, "%s is the default resource (the configured audience); it is built in", r.URI)
	}
	var err error
	if r.Scopes, err = cleanScopes(r.Scopes); err != nil {
		return err
	}
	for role, scopes := range r.RoleScopes {
		if !validName(role) {
			return Errorf(KindInvalid, "role %q: use letters, digits and . _ : -", role)
		}
		if scopes, err = cleanScopes(scopes); err != nil {
			return err
		}
		for _, s := range scopes {
			if !slices.Contains(r.Scopes, s) {
				return Errorf(KindInvalid, "role %s maps to scope %s, which the resource does not define", role, s)
			}
		}
		r.RoleScopes[role] = scopes
	}
	return nil
}

// CheckResourceURI enforces RFC 8707 §2: an absolute URI without a
// fragment.
func CheckResourceURI(uri string) error {
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() || u.Host == "" && u.Opaque == "" || u.Fragment != "" || strings.Contains(uri, "#") {
		return Errorf(KindInvalid, "resource %q: must be an absolute URI without a fragment (RFC 8707)", uri)
	}
	return nil
}

// validScope is an RFC 6749 §3.3 scope token.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// validName is a client id or role: short, printable, no spaces.
func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._:-", c)) {
			return false
		}
	}
	return true
}

// cleanScopes checks, sorts and deduplicates scope names.
func cleanScopes(scopes []string) ([]string, error) {
	out := []string{}
	for _, s := range scopes {
		if !validScope(s) {
			return nil, Errorf(KindInvalid, "scope %q: not an RFC 6749 scope token", s)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// CreateClient validates and stores a new client. A client allowed
// client_secret_basic gets a generated secret, returned once; only its
// hash is stored.
func (g *Registry) CreateClient(ctx context.Context, caller Caller, c Client) (Client, string, error) {
	if c.ID == FirstPartyClientID {
		return Client{}, "", Errorf(KindInvalid, "client id %s is the built-in first-party client", c.ID)
	}
	if err := g.checkClient(ctx, &c); err != nil {
		return Client{}, "", err
	}
	var secret string
	if c.AuthMethod == AuthClientSecretBasic {
		secret, c.SecretHash = newClientSecret()
		c.HasSecret = true
	}
	c.CreatedAt = g.now().UTC().Truncate(time.Millisecond)
	c.UpdatedAt = c.CreatedAt
	if err := g.store.CreateClient(ctx, c); err != nil {
		return Client{}, "", err
	}
	g.audit.Record(ctx, caller, AuditEvent{Type: "registry.client.create", Detail: map[string]string{"client_id": c.ID}})
	return c, secret, nil
}

// UpdateClient replaces a stored client's metadata. Its secret is kept
// while it still uses client_secret_basic (a new one is made when it
// starts to, or when rotateSecret), dropped otherwise.
func (g *Registry) UpdateClient(ctx context.Context, caller Caller, c Client, rotateSecret bool) (Client, string, error) {
	if c.ID == FirstPartyClientID {
		return Client{}, "", Errorf(KindInvalid, "the first-party client is built in and cannot be changed")
	}
	if err := g.checkClient(ctx, &c); err != nil {
		return Client{}, "", err
	}
	old, err := g.store.Client(ctx, c.ID)
	if err != nil {
		return Client{}, "", err
	}
	var secret string
	c.SecretHash, c.HasSecret = nil, false
	if c.AuthMethod == AuthClientSecretBasic {
		if rotateSecret || len(old.SecretHash) == 0 {
			secret, c.SecretHash = newClientSecret()
		} else {
			c.SecretHash = old.SecretHash
		}
		c.HasSecret = true
	}
	c.CreatedAt = old.CreatedAt
	c.UpdatedAt = g.now().UTC().Truncate(time.Millisecond)
	if err := g.store.UpdateClient(ctx, c); err != nil {
		return Client{}, "", err
	}
	detail := map[string]string{"client_id": c.ID}
	if secret != "" {
		detail["secret"] = "new"
	}
	g.audit.Record(ctx, caller, AuditEvent{Type: "registry.client.update", Detail: detail})
	return c, secret, nil
}

// DeleteClient removes a stored client.
func (g *Registry) DeleteClient(ctx context.Context, caller Caller, id string) error {
	if id == FirstPartyClientID {
		return Errorf(KindInvalid, "the first-party client is built in and cannot be deleted")
	}
	if err := g.store.DeleteClient(ctx, id); err != nil {
		return err
	}
	g.audit.Record(ctx, caller, AuditEvent{Type: "registry.client.delete", Detail: map[string]string{"client_id": id}})
	return nil
}

var knownGrants = []string{GrantPassword, GrantRefreshToken, GrantClientCredentials, GrantAuthorizationCode, GrantTokenExchange}

func (g *Registry) checkClient(ctx context.Context, c *Client) error {
	if !validName(c.ID) {
		return Errorf(KindInvalid, "client id %q: use 1 to 128 letters, digits and . _ : -", c.ID)
	}
	switch c.Type {
	case ClientPublic, ClientConfidential:
	case "":
		c.Type = ClientConfidential
	default:
		return Errorf(KindInvalid, "client type %q: public or confidential", c.Type)
	}
	if len(c.GrantTypes) == 0 {
		return Errorf(KindInvalid, "client %s: name at least one grant type", c.ID)
	}
	for _, gt := range c.GrantTypes {
		if !slices.Contains(knownGrants, gt) {
			return Errorf(KindInvalid, "grant type %q: one of %s", gt, strings.Join(knownGrants, ", "))
		}
	}
	c.GrantTypes = sortedUnique(c.GrantTypes)
	if c.AuthMethod == "" {
		c.AuthMethod = AuthNone
		if c.Type == ClientConfidential {
			c.AuthMethod = AuthPrivateKeyJWT
		}
	}
	switch {
	case c.Type == ClientPublic && c.AuthMethod != AuthNone:
		return Errorf(KindInvalid, "a public client authenticates with none, not %s", c.AuthMethod)
	case c.Type == ClientConfidential && c.AuthMethod == AuthNone:
		return Errorf(KindInvalid, "a confidential client needs private_key_jwt or client_secret_basic")
	case c.Type == ClientPublic && (c.Allows(GrantClientCredentials) || c.Allows(GrantTokenExchange)):
		return Errorf(KindInvalid, "client_credentials and token exchange need a confidential client")
	}
	switch c.AuthMethod {
	case AuthNone, AuthClientSecretBasic:
		if len(c.JWKS) > 0 || c.JWKSURI != "" {
			return Errorf(KindInvalid, "a JWKS is used only with private_key_jwt")
		}
	case AuthPrivateKeyJWT:
		if (len(c.JWKS) > 0) == (c.JWKSURI != "") {
			return Errorf(KindInvalid, "private_key_jwt needs exactly one of a JWKS and a JWKS URL")
		}
		if len(c.JWKS) > 0 {
			if err := checkPublicJWKS(c.JWKS); err != nil {
				return Errorf(KindInvalid, "client %s: %v", c.ID, err)
			}
		}
		if c.JWKSURI != "" {
			if u, err := url.Parse(c.JWKSURI); err != nil || u.Scheme != "https" && !isLoopbackURL(u) {
				return Errorf(KindInvalid, "jwks_uri %q: must be an https URL", c.JWKSURI)
			}
		}
	default:
		return Errorf(KindInvalid, "token_endpoint_auth_method %q: none, private_key_jwt or client_secret_basic", c.AuthMethod)
	}
	var err error
	if c.Scopes, err = cleanScopes(c.Scopes); err != nil {
		return err
	}
	for _, list := range []*[]string{&c.Resources, &c.ActToward} {
		for _, uri := range *list {
			if _, err := g.Resource(ctx, uri); errors.Is(err, ErrNotFound) {
				return Errorf(KindInvalid, "resource %s is not registered", uri)
			} else if err != nil {
				return err
			}
		}
		*list = sortedUnique(*list)
	}
	for _, list := range []*[]string{&c.RedirectURIs, &c.PostLogoutRedirectURIs} {
		for _, r := range *list {
			if err := CheckRedirectURI(r); err != nil {
				return err
			}
		}
		*list = sortedUnique(*list)
	}
	if c.Allows(GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		return Errorf(KindInvalid, "client %s: the authorization_code grant needs at least one redirect URI", c.ID)
	}
	switch c.IDTokenSignedResponseAlg {
	case "", "EdDSA", "RS256":
	default:
		return Errorf(KindInvalid, "id_token_signed_response_alg %q: EdDSA or RS256", c.IDTokenSignedResponseAlg)
	}
	return nil
}

func sortedUnique(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return slices.Compact(out)
}

func isLoopbackURL(u *url.URL) bool {
	h := u.Hostname()
	return u.Scheme == "http" && (h == "localhost" || h == "127.0.0.1" || h == "::1")
}

// checkPublicJWKS accepts a JWK set, or a single JWK, of public keys only.
func checkPublicJWKS(raw json.RawMessage) error {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("jwks: not JSON: %v", err)
	}
	if set.Keys == nil {
		var one map[string]any
		if err := json.Unmarshal(raw, &one); err != nil || one["kty"] == nil {
			return errors.New("jwks: neither a JWK set nor a JWK")
		}
		set.Keys = []map[string]any{one}
	}
	if len(set.Keys) == 0 {
		return errors.New("jwks: no key")
	}
	for _, k := range set.Keys {
		switch k["kty"] {
		case "OKP", "RSA", "EC":
		default:
			return fmt.Errorf("jwks: key type %v: OKP, RSA or EC", k["kty"])
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				return errors.New("jwks: a private key was given; the issuer stores public keys only")
			}
		}
	}
	return nil
}

// newClientSecret returns a 256-bit secret and its SHA-256. A random
// secret of that size needs no slow hash.
func newClientSecret() (string, []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("issuer: crypto/rand failed: " + err.Error())
	}
	secret := "sgt_cs_" + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(secret))
	return secret, h[:]
}

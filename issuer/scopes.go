package issuer

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/signet-auth/signet/verifier"
)

// Error kinds of the registry (RFC 6749 §5.2, RFC 8707 §2).
const (
	// KindInvalidScope is a scope unknown to the resource, or malformed.
	KindInvalidScope Kind = "invalid_scope"
	// KindInvalidTarget is a resource that is unknown, malformed or not
	// allowed to the client.
	KindInvalidTarget Kind = "invalid_target"
	// KindInvalidClient is a client that is unknown or failed to
	// authenticate (401 on the token endpoint).
	KindInvalidClient Kind = "invalid_client"
	// KindUnauthorizedClient is a client not allowed the grant it used.
	KindUnauthorizedClient Kind = "unauthorized_client"
)

// TokenRequest is what a client asks of the token endpoint besides its
// grant: the client (empty: the first-party client), one RFC 8707
// resource (empty: the default resource) and an RFC 6749 scope.
type TokenRequest struct {
	ClientID string
	Resource string
	Scope    string
	// ClientAuthenticated is set once the client proved who it is
	// (ClientAuth); a confidential client must.
	ClientAuthenticated bool
}

// Grant is what an access token is issued for: its audience, scope and
// client, the user's roles, and for an exchanged token who acts.
type Grant struct {
	Audience []string
	Scope    string
	ClientID string
	Roles    []string
	// Actor is the act claim (RFC 8693): who acts for the user.
	Actor *verifier.Actor
	// NotAfter, when set, caps the token's expiry (an exchanged token
	// never outlives the one it came from).
	NotAfter time.Time
}

// Target is a checked token request: a known client allowed the grant,
// a resource the client may ask for and scopes that resource defines.
// What a user gets of it depends on their roles (ForUser).
type Target struct {
	Client   Client
	Resource Resource
	asked    []string
	aud      []string
}

// RoleStore keeps users' roles.
type RoleStore interface {
	// UserRoles lists a user's roles, sorted.
	UserRoles(ctx context.Context, userID string) ([]string, error)
	// AddUserRole and RemoveUserRole report whether they changed anything
	// (ErrNotFound when there is no such user).
	AddUserRole(ctx context.Context, userID, role string, at int64) (bool, error)
	RemoveUserRole(ctx context.Context, userID, role string) (bool, error)
}

// Target checks a token request made with grant type grant. The client
// must exist (KindInvalidClient) and be allowed the grant
// (KindUnauthorizedClient); the resource must be registered and allowed
// to the client (KindInvalidTarget); each scope asked must be one the
// resource defines (KindInvalidScope), except at the default resource,
// which defines none and where asked scopes are not granted, as before
// the registry existed.
func (g *Registry) Target(ctx context.Context, grant string, req TokenRequest) (Target, error) {
	clientID := req.ClientID
	if clientID == "" {
		clientID = FirstPartyClientID
	}
	c, err := g.Client(ctx, clientID)
	if errors.Is(err, ErrNotFound) && (grant == GrantPassword || grant == GrantRefreshToken) {
		// These grants authenticate no client, so any caller may act as
		// the first-party client by naming none; clients that send an
		// unregistered id, as every client did before the registry, are
		// taken as that client.
		c, err = g.FirstPartyClient(), nil
	}
	if errors.Is(err, ErrNotFound) {
		return Target{}, &Error{Kind: KindInvalidClient, Description: "unknown client"}
	}
	if err != nil {
		return Target{}, err
	}
	return g.targetFor(ctx, c, grant, req)
}

// CheckRevoker checks the client of an RFC 7009 revocation request: a
// confidential client must have authenticated (RFC 7009 §2.1). A request
// that names no client, or a public or unknown one, may revoke any token
// it holds, as before the registry existed.
func (g *Registry) CheckRevoker(ctx context.Context, req TokenRequest) error {
	if req.ClientID == "" || req.ClientAuthenticated {
		return nil
	}
	c, err := g.Client(ctx, req.ClientID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return authenticatedIfConfidential(c, req)
}

// authenticatedIfConfidential refuses a request of a confidential client
// that did not authenticate.
func authenticatedIfConfidential(c Client, req TokenRequest) error {
	if c.Type == ClientConfidential && !req.ClientAuthenticated {
		return &Error{Kind: KindInvalidClient, Description: "client authentication failed"}
	}
	return nil
}

// targetFor is Target once the client is known.
func (g *Registry) targetFor(ctx context.Context, c Client, grant string, req TokenRequest) (Target, error) {
	if err := authenticatedIfConfidential(c, req); err != nil {
		return Target{}, err
	}
	if !c.Allows(grant) {
		return Target{}, Errorf(KindUnauthorizedClient, "the client may not use the grant type %s", grant)
	}
	uri := req.Resource
	if uri == "" {
		switch {
		case c.FirstParty:
			uri = g.audience[0]
		case len(c.Resources) == 1:
			uri = c.Resources[0]
		case len(c.Resources) == 0 && signsIn(c, grant):
			// A client that only signs users in: its access token is for
			// the default resource (the UserInfo endpoint takes it).
			uri = g.audience[0]
		default:
			return Target{}, Errorf(KindInvalidTarget, "resource is required: the client may ask for several")
		}
	}
	// A configured audience need not be a URI (SIGNET_AUDIENCE predates
	// the registry); anything else must be.
	if !g.isBuiltinResource(uri) && CheckResourceURI(uri) != nil {
		return Target{}, Errorf(KindInvalidTarget, "resource must be an absolute URI without a fragment")
	}
	r, err := g.Resource(ctx, uri)
	if errors.Is(err, ErrNotFound) {
		return Target{}, Errorf(KindInvalidTarget, "unknown resource")
	}
	if err != nil {
		return Target{}, err
	}
	signInOnly := signsIn(c, grant) && len(c.Resources) == 0 && req.Resource == ""
	if !c.FirstParty && !signInOnly && !slices.Contains(c.Resources, r.URI) && !(r.Default && slices.ContainsFunc(c.Resources, g.isBuiltinResource)) {
		return Target{}, Errorf(KindInvalidTarget, "the client may not ask for this resource")
	}
	t := Target{Client: c, Resource: r, aud: []string{r.URI}}
	if r.Default && req.Resource == "" {
		t.aud = g.audience // every configured audience, as before the registry
	} else if r.Default {
		t.aud = []string{req.Resource} // one of the configured audiences
	}
	for _, s := range strings.Split(req.Scope, " ") {
		if s == "" {
			continue
		}
		if !validScope(s) {
			return Target{}, Errorf(KindInvalidScope, "scope is malformed")
		}
		if isOIDCScope(s) && c.Allows(GrantAuthorizationCode) {
			// OpenID Connect scopes belong to no resource: any client of
			// the code flow may ask them, on any grant.
			if !slices.Contains(t.asked, s) {
				t.asked = append(t.asked, s)
			}
			continue
		}
		if r.Default {
			continue
		}
		if !slices.Contains(r.Scopes, s) {
			return Target{}, Errorf(KindInvalidScope, "the resource does not define the scope %s", s)
		}
		if (c.FirstParty || slices.Contains(c.Scopes, s)) && !slices.Contains(t.asked, s) {
			t.asked = append(t.asked, s)
		}
	}
	slices.Sort(t.asked)
	return t, nil
}

// signsIn reports whether a grant is the code flow's: the code grant, or
// the refresh of its sessions.
func signsIn(c Client, grant string) bool {
	return grant == GrantAuthorizationCode || grant == GrantRefreshToken && c.Allows(GrantAuthorizationCode)
}

// ForUser is the grant for a user with roles: the scopes asked that the
// client may ask, and that the user's roles allow where the resource maps
// scopes to roles (a scope no role maps is open to every user).
func (t Target) ForUser(roles []string) Grant {
	var scopes []string
	for _, s := range t.asked {
		if t.userMay(s, roles) {
			scopes = append(scopes, s)
		}
	}
	return Grant{Audience: t.audience(), Scope: strings.Join(scopes, " "), ClientID: t.Client.ID, Roles: roles}
}

// ForClient is the grant of a client acting for itself (client
// credentials): the scopes asked that the client may ask.
func (t Target) ForClient() Grant {
	return Grant{Audience: t.audience(), Scope: strings.Join(t.asked, " "), ClientID: t.Client.ID}
}

func (t Target) audience() []string { return t.aud }

func (t Target) userMay(scope string, roles []string) bool {
	gated := false
	for role, scopes := range t.Resource.RoleScopes {
		if slices.Contains(scopes, scope) {
			gated = true
			if slices.Contains(roles, role) {
				return true
			}
		}
	}
	return !gated
}

// defaultGrant is the grant of a request that names no client, resource
// or scope: every configured audience, as before the registry.
func (t *Tokens) defaultGrant(roles []string) Grant {
	return Grant{Audience: t.audience, ClientID: FirstPartyClientID, Roles: roles}
}

// SignInFor is SignIn for a token request: the request is checked first
// (no password work for a bad one), then the access token is issued for
// the resource and scopes asked, as far as the client and the user's
// roles allow.
func (i *Issuer) SignInFor(ctx context.Context, caller Caller, email, password string, grant string, req TokenRequest) (TokenSet, error) {
	t, err := i.Registry.Target(ctx, grant, req)
	if err != nil {
		return TokenSet{}, err
	}
	u, err := i.Accounts.Authenticate(ctx, caller, email, password)
	if err == nil {
		var g Grant
		if g, err = i.userGrant(ctx, t, u); err == nil {
			var ts TokenSet
			ts, err = i.Sessions.StartFor(ctx, caller, u, g)
			i.Metrics.signin(err)
			return ts, err
		}
	}
	i.Metrics.signin(err)
	return TokenSet{}, err
}

// RefreshFor is Sessions.Refresh for a token request: one session mints
// access tokens for any resource its client may ask for.
func (i *Issuer) RefreshFor(ctx context.Context, caller Caller, raw string, req TokenRequest) (TokenSet, error) {
	t, err := i.Registry.Target(ctx, GrantRefreshToken, req)
	if err != nil {
		return TokenSet{}, err
	}
	return i.Sessions.RefreshFor(ctx, caller, raw, func(ctx context.Context, u User, roles []string) (Grant, error) {
		if roles != nil { // read with the session
			if len(roles) == 0 {
				roles = nil
			}
			return t.ForUser(roles), nil
		}
		return i.userGrant(ctx, t, u)
	})
}

func (i *Issuer) userGrant(ctx context.Context, t Target, u User) (Grant, error) {
	roles, err := i.store.UserRoles(ctx, u.ID)
	if err != nil {
		return Grant{}, err
	}
	if len(roles) == 0 {
		roles = nil
	}
	return t.ForUser(roles), nil
}

// SignInDeviceFor is SignInFor for a client that keeps a device token (see
// SignInDevice): it returns the device token for next time.
func (i *Issuer) SignInDeviceFor(ctx context.Context, caller Caller, email, password, deviceToken string, grant string, req TokenRequest) (TokenSet, string, error) {
	t, err := i.Registry.Target(ctx, grant, req)
	if err != nil {
		return TokenSet{}, "", err
	}
	u, next, err := i.Accounts.AuthenticateDevice(ctx, caller, email, password, deviceToken)
	if err == nil {
		var g Grant
		if g, err = i.userGrant(ctx, t, u); err == nil {
			var ts TokenSet
			ts, err = i.Sessions.StartFor(ctx, caller, u, g)
			i.Metrics.signin(err)
			if err != nil {
				return TokenSet{}, "", err
			}
			return ts, next, nil
		}
	}
	i.Metrics.signin(err)
	return TokenSet{}, "", err
}

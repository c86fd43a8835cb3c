package issuer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// The OpenID Connect scopes (OpenID Connect Core §5.4, §11). They are
// granted to any client allowed the authorization code grant, at any
// resource; the other scopes are a resource's.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
)

// OIDCScopes lists the OpenID Connect scopes Signet supports.
func OIDCScopes() []string {
	return []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess}
}

func isOIDCScope(s string) bool { return slices.Contains(OIDCScopes(), s) }

// Limits of the authorization code flow.
const (
	// CodeLifetime is how long an authorization code may be redeemed.
	CodeLifetime = 60 * time.Second
	// codeRetention is how long a code is kept after its expiry so that a
	// late replay is still recognised (and what it issued revoked).
	codeRetention = 24 * time.Hour
	// maxAuthParamBytes bounds state, nonce and login_hint.
	maxAuthParamBytes = 1024
	// DefaultBrowserSessionTTL is the lifetime of a sign-in at the
	// issuer's pages (single sign-on), unless Config says otherwise.
	DefaultBrowserSessionTTL = 12 * time.Hour

	codePrefix           = "sgt_ac_"
	browserSessionPrefix = "sgt_bs_"
)

// KindInsufficientScope is an access token without the scope an endpoint
// needs (RFC 6750 §3.1; 403).
const KindInsufficientScope Kind = "insufficient_scope"

// AuthorizeParams are the parameters of an authorization request, as
// received (OpenID Connect Core §3.1.2.1).
type AuthorizeParams struct {
	ClientID, RedirectURI, ResponseType, ResponseMode, Scope, State, Nonce  string
	CodeChallenge, CodeChallengeMethod, Prompt, MaxAge, LoginHint, Resource string
	Request, RequestURI                                                     string
}

// AuthorizeError is a refused authorization request. Redirect says
// whether it may be sent to the redirect URI: only once the client and
// the redirect URI are known good (RFC 6749 §4.1.2.1); otherwise the
// user gets an error page and the client nothing.
type AuthorizeError struct {
	Code        string
	Description string
	Redirect    bool
}

func (e *AuthorizeError) Error() string { return e.Code + ": " + e.Description }

func authzRedirect(code, format string, args ...any) *AuthorizeError {
	return &AuthorizeError{Code: code, Description: Errorf(KindInvalid, format, args...).Description, Redirect: true}
}

// Authorization is a checked authorization request.
type Authorization struct {
	Client      Client
	RedirectURI string
	State       string
	Nonce       string
	// Scope is the scopes asked for, checked and sorted.
	Scope     string
	Resource  string
	Challenge string
	// Prompt is "", "none" or "login".
	Prompt string
	// MaxAge is the max_age asked, when HasMaxAge.
	MaxAge    time.Duration
	HasMaxAge bool
	LoginHint string
}

// HasScope reports whether s was asked for.
func (a Authorization) HasScope(s string) bool {
	return slices.Contains(strings.Fields(a.Scope), s)
}

// NeedsSignIn reports whether a sign-in made at authTime is too old for
// the request (max_age) or the request asks for a new one (prompt=login).
func (a Authorization) NeedsSignIn(authTime, now time.Time) bool {
	if a.Prompt == "login" {
		return true
	}
	return a.HasMaxAge && now.Sub(authTime) > a.MaxAge
}

// CheckAuthorization checks an authorization request: the client and
// its redirect URI first (a failure there is not redirectable), then the
// rest. PKCE with S256 is required of every client.
func (i *Issuer) CheckAuthorization(ctx context.Context, p AuthorizeParams) (Authorization, error) {
	page := func(desc string) error { return &AuthorizeError{Code: "invalid_request", Description: desc} }
	if p.ClientID == "" {
		return Authorization{}, page("client_id is missing.")
	}
	c, err := i.Registry.Client(ctx, p.ClientID)
	if errors.Is(err, ErrNotFound) {
		return Authorization{}, &AuthorizeError{Code: "invalid_client", Description: "The application (client_id) is not registered."}
	}
	if err != nil {
		return Authorization{}, err
	}
	if p.RedirectURI == "" {
		return Authorization{}, page("redirect_uri is missing.")
	}
	if !RedirectURIMatches(c, p.RedirectURI) {
		return Authorization{}, page("The redirect_uri is not registered for this application.")
	}
	a := Authorization{Client: c, RedirectURI: p.RedirectURI, State: p.State}
	if len(p.State) > maxAuthParamBytes {
		// The state is not echoed: it is what is wrong.
		a.State = ""
		return a, authzRedirect("invalid_request", "state is longer than %d bytes", maxAuthParamBytes)
	}
	switch {
	case !c.Allows(GrantAuthorizationCode):
		return a, authzRedirect("unauthorized_client", "the client may not use the authorization code grant")
	case p.Request != "":
		return a, authzRedirect("request_not_supported", "request objects are not supported")
	case p.RequestURI != "":
		return a, authzRedirect("request_uri_not_supported", "request_uri is not supported")
	case p.ResponseType == "":
		return a, authzRedirect("invalid_request", "response_type is required")
	case p.ResponseType != "code":
		return a, authzRedirect("unsupported_response_type", "response_type must be code")
	case p.ResponseMode != "" && p.ResponseMode != "query":
		return a, authzRedirect("invalid_request", "response_mode must be query")
	case p.CodeChallenge == "":
		return a, authzRedirect("invalid_request", "code_challenge is required (PKCE with S256)")
	case p.CodeChallengeMethod != "S256":
		return a, authzRedirect("invalid_request", "code_challenge_method must be S256")
	case !base64URL(p.CodeChallenge) || len(p.CodeChallenge) != 43:
		return a, authzRedirect("invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)")
	case len(p.Nonce) > maxAuthParamBytes || len(p.LoginHint) > maxAuthParamBytes:
		return a, authzRedirect("invalid_request", "nonce and login_hint must be at most %d bytes", maxAuthParamBytes)
	}
	a.Challenge, a.Nonce, a.LoginHint, a.Resource = p.CodeChallenge, p.Nonce, p.LoginHint, p.Resource
	prompts := strings.Fields(p.Prompt)
	switch {
	case len(prompts) == 0:
	case len(prompts) == 1 && (prompts[0] == "none" || prompts[0] == "login"):
		a.Prompt = prompts[0]
	default:
		return a, authzRedirect("invalid_request", "prompt must be none or login")
	}
	if p.MaxAge != "" {
		n, err := strconv.ParseUint(p.MaxAge, 10, 31)
		if err != nil {
			return a, authzRedirect("invalid_request", "max_age must be a number of seconds")
		}
		a.MaxAge, a.HasMaxAge = time.Duration(n)*time.Second, true
	}
	t, err := i.Registry.targetFor(ctx, c, GrantAuthorizationCode, TokenRequest{
		ClientID: c.ID, Resource: p.Resource, Scope: p.Scope, ClientAuthenticated: true,
	})
	if err != nil {
		switch KindOf(err) {
		case KindInvalidScope, KindInvalidTarget, KindUnauthorizedClient:
			return a, &AuthorizeError{Code: string(KindOf(err)), Description: AsError(err).Description, Redirect: true}
		}
		return a, err
	}
	// offline_access counts only for a client that may refresh (OpenID
	// Connect Core §11: otherwise it is ignored).
	a.Scope = strings.Join(slices.DeleteFunc(t.asked, func(s string) bool {
		return s == ScopeOfflineAccess && !c.Allows(GrantRefreshToken)
	}), " ")
	return a, nil
}

// validPKCE reports whether s uses only the characters of RFC 7636 §4.1.
func validPKCE(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return s != ""
}

// base64URL reports whether s uses only the base64url alphabet without
// padding (RFC 4648 §5), which an S256 code challenge is written in
// (RFC 7636 §4.2): a challenge with '.' or '~' could never be met.
func base64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// RedirectURIMatches compares a redirect URI with the client's
// registered ones exactly (RFC 9700 §4.1), except that for a public
// client a loopback redirect URI (http://127.0.0.1 or http://[::1]) may
// use any port (RFC 8252 §7.3).
func RedirectURIMatches(c Client, uri string) bool {
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	if c.Type != ClientPublic {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || !loopbackIP(u) {
		return false
	}
	for _, r := range c.RedirectURIs {
		ru, err := url.Parse(r)
		if err != nil || !loopbackIP(ru) {
			continue
		}
		if ru.Hostname() == u.Hostname() && ru.EscapedPath() == u.EscapedPath() && ru.RawQuery == u.RawQuery && u.User == nil && u.Fragment == "" && !u.ForceQuery {
			return true
		}
	}
	return false
}

// loopbackIP is an http URL on a loopback IP literal.
func loopbackIP(u *url.URL) bool {
	if u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	return h == "127.0.0.1" || h == "::1"
}

// CheckRedirectURI checks a redirect or post-logout redirect URI for
// registration: absolute, no fragment or user information, and either
// https, http on a loopback host (RFC 8252 §7.3), or a private-use scheme
// of a native app, named after a domain it owns (RFC 8252 §7.1).
func CheckRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	bad := func(why string) error { return Errorf(KindInvalid, "redirect URI %q: %s", raw, why) }
	switch {
	case err != nil || !u.IsAbs():
		return bad("must be an absolute URI")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("must not have a fragment")
	case u.User != nil:
		return bad("must not carry user information")
	}
	switch s := strings.ToLower(u.Scheme); {
	case s == "https":
		if u.Host == "" {
			return bad("https needs a host")
		}
	case s == "http":
		if h := u.Hostname(); h != "127.0.0.1" && h != "::1" && h != "localhost" {
			return bad("plain http is allowed for loopback hosts only (127.0.0.1, [::1], localhost)")
		}
	case strings.Contains(s, "."):
		// A private-use scheme such as com.example.app:/callback.
	default:
		return bad("use https, http on a loopback host, or a private-use scheme named after a domain (com.example.app:/callback)")
	}
	return nil
}

// randomSecret returns prefix + 256 random bits, base64url.
func randomSecret(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("issuer: crypto/rand failed: " + err.Error())
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func secretHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// IssueCode issues an authorization code for a checked request and a
// user signed in at authTime. Only its hash is stored. Past the per-user
// CodeLimit it refuses with KindRateLimited.
func (i *Issuer) IssueCode(ctx context.Context, caller Caller, a Authorization, u User, authTime time.Time) (string, error) {
	now := i.cfg.Now().UTC().Truncate(time.Millisecond)
	// Single sign-on makes a code cost one request of a signed-in browser:
	// bounded per user, so that no account can fill the table.
	if wait := i.codes.take(u.ID, now); wait > 0 {
		return "", tooManyRequests("too many authorization requests for this account; try again later", wait)
	}
	code := randomSecret(codePrefix)
	err := i.store.CreateAuthCode(ctx, AuthCode{
		Hash: secretHash(code), ClientID: a.Client.ID, UserID: u.ID, RedirectURI: a.RedirectURI,
		CodeChallenge: a.Challenge, Scope: a.Scope, Resource: a.Resource, Nonce: a.Nonce,
		AuthTime: authTime.UTC().Truncate(time.Millisecond), CreatedAt: now, ExpiresAt: now.Add(CodeLifetime),
	}, now.Add(-codeRetention))
	if err != nil {
		return "", err
	}
	i.Audit.Record(ctx, caller, AuditEvent{Type: "authorization_code_issued", UserID: u.ID,
		Detail: map[string]string{"client_id": a.Client.ID, "scope": a.Scope}})
	return code, nil
}

// CodeRequest is a token request with grant_type=authorization_code.
type CodeRequest struct {
	Code, RedirectURI, CodeVerifier string
}

func errBadCode() *Error {
	return &Error{Kind: KindBadCredentials, Description: "the authorization code is invalid, expired or already used"}
}

// RedeemCode is the authorization code grant (RFC 6749 §4.1.3 with RFC
// 7636): the client authenticates (a public client names itself with
// client_id), the code is spent once, and must have been issued to that
// client for that redirect URI and the PKCE verifier's challenge. A code
// presented again revokes the session its first redemption started.
func (i *Issuer) RedeemCode(ctx context.Context, caller Caller, cc ClientCredentials, req CodeRequest) (TokenSet, error) {
	ts, err := i.redeemCode(ctx, caller, cc, req)
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, errCodeReplayed):
		outcome = "replayed"
		err = errBadCode()
	case KindOf(err) == KindBadCredentials || KindOf(err) == KindInvalid || KindOf(err) == KindInvalidClient || KindOf(err) == KindUnauthorizedClient:
		outcome = "invalid"
	default:
		outcome = "error"
	}
	i.Metrics.CodeGrants.WithLabelValues(outcome).Inc()
	return ts, err
}

var errCodeReplayed = errors.New("authorization code replayed")

func (i *Issuer) codeClient(ctx context.Context, caller Caller, cc ClientCredentials) (Client, error) {
	if cc.Present() {
		return i.AuthenticateClient(ctx, caller, cc)
	}
	if cc.ClientID == "" {
		return Client{}, clientFailed(errors.New("no client_id"))
	}
	c, err := i.Registry.Client(ctx, cc.ClientID)
	if errors.Is(err, ErrNotFound) {
		return Client{}, clientFailed(errors.New("unknown client"))
	}
	if err != nil {
		return Client{}, err
	}
	if c.Type != ClientPublic || c.AuthMethod != AuthNone {
		return c, clientFailed(errors.New("a confidential client sent no authentication"))
	}
	return c, nil
}

func (i *Issuer) redeemCode(ctx context.Context, caller Caller, cc ClientCredentials, req CodeRequest) (TokenSet, error) {
	switch {
	case req.Code == "":
		return TokenSet{}, Errorf(KindInvalid, "code is required")
	case req.RedirectURI == "":
		return TokenSet{}, Errorf(KindInvalid, "redirect_uri is required")
	case req.CodeVerifier == "":
		return TokenSet{}, Errorf(KindInvalid, "code_verifier is required (PKCE)")
	case len(req.CodeVerifier) < 43 || len(req.CodeVerifier) > 128 || !validPKCE(req.CodeVerifier):
		return TokenSet{}, Errorf(KindInvalid, "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
	}
	c, err := i.codeClient(ctx, caller, cc)
	if err != nil {
		return TokenSet{}, err
	}
	if !c.Allows(GrantAuthorizationCode) {
		return TokenSet{}, Errorf(KindUnauthorizedClient, "the client may not use the grant type %s", GrantAuthorizationCode)
	}
	if !strings.HasPrefix(req.Code, codePrefix) || len(req.Code) != len(codePrefix)+43 {
		return TokenSet{}, errBadCode()
	}
	hash := secretHash(req.Code)
	now := i.cfg.Now()
	code, first, err := i.store.RedeemAuthCode(ctx, hash, now)
	if errors.Is(err, ErrNotFound) {
		return TokenSet{}, errBadCode()
	}
	if err != nil {
		return TokenSet{}, err
	}
	if !first {
		i.codeReplayed(ctx, caller, code, c.ID)
		return TokenSet{}, errCodeReplayed
	}
	bad := func(why string) (TokenSet, error) {
		i.cfg.Logger.InfoContext(ctx, "authorization code refused", "client_id", c.ID, "reason", why)
		return TokenSet{}, errBadCode()
	}
	challenge := sha256.Sum256([]byte(req.CodeVerifier))
	want := base64.RawURLEncoding.EncodeToString(challenge[:])
	switch {
	case code.ClientID != c.ID:
		return bad("issued to another client")
	case !now.Before(code.ExpiresAt):
		return bad("expired")
	case code.RedirectURI != req.RedirectURI:
		return bad("redirect_uri differs from the authorization request's")
	case subtle.ConstantTimeCompare([]byte(want), []byte(code.CodeChallenge)) != 1:
		return bad("code_verifier does not match the code_challenge")
	}
	u, err := i.store.UserByID(ctx, code.UserID)
	if errors.Is(err, ErrNotFound) {
		return bad("the user is gone")
	}
	if err != nil {
		return TokenSet{}, err
	}
	t, err := i.Registry.targetFor(ctx, c, GrantAuthorizationCode, TokenRequest{
		ClientID: c.ID, Resource: code.Resource, Scope: code.Scope, ClientAuthenticated: true,
	})
	if err != nil {
		return TokenSet{}, err
	}
	g, err := i.userGrant(ctx, t, u)
	if err != nil {
		return TokenSet{}, err
	}
	ts, err := i.Sessions.StartFor(ctx, caller, u, g)
	if err != nil {
		return TokenSet{}, err
	}
	replayed, err := i.store.AttachCodeSession(ctx, hash, ts.SessionID)
	if err != nil || replayed {
		// A replay came in while this redemption ran: what it issued is
		// revoked, as it would have been had the replay come later.
		if _, rerr := i.store.RevokeSession(context.WithoutCancel(ctx), ts.SessionID, i.cfg.Now(), "authorization_code_replayed"); rerr != nil {
			return TokenSet{}, rerr
		}
		if err != nil {
			return TokenSet{}, err
		}
		return TokenSet{}, errCodeReplayed
	}
	scopes := strings.Fields(code.Scope)
	if !slices.Contains(scopes, ScopeOfflineAccess) || !c.Allows(GrantRefreshToken) {
		ts.RefreshToken, ts.RefreshExpiresIn = "", 0
	}
	if slices.Contains(scopes, ScopeOpenID) {
		ts.IDToken, err = i.signIDToken(ctx, c, u, ts.SessionID, code.AuthTime, code.Nonce, ts.AccessToken, scopes)
		if err != nil {
			// No key of the algorithm signs yet: the tokens are not handed
			// out, so their session must not stay live.
			_, _ = i.store.RevokeSession(context.WithoutCancel(ctx), ts.SessionID, i.cfg.Now(), "id_token_unsigned")
			return TokenSet{}, err
		}
	}
	i.Audit.Record(ctx, caller, AuditEvent{Type: "authorization_code_redeemed", UserID: u.ID, SessionID: ts.SessionID,
		Detail: map[string]string{"client_id": c.ID, "scope": ts.Scope}})
	return ts, nil
}

// codeReplayed revokes what the first redemption of a code issued (RFC
// 6749 §4.1.2), which also puts it in the revocation feed.
func (i *Issuer) codeReplayed(ctx context.Context, caller Caller, code AuthCode, presentedBy string) {
	detail := map[string]string{"client_id": code.ClientID, "presented_by": presentedBy}
	if code.SessionID != "" {
		revoked, err := i.store.RevokeSession(context.WithoutCancel(ctx), code.SessionID, i.cfg.Now(), "authorization_code_replayed")
		if err != nil {
			i.cfg.Logger.ErrorContext(ctx, "could not revoke the session of a replayed code", "session_id", code.SessionID, "error", err)
		}
		detail["session_revoked"] = strconv.FormatBool(revoked)
	}
	i.Audit.Record(ctx, caller, AuditEvent{Type: "authorization_code_replayed", UserID: code.UserID, SessionID: code.SessionID, Detail: detail})
}

// IDTokenAlgs are the algorithms ID tokens may be signed with: RS256,
// which OpenID Connect requires, and EdDSA, each when the key policy
// keeps a key of it.
func (i *Issuer) IDTokenAlgs() []string {
	var out []string
	for _, a := range []string{"RS256", "EdDSA"} {
		if slices.Contains(i.keys.Policy().Algs(), a) {
			out = append(out, a)
		}
	}
	return out
}

// AccessTokenAlgs lists the algorithm access tokens are signed with: the
// configured one (SIGNET_SIGNING_ALG); a key kept for ID tokens signs no
// access token.
func (i *Issuer) AccessTokenAlgs() []string { return []string{i.keys.Policy().Alg} }

// idTokenClaims are an ID token's claims (OpenID Connect Core §2).
type idTokenClaims struct {
	Issuer        string `json:"iss"`
	Subject       string `json:"sub"`
	Audience      string `json:"aud"`
	Expiry        int64  `json:"exp"`
	IssuedAt      int64  `json:"iat"`
	AuthTime      int64  `json:"auth_time"`
	Nonce         string `json:"nonce,omitempty"`
	AZP           string `json:"azp"`
	SessionID     string `json:"sid"`
	ATHash        string `json:"at_hash"`
	Email         string `json:"email,omitempty"`
	EmailVerified *bool  `json:"email_verified,omitempty"`
}

// signIDToken signs the ID token of a code redemption with the client's
// registered algorithm (RS256 by default), typ JWT, for as long as an
// access token lives (so the key retention covers it).
func (i *Issuer) signIDToken(ctx context.Context, c Client, u User, sid string, authTime time.Time, nonce, accessToken string, scopes []string) (string, error) {
	alg := c.IDTokenSignedResponseAlg
	if algs := i.IDTokenAlgs(); alg == "" && len(algs) > 0 {
		alg = algs[0] // RS256 whenever it is kept
	}
	now := i.cfg.Now()
	claims := idTokenClaims{
		Issuer: i.cfg.IssuerURL, Subject: u.ID, Audience: c.ID, AZP: c.ID,
		IssuedAt: now.Unix(), Expiry: now.Add(i.Tokens.AccessTokenTTL()).Unix(), AuthTime: authTime.Unix(),
		Nonce: nonce, SessionID: sid, ATHash: atHash(alg, accessToken),
	}
	if slices.Contains(scopes, ScopeEmail) {
		v := u.EmailVerified
		claims.Email, claims.EmailVerified = u.Email, &v
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	tok, err := i.keys.SignJWT(ctx, alg, payload)
	if err != nil {
		return "", err
	}
	i.Metrics.TokensIssued.WithLabelValues("id").Inc()
	return tok, nil
}

// atHash is OpenID Connect Core §3.1.3.6: the left half of the access
// token's hash with the hash of the ID token's algorithm (SHA-512 for
// EdDSA with Ed25519, as the certified libraries compute it).
func atHash(alg, accessToken string) string {
	var h hash.Hash = sha256.New()
	if alg == "EdDSA" {
		h = sha512.New()
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// UserInfo returns the claims of the UserInfo endpoint (OpenID Connect
// Core §5.3) for an access token with the openid scope whose session is
// live: sub, and email and email_verified when the token has the email
// scope.
func (i *Issuer) UserInfo(ctx context.Context, raw string) (map[string]any, error) {
	claims, _, u, err := i.Sessions.authenticate(ctx, raw, i.userInfoAudience(raw))
	if err != nil {
		return nil, err
	}
	scopes := strings.Fields(claims.Scope)
	if !slices.Contains(scopes, ScopeOpenID) {
		return nil, &Error{Kind: KindInsufficientScope, Description: "the access token lacks the openid scope"}
	}
	out := map[string]any{"sub": u.ID}
	if slices.Contains(scopes, ScopeEmail) {
		out["email"], out["email_verified"] = u.Email, u.EmailVerified
	}
	return out, nil
}

// userInfoAudience is the audience to verify a UserInfo token for: the
// default resource, or the registered resource the token names (its aud
// read before verification only to pick the verifier).
func (i *Issuer) userInfoAudience(raw string) string {
	_, payload, ok := strings.Cut(raw, ".")
	if !ok {
		return ""
	}
	payload, _, _ = strings.Cut(payload, ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || len(b) > 16<<10 {
		return ""
	}
	var c struct {
		Aud json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	var one string
	var many []string
	if json.Unmarshal(c.Aud, &one) == nil {
		many = []string{one}
	} else if json.Unmarshal(c.Aud, &many) != nil || len(many) != 1 {
		return ""
	}
	if slices.Contains(i.cfg.Audience, many[0]) {
		return ""
	}
	if _, err := i.Registry.store.Resource(context.Background(), many[0]); err != nil {
		return ""
	}
	return many[0]
}

// SignInBrowser is sign-in at the issuer's own page: the same throttle,
// device recognition, bcrypt work and audit as /v1/signin, then a browser
// session (single sign-on) instead of tokens. It returns the session's
// cookie value and the device token for next time.
func (i *Issuer) SignInBrowser(ctx context.Context, caller Caller, email, password, deviceToken string) (cookie string, bs BrowserSession, u User, device string, err error) {
	u, device, err = i.Accounts.AuthenticateDevice(ctx, caller, email, password, deviceToken)
	if err == nil {
		cookie, bs, err = i.StartBrowserSession(ctx, caller, u)
	}
	i.Metrics.signin(err)
	if err != nil {
		return "", BrowserSession{}, User{}, "", err
	}
	return cookie, bs, u, device, nil
}

// StartBrowserSession starts a browser session for u, signed in now.
func (i *Issuer) StartBrowserSession(ctx context.Context, caller Caller, u User) (string, BrowserSession, error) {
	cookie := randomSecret(browserSessionPrefix)
	now := i.cfg.Now().UTC().Truncate(time.Millisecond)
	bs := BrowserSession{Hash: secretHash(cookie), UserID: u.ID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(i.cfg.BrowserSessionTTL)}
	if err := i.store.CreateBrowserSession(ctx, bs); err != nil {
		return "", BrowserSession{}, err
	}
	i.Audit.Record(ctx, caller, AuditEvent{Type: "signin", UserID: u.ID, Detail: map[string]string{"via": "page"}})
	return cookie, bs, nil
}

// BrowserSessionOf returns the live browser session a cookie names and
// its user; ErrNotFound when there is none.
func (i *Issuer) BrowserSessionOf(ctx context.Context, cookie string) (BrowserSession, User, error) {
	if !strings.HasPrefix(cookie, browserSessionPrefix) || len(cookie) != len(browserSessionPrefix)+43 {
		return BrowserSession{}, User{}, ErrNotFound
	}
	bs, err := i.store.BrowserSession(ctx, secretHash(cookie), i.cfg.Now())
	if err != nil {
		return BrowserSession{}, User{}, err
	}
	u, err := i.store.UserByID(ctx, bs.UserID)
	if err != nil {
		return BrowserSession{}, User{}, err
	}
	return bs, u, nil
}

// EndBrowserSession ends the browser session a cookie names (sign-out
// at the issuer). It reports whether there was one.
func (i *Issuer) EndBrowserSession(ctx context.Context, caller Caller, cookie string) (bool, error) {
	bs, _, err := i.BrowserSessionOf(ctx, cookie)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ended, err := i.store.DeleteBrowserSession(context.WithoutCancel(ctx), bs.Hash)
	if err == nil && ended {
		i.Audit.Record(ctx, caller, AuditEvent{Type: "logout", UserID: bs.UserID, Detail: map[string]string{"via": "browser_session"}})
	}
	return ended, err
}

// IDTokenHint is what an id_token_hint says, once its signature is
// checked: who was signed in, at which client.
type IDTokenHint struct {
	Subject, ClientID, SessionID string
}

// CheckIDTokenHint verifies an ID token this issuer signed (with a key it
// still publishes; an expired one is accepted, OpenID Connect
// RP-Initiated Logout §2). Anything else is KindInvalid.
func (i *Issuer) CheckIDTokenHint(raw string) (IDTokenHint, error) {
	bad := Errorf(KindInvalid, "id_token_hint is not an ID token of this issuer")
	if len(raw) > 16<<10 {
		return IDTokenHint{}, bad
	}
	claims, err := verifyJWT(raw, i.keys.JWKS().Body, "JWT")
	if err != nil {
		return IDTokenHint{}, bad
	}
	var c struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud string `json:"aud"`
		Sid string `json:"sid"`
	}
	if json.Unmarshal(claims, &c) != nil || c.Iss != i.cfg.IssuerURL || c.Sub == "" || c.Aud == "" {
		return IDTokenHint{}, bad
	}
	return IDTokenHint{Subject: c.Sub, ClientID: c.Aud, SessionID: c.Sid}, nil
}

// verifyJWT checks a compact JWS signed by a key of the JWK set, whose
// header has the given typ and the key's own alg, and returns its payload.
func verifyJWT(raw string, jwks []byte, typ string) ([]byte, error) {
	if strings.Count(raw, ".") != 2 {
		return nil, errors.New("not a compact JWS")
	}
	set, err := jwk.Parse(jwks)
	if err != nil {
		return nil, err
	}
	msg, err := jws.Parse([]byte(raw))
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, errors.New("not a single-signature JWS")
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if h.Type() != typ {
		return nil, errors.New("wrong typ")
	}
	key, ok := set.LookupKeyID(h.KeyID())
	if !ok || key.Algorithm().String() != h.Algorithm().String() {
		return nil, errors.New("unknown kid or alg")
	}
	return jws.Verify([]byte(raw), jws.WithKey(h.Algorithm(), key))
}

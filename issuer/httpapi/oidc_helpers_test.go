package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/keys"
)

// The clients of the OpenID Provider tests.
const (
	appRedirect    = "https://app.example/cb"
	appLoopback    = "http://127.0.0.1/native"
	appLogout      = "https://app.example/bye"
	webRedirect    = "https://web.example/cb"
	testPassword   = "correct horse battery"
	codeVerifierOK = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-and-more"
)

// oidcClaimNames are the claims ID tokens and UserInfo carry, read from
// real ones by TestOIDCDiscoveryMatchesBehaviour.
var oidcClaimNames = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "sid", "at_hash", "email", "email_verified"}

// withIDTokenKeys keeps an RS256 key beside the EdDSA signing key, as
// signet serve does.
func withIDTokenKeys(_ *settings, p *keys.Policy) { p.Keep = []string{keys.RS256, keys.EdDSA} }

// newOIDCEnv is an issuer with the OpenID Provider's clients: app
// (public, code and refresh), web (confidential, client_secret_basic,
// code only) and a user ann@example.com.
func newOIDCEnv(t *testing.T, db *store.DB, opts ...func(*settings, *keys.Policy)) (*env, string) {
	t.Helper()
	e := newEnv(t, db, append([]func(*settings, *keys.Policy){withIDTokenKeys}, opts...)...)
	ctx := context.Background()
	if _, _, err := e.iss.Registry.CreateClient(ctx, issuer.Caller{}, issuer.Client{
		ID: "app", Name: "The App", Type: issuer.ClientPublic,
		GrantTypes:   []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken},
		RedirectURIs: []string{appRedirect, appLoopback}, PostLogoutRedirectURIs: []string{appLogout},
	}); err != nil {
		t.Fatal(err)
	}
	_, secret, err := e.iss.Registry.CreateClient(ctx, issuer.Caller{}, issuer.Client{
		ID: "web", Type: issuer.ClientConfidential, AuthMethod: issuer.AuthClientSecretBasic,
		GrantTypes: []string{issuer.GrantAuthorizationCode}, RedirectURIs: []string{webRedirect, "http://127.0.0.1/web"},
		IDTokenSignedResponseAlg: "EdDSA",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.iss.Lifecycle.CreateUser(ctx, issuer.Caller{}, "ann@example.com", testPassword); err != nil {
		t.Fatal(err)
	}
	return e, secret
}

// browser is a user agent with a cookie jar that does not follow
// redirects.
type browser struct {
	t    testing.TB
	e    *env
	http *http.Client
}

func newBrowser(t testing.TB, e *env) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get and post return the response with its body read.
func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.http.Get(b.e.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.http.PostForm(b.e.srv.URL+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// challenge is the S256 code challenge of a verifier.
func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizePath is an authorization request of app with PKCE, changed
// by kv (an empty value deletes a parameter).
func authorizePath(kv ...string) string {
	q := url.Values{
		"client_id": {"app"}, "redirect_uri": {appRedirect}, "response_type": {"code"}, "scope": {"openid email"},
		"state": {"st-1"}, "nonce": {"n-1"}, "code_challenge": {challenge(codeVerifierOK)}, "code_challenge_method": {"S256"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	return "/oauth/authorize?" + q.Encode()
}

var hiddenRE = regexp.MustCompile(`name="(csrf_token|authz|client_id|post_logout_redirect_uri|state|token)" value="([^"]*)"`)

// formFields reads a page's hidden fields.
func formFields(t testing.TB, page string) url.Values {
	t.Helper()
	out := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		out.Set(m[1], html.UnescapeString(m[2]))
	}
	if out.Get("csrf_token") == "" {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	return out
}

// signIn submits the sign-in page and returns the response.
func (b *browser) signIn(page, email, password string) (*http.Response, string) {
	b.t.Helper()
	f := formFields(b.t, page)
	f.Set("email", email)
	f.Set("password", password)
	return b.post("/ui/signin", f)
}

// redirected checks a redirect to the client and returns its query.
func redirected(t testing.TB, resp *http.Response, body, to string) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("got %d, want a redirect to %s:\n%s", resp.StatusCode, to, body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || u.Scheme+"://"+u.Host+u.Path != to {
		t.Fatalf("redirected to %s, want %s", resp.Header.Get("Location"), to)
	}
	q := u.Query()
	if q.Get("iss") != "http://issuer.test" {
		t.Fatalf("authorization response without iss (RFC 9207): %s", u)
	}
	return q
}

// login runs an authorization request of app through the sign-in page
// (unless the browser is signed in) and returns the code.
func (b *browser) login(path string) string {
	b.t.Helper()
	resp, page := b.get(path)
	var q url.Values
	switch resp.StatusCode {
	case http.StatusFound: // signed in already
		q = redirected(b.t, resp, page, appRedirect)
	case http.StatusOK:
		resp, body := b.signIn(page, "ann@example.com", testPassword)
		q = redirected(b.t, resp, body, appRedirect)
	default:
		b.t.Fatalf("authorize: %d %s", resp.StatusCode, page)
	}
	if q.Get("code") == "" {
		b.t.Fatalf("no code: %v", q)
	}
	return q.Get("code")
}

// codeTokens is the token endpoint's answer to the code grant.
type codeTokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
}

// redeem posts a code grant with kv as the form (defaults for app).
func (e *env) redeem(code string, kv ...string) (*http.Response, []byte) {
	e.t.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect},
		"code_verifier": {codeVerifierOK}, "client_id": {"app"}}
	var header []string
	for i := 0; i+1 < len(kv); i += 2 {
		switch {
		case kv[i] == "Authorization":
			header = append(header, kv[i], kv[i+1])
		case kv[i+1] == "":
			f.Del(kv[i])
		default:
			f.Set(kv[i], kv[i+1])
		}
	}
	return e.do("POST", "/oauth/token", f.Encode(), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, header...)...)
}

func (e *env) redeemOK(code string, kv ...string) codeTokens {
	e.t.Helper()
	resp, body := e.redeem(code, kv...)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("code grant: %d %s", resp.StatusCode, body)
	}
	var tk codeTokens
	if err := json.Unmarshal(body, &tk); err != nil {
		e.t.Fatal(err)
	}
	return tk
}

// jwtParts decodes a JWT's header and claims (no verification).
func jwtParts(t testing.TB, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	var h, c map[string]any
	for i, out := range []*map[string]any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, out) != nil {
			t.Fatalf("part %d of %q", i, tok)
		}
	}
	return h, c
}

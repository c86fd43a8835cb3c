package thirdparty

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/signet-auth/signet/cmd/internal/resource"
	"github.com/signet-auth/signet/issuer/httpapi/chromiumtest"
	"github.com/signet-auth/signet/verifier"
)

// oauth2-proxy (github.com/oauth2-proxy/oauth2-proxy/v7) in front of an
// upstream that echoes what it receives, with the signet binary as its
// OpenID Provider, driven by Debian's headless Chromium.
//
// oauth2-proxy's oidc provider always sends a client secret (its options
// refuse to start without one) and authenticates with HTTP Basic first
// (golang.org/x/oauth2's auto-detected style), so its client is
// confidential with client_secret_basic, made with signet clients create.

const (
	oauth2ProxyVersion = "v7.15.6"
	userEmail          = "ann@example.com"
	userPassword       = "correct horse battery"
)

func TestOAuth2ProxySignsInWithSignet(t *testing.T) {
	chromiumtest.Require(t)
	proxyBin := requireOAuth2Proxy(t)
	// oauth2-proxy's site (localhost) is not the issuer's (127.0.0.1), as
	// a client's site and its provider's are not: the browser applies
	// SameSite to the cookies of each.
	proxyAddr := freeAddr(t)
	proxyURL := "http://localhost:" + strings.TrimPrefix(proxyAddr, "127.0.0.1:")
	iss := startIssuer(t, "echo-upstream", proxyURL+"/oauth2/callback")
	issuerURL, userID := iss.url, iss.userID

	upstream := newEchoUpstream(t)
	startProcess(t, "oauth2-proxy", proxyBin, []string{
		"--provider=oidc",
		"--oidc-issuer-url=" + issuerURL,
		"--client-id=oauth2-proxy",
		"--code-challenge-method=S256",
		"--scope=openid email profile offline_access",
		// A session older than this is refreshed with the refresh token
		// on its next request.
		"--cookie-refresh=1s",
		"--skip-provider-button",
		// oauth2-proxy skips the nonce unless told otherwise.
		"--insecure-oidc-skip-nonce=false",
		"--redirect-url=" + proxyURL + "/oauth2/callback",
		"--http-address=" + proxyAddr,
		"--upstream=" + upstream.URL + "/",
		"--email-domain=*",
		"--cookie-secure=false",
		"--pass-access-token",
		"--request-logging=false",
	}, []string{"OAUTH2_PROXY_CLIENT_SECRET=" + iss.clientSecret, "OAUTH2_PROXY_COOKIE_SECRET=" + cookieSecret(t)})
	waitOK(t, "http://"+proxyAddr+"/ping")

	ctx := chromiumtest.New(t, chromedp.WindowSize(1100, 800))
	page := proxyURL + "/private/page?x=1"
	mustRun(t, ctx, "open the protected page",
		chromedp.Navigate(page),
		chromedp.WaitVisible(`input[name="password"]`),
	)
	if loc := eval[string](t, ctx, `location.href`); !strings.HasPrefix(loc, issuerURL+"/") {
		t.Fatalf("the protected page led to %s, want Signet's sign-in page at %s", loc, issuerURL)
	}
	screenshot(t, ctx, "oauth2-proxy-signin.png")

	// A wrong password keeps the user on the page; nothing reaches the
	// upstream.
	mustRun(t, ctx, "wrong password",
		chromedp.SendKeys(`input[name="email"]`, userEmail),
		chromedp.SendKeys(`input[name="password"]`, "not the password"),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`input[name="password"]`),
	)
	if loc := eval[string](t, ctx, `location.href`); !strings.HasPrefix(loc, issuerURL+"/") {
		t.Fatalf("after a wrong password the browser is at %s", loc)
	}
	if n := upstream.count(); n != 0 {
		t.Fatalf("the upstream was reached %d times before any sign-in", n)
	}

	mustRun(t, ctx, "sign in",
		chromedp.SetValue(`input[name="email"]`, userEmail),
		chromedp.SetValue(`input[name="password"]`, userPassword),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`#echo`),
	)
	if loc := eval[string](t, ctx, `location.href`); loc != page {
		t.Fatalf("after sign-in the browser is at %s, want %s", loc, page)
	}
	got := upstream.last(t)
	if got.Path != "/private/page?x=1" {
		t.Fatalf("the upstream was asked for %q", got.Path)
	}
	if e, u := got.header("X-Forwarded-Email"), got.header("X-Forwarded-User"); e != userEmail || u != userID {
		t.Fatalf("X-Forwarded-Email = %q, X-Forwarded-User = %q, want %q and %q (headers %v)", e, u, userEmail, userID, got.Headers)
	}
	// The access token oauth2-proxy received from the code grant is a
	// Signet token for this user.
	v, err := verifier.New(context.Background(), verifier.Config{Issuer: issuerURL, Audience: "echo-upstream", AllowInsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	access := func(e echoed) *verifier.Claims {
		t.Helper()
		c, err := v.Verify(context.Background(), e.header("X-Forwarded-Access-Token"))
		if err != nil {
			t.Fatalf("the access token passed upstream does not verify: %v", err)
		}
		if c.Subject != userID || c.SessionID == "" {
			t.Fatalf("access token sub = %q, sid = %q, want the user %q and a session", c.Subject, c.SessionID, userID)
		}
		return c
	}
	first := access(got)
	screenshot(t, ctx, "oauth2-proxy-upstream.png")

	// Once its session is older than --cookie-refresh, oauth2-proxy uses
	// the refresh token (grant_type=refresh_token, no resource): the new
	// access token belongs to the same Signet session.
	time.Sleep(1500 * time.Millisecond)
	mustRun(t, ctx, "open a page after the refresh interval",
		chromedp.Navigate(proxyURL+"/refreshed"),
		chromedp.WaitVisible(`#echo`),
	)
	got = upstream.last(t)
	refreshed := access(got)
	if got.Path != "/refreshed" || refreshed.ID == first.ID || refreshed.SessionID != first.SessionID {
		t.Fatalf("after the refresh interval the upstream got %s with token %s of session %s; want a new token of session %s (a refresh, not a new sign-in)",
			got.Path, refreshed.ID, refreshed.SessionID, first.SessionID)
	}

	// Single sign-on: without oauth2-proxy's cookie the browser goes back
	// through Signet, whose session signs it in again without the form.
	mustRun(t, ctx, "forget oauth2-proxy's session",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, network.DeleteCookies, network.DeleteCookiesParams{Name: "_oauth2_proxy", URL: proxyURL})
			return err
		}),
	)
	before := upstream.count()
	mustRun(t, ctx, "open the page again",
		chromedp.Navigate(proxyURL+"/again"),
		chromedp.WaitVisible(`#echo`),
	)
	if got := upstream.last(t); got.Path != "/again" || got.header("X-Forwarded-Email") != userEmail || upstream.count() != before+1 {
		t.Fatalf("second visit: upstream saw %+v", got)
	}
}

// alphaConfig is oauth2-proxy's configuration in front of shop-api, as
// in a docker compose service: oauth2-proxy reaches the
// issuer under its issuer URL, the browser under another name, so
// discovery is skipped and the endpoints are named; the access token
// goes upstream as a bearer token. Placeholders: the listen address,
// shop-api's address, the client secret file, the issuer as the browser
// reaches it, the issuer URL.
const alphaConfig = `server:
  bindAddress: %[1]s
upstreamConfig:
  upstreams:
    - id: shop-api
      path: /
      uri: http://%[2]s/
injectRequestHeaders:
  - name: Authorization
    values:
      - claimSource:
          claim: access_token
          prefix: "Bearer "
  - name: X-Forwarded-Email
    values:
      - claimSource:
          claim: email
providers:
  - id: signet
    provider: oidc
    clientID: oauth2-proxy
    clientSecretFile: %[3]s
    code_challenge_method: S256
    scope: openid email profile offline_access
    loginURL: %[4]s/oauth/authorize
    redeemURL: %[5]s/oauth/token
    oidcConfig:
      issuerURL: %[5]s
      skipDiscovery: true
      jwksURL: %[5]s/.well-known/jwks.json
      insecureSkipNonce: false
      emailClaim: email
      audienceClaims: [aud]
`

// The docker compose layout: the browser reaches the issuer under one
// name (localhost here, 127.0.0.1:8080 there) and oauth2-proxy under
// another (127.0.0.1 here, issuer:8080 there); shop-api verifies the
// access token oauth2-proxy forwards.
func TestOAuth2ProxyInFrontOfShopAPI(t *testing.T) {
	chromiumtest.Require(t)
	proxyBin := requireOAuth2Proxy(t)
	proxyAddr := freeAddr(t)
	proxyURL := "http://" + proxyAddr
	iss := startIssuer(t, "shop-api", proxyURL+"/oauth2/callback")
	browserIssuer := strings.Replace(iss.url, "127.0.0.1", "localhost", 1)

	shopAddr := freeAddr(t)
	startProcess(t, "shop-api", build(t, "shop-api"), nil, []string{"ADDR=" + shopAddr, "ISSUER_URL=" + iss.url, "AUDIENCE=shop-api",
		"KEY_FILE=" + filepath.Join(t.TempDir(), "shop-api.key")})
	waitOK(t, "http://"+shopAddr+"/healthz")

	dir := t.TempDir()
	secretFile, configFile := filepath.Join(dir, "client-secret"), filepath.Join(dir, "oauth2-proxy.yaml")
	if err := os.WriteFile(secretFile, []byte(iss.clientSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(configFile, fmt.Appendf(nil, alphaConfig, proxyAddr, shopAddr, secretFile, browserIssuer, iss.url), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, "oauth2-proxy", proxyBin, []string{
		"--alpha-config=" + configFile,
		"--redirect-url=" + proxyURL + "/oauth2/callback",
		"--email-domain=*",
		"--cookie-secure=false",
		"--skip-provider-button",
		"--request-logging=false",
	}, []string{"OAUTH2_PROXY_COOKIE_SECRET=" + cookieSecret(t)})
	waitOK(t, proxyURL+"/ping")

	ctx := chromiumtest.New(t, chromedp.WindowSize(1100, 800))
	mustRun(t, ctx, "open shop-api through oauth2-proxy",
		chromedp.Navigate(proxyURL+"/api/me"),
		chromedp.WaitVisible(`input[name="password"]`),
	)
	if loc := eval[string](t, ctx, `location.href`); !strings.HasPrefix(loc, browserIssuer+"/oauth/authorize?") {
		t.Fatalf("shop-api through oauth2-proxy led to %s, want %s/oauth/authorize", loc, browserIssuer)
	}
	mustRun(t, ctx, "sign in",
		chromedp.SendKeys(`input[name="email"]`, userEmail),
		chromedp.SendKeys(`input[name="password"]`, userPassword),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`//pre[contains(., "shop-api")]`),
	)
	if loc := eval[string](t, ctx, `location.href`); loc != proxyURL+"/api/me" {
		t.Fatalf("after sign-in the browser is at %s", loc)
	}
	var me resource.Identity
	if err := json.Unmarshal([]byte(eval[string](t, ctx, `document.body.innerText`)), &me); err != nil {
		t.Fatal(err)
	}
	if me.Service != "shop-api" || me.Subject != iss.userID || me.Email != userEmail {
		t.Fatalf("shop-api answered %+v, want the user %s (%s)", me, iss.userID, userEmail)
	}
}

// issuer is a running signet serve with a confirmed user and the
// oauth2-proxy client.
type issuer struct {
	url, userID, clientSecret string
}

// startIssuer builds and starts signet on a loopback port, with audience
// as SIGNET_AUDIENCE, registers oauth2-proxy as a confidential client
// with client_secret_basic and the redirect URI, and signs a user up.
func startIssuer(t *testing.T, audience, redirectURI string) issuer {
	t.Helper()
	signet := buildSignet(t)
	addr := freeAddr(t)
	iss := issuer{url: "http://" + addr}
	dataDir := t.TempDir()
	env := []string{
		"SIGNET_ADDR=" + addr, "SIGNET_ISSUER_URL=" + iss.url, "SIGNET_AUDIENCE=" + audience,
		"SIGNET_DATA_DIR=" + dataDir, "SIGNET_BCRYPT_COST=4", "SIGNET_SIGNUP_MODE=open", "SIGNET_LOG_LEVEL=warn",
	}
	// The client, as an administrator registers it; the secret is shown
	// once.
	runCommand(t, signet, env, "migrate", "up")
	out := runCommand(t, signet, env, "clients", "create", "oauth2-proxy", "--name", "oauth2-proxy",
		"--auth-method", "client_secret_basic", "--grants", "authorization_code,refresh_token",
		"--redirect-uris", redirectURI)
	m := regexp.MustCompile(`client secret \(shown once, store it now\): (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("signet clients create printed no secret:\n%s", out)
	}
	iss.clientSecret = m[1]
	startProcess(t, "signet", signet, []string{"serve"}, env)
	waitOK(t, iss.url+"/readyz")
	iss.userID = signUpConfirmed(t, iss.url, dataDir)
	return iss
}

// requireOAuth2Proxy finds the oauth2-proxy binary on PATH or in
// $(go env GOPATH)/bin; without it the test is skipped, or fails under
// CI=true.
func requireOAuth2Proxy(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("oauth2-proxy"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "oauth2-proxy")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	msg := "oauth2-proxy not found on PATH or in $(go env GOPATH)/bin (go install github.com/oauth2-proxy/oauth2-proxy/v7@" + oauth2ProxyVersion + ")"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; it is required under CI=true", msg)
	}
	t.Skipf("%s; skipping (under CI=true this fails)", msg)
	return ""
}

func buildSignet(t *testing.T) string { return build(t, "signet") }

// build builds ./cmd/name of this module into a temporary directory.
func build(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command("go", "build", "-o", bin, "./cmd/"+name)
	build.Dir = filepath.Join("..", "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// runCommand runs a command to its end and returns its standard output.
func runCommand(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// startProcess starts a long-running process whose output goes to a log
// shown when the test fails; it is interrupted and waited for at the end.
func startProcess(t *testing.T, name, bin string, args, env []string) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(f.Name())
			t.Logf("%s log:\n%s", name, b)
		}
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitOK(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200", url)
}

// cookieSecret is a new 32-byte cookie secret for oauth2-proxy.
func cookieSecret(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)[:32]
}

// signUpConfirmed signs a user up through the API and confirms the
// address with the token of the message written into the data dir's
// mailbox; it returns the user's id.
func signUpConfirmed(t *testing.T, issuerURL, dataDir string) string {
	t.Helper()
	post(t, issuerURL+"/v1/signup", fmt.Sprintf(`{"email":%q,"password":%q}`, userEmail, userPassword))
	token := confirmationToken(t, filepath.Join(dataDir, "mail"))
	var verified struct {
		User struct {
			ID            string `json:"id"`
			EmailVerified bool   `json:"email_verified"`
		} `json:"user"`
	}
	if err := json.Unmarshal(post(t, issuerURL+"/v1/verify", fmt.Sprintf(`{"token":%q}`, token)), &verified); err != nil {
		t.Fatal(err)
	}
	if verified.User.ID == "" || !verified.User.EmailVerified {
		t.Fatalf("confirmation answered %+v", verified)
	}
	return verified.User.ID
}

func post(t *testing.T, url, body string) []byte {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

var confirmTokenRE = regexp.MustCompile(`token=(sgt_ev_[A-Za-z0-9_-]+)`)

// confirmationToken waits (at most 20 s) for a confirmation message in
// the mailbox directory and reads the token out of its text.
func confirmationToken(t *testing.T, dir string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, f := range files {
			if m := confirmTokenRE.FindStringSubmatch(messageText(t, f)); m != nil {
				return m[1]
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no confirmation message in %s", dir)
	return ""
}

// messageText returns the decoded text parts of an .eml file.
func messageText(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var text strings.Builder
	var walk func(h textproto, body io.Reader)
	walk = func(h textproto, body io.Reader) {
		mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
		if strings.HasPrefix(mt, "multipart/") {
			r := multipart.NewReader(body, params["boundary"])
			for {
				p, err := r.NextRawPart()
				if err != nil {
					return
				}
				walk(p.Header, p)
			}
		}
		if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(body)
		} else if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
			body = base64.NewDecoder(base64.StdEncoding, &newlineSkipper{body})
		}
		b, _ := io.ReadAll(body)
		text.Write(b)
	}
	walk(msg.Header, msg.Body)
	return text.String()
}

// textproto is what both mail and MIME part headers offer.
type textproto interface{ Get(string) string }

// newlineSkipper drops line breaks from base64 text.
type newlineSkipper struct{ r io.Reader }

func (n *newlineSkipper) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	j := 0
	for _, c := range p[:k] {
		if c != '\r' && c != '\n' {
			p[j] = c
			j++
		}
	}
	return j, err
}

// echoUpstream answers every request with a page showing its path and
// headers as JSON in <pre id="echo">, and remembers them.
type echoUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []echoed
}

type echoed struct {
	Path    string              `json:"path"`
	Headers map[string][]string `json:"headers"`
}

func (e echoed) header(name string) string {
	return http.Header(e.Headers).Get(name)
}

func newEchoUpstream(t *testing.T) *echoUpstream {
	e := &echoUpstream{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := echoed{Path: r.URL.RequestURI(), Headers: r.Header.Clone()}
		if r.URL.Path == "/favicon.ico" {
			http.NotFound(w, r)
			return
		}
		e.mu.Lock()
		e.seen = append(e.seen, got)
		e.mu.Unlock()
		b, _ := json.MarshalIndent(got, "", "  ")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>upstream</title><style>pre{white-space:pre-wrap;word-break:break-all}</style><pre id=\"echo\">%s</pre>", html.EscapeString(string(b)))
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *echoUpstream) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.seen)
}

func (e *echoUpstream) last(t *testing.T) echoed {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.seen) == 0 {
		t.Fatal("the upstream saw no request")
	}
	return e.seen[len(e.seen)-1]
}

// mustRun runs browser steps with a deadline.
func mustRun(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		loc, _ := tryEval[string](ctx, `location.href + "\n" + document.body.innerText`)
		t.Fatalf("%s: %v\nthe browser shows: %s", step, err, loc)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := tryEval[T](ctx, expr)
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func tryEval[T any](ctx context.Context, expr string) (T, error) {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(c, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// screenshot saves a PNG into artifacts/browser at the repository root.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join("..", "..", "..", "artifacts", "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

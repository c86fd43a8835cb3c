package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/signet-auth/signet/issuer/httpapi/chromiumtest"
	"github.com/signet-auth/signet/issuer/mailer/mailpittest"
)

// The browser test runs the real binaries (issuer with the demo registry,
// both resource servers) and this demo page on four loopback origins, and
// drives Debian's headless Chromium through the DevTools protocol.

type stack struct {
	page, issuer, shop, video string // origins, as the browser sees them
	otherPage                 string // the page on an origin not in SIGNET_CORS_ORIGINS
	mail                      *mailpittest.Mailpit
}

func TestBrowserFlow(t *testing.T) {
	chromiumtest.Require(t)
	s := startStack(t)
	ctx := chromiumtest.New(t, chromedp.WindowSize(1100, 800))

	// Sign up through the page (private mode: the answer says nothing of
	// the address); signing in waits for the confirmation.
	mustRun(t, ctx, "sign up",
		chromedp.Navigate(s.page+"/"),
		chromedp.WaitVisible(`body[data-ready="true"]`),
		chromedp.WaitVisible(`#signed-out`),
		chromedp.SendKeys(`#email`, "ann@example.com"),
		chromedp.SendKeys(`#password`, "correct horse battery"),
		chromedp.Click(`#signup`),
		chromedp.WaitVisible(`//p[@id="status" and contains(., "Check your mail")]`),
		chromedp.Click(`#signin`),
		chromedp.WaitVisible(`//p[@id="status" and contains(., "confirm your email address first")]`),
		chromedp.WaitVisible(`#resend`),
	)

	// The confirmation message arrives in Mailpit; its link opens the
	// page's landing, which confirms the address.
	msg := s.mail.Wait("ann@example.com", "Confirm your email address", 20*time.Second, nil)
	link, ok := msg.Link(s.page + "/verify-email#token=")
	if !ok {
		t.Fatalf("no confirmation link to the page in:\n%s", msg.Text)
	}
	mustRun(t, ctx, "follow the confirmation link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(`body[data-ready="true"]`),
		chromedp.WaitVisible(`//p[@id="status" and contains(., "is confirmed")]`),
	)
	if loc := eval[string](t, ctx, `location.href`); strings.Contains(loc, "token") {
		t.Fatalf("the token stayed in the address bar: %s", loc)
	}
	mustRun(t, ctx, "sign in",
		chromedp.SetValue(`#password`, "correct horse battery"),
		chromedp.Click(`#signin`),
		chromedp.WaitVisible(`#signed-in`),
	)

	// Each resource server accepts the access token for its resource;
	// shop-api calls video-api for the user through token exchange.
	mustRun(t, ctx, "call both APIs",
		chromedp.Click(`#call-shop`),
		chromedp.WaitVisible(`//pre[@id="shop-result" and contains(., "ann@example.com")]`),
		chromedp.Click(`#call-video`),
		chromedp.WaitVisible(`//pre[@id="video-result" and contains(., "ann@example.com")]`),
		chromedp.Click(`#call-overview`),
		chromedp.WaitVisible(`//pre[@id="overview-result" and contains(., "acting_party")]`),
	)
	shop := eval[string](t, ctx, `document.getElementById("shop-result").textContent`)
	video := eval[string](t, ctx, `document.getElementById("video-result").textContent`)
	overview := eval[string](t, ctx, `document.getElementById("overview-result").textContent`)
	if !strings.HasPrefix(shop, "200 ") || !strings.Contains(shop, `"service": "shop-api"`) ||
		!strings.HasPrefix(video, "200 ") || !strings.Contains(video, `"service": "video-api"`) ||
		!strings.HasPrefix(overview, "200 ") || !strings.Contains(overview, `"acting_party": "shop-api"`) {
		t.Fatalf("API results:\n%s\n%s\n%s", shop, video, overview)
	}
	screenshot(t, ctx, "signed-in.png")

	// The refresh token is an HttpOnly cookie: no script can read it.
	if cookies := eval[string](t, ctx, `document.cookie`); cookies != "" {
		t.Fatalf("document.cookie = %q, want nothing readable", cookies)
	}

	// The page refreshes shortly before the access token expires (the
	// issuer runs with a 6 s lifetime): the token changes by itself.
	before := eval[string](t, ctx, `signet.tokenID()`)
	deadline := time.Now().Add(15 * time.Second)
	after := before
	for after == before && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		after = eval[string](t, ctx, `signet.tokenID()`)
	}
	if after == before {
		t.Fatal("the page did not refresh its access token before expiry")
	}

	// A second tab of the same session resumes from the cookie; then both
	// tabs refresh at the same moment and both stay signed in.
	tab2 := newTab(t, ctx)
	mustRun(t, tab2, "second tab",
		chromedp.Navigate(s.page+"/"),
		chromedp.WaitVisible(`body[data-ready="true"]`),
		chromedp.WaitVisible(`#signed-in`),
	)
	var wg sync.WaitGroup
	results := make([]string, 2)
	for i, tab := range []context.Context{ctx, tab2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := tryEval[string](tab, `signet.refresh().then(() => "ok", e => "failed: " + e.message)`)
			if err != nil {
				r = err.Error()
			}
			results[i] = r
		}()
	}
	wg.Wait()
	if results[0] != "ok" || results[1] != "ok" {
		t.Fatalf("concurrent refresh in two tabs: %v", results)
	}
	for i, tab := range []context.Context{ctx, tab2} {
		if status := eval[int](t, tab, `signet.callAPI("shop").then(r => r.status)`); status != 200 {
			t.Fatalf("tab %d: shop API answered %v after the concurrent refresh", i+1, status)
		}
	}

	// A page on an origin that is not listed cannot read the issuer's
	// responses.
	otherTab := newTab(t, ctx)
	mustRun(t, otherTab, "unlisted origin",
		chromedp.Navigate(s.otherPage+"/"),
		chromedp.WaitVisible(`body[data-ready="true"]`),
	)
	outcome := eval[string](t, otherTab, fmt.Sprintf(`fetch(%q + "/v1/signin", {method: "POST", credentials: "include",
		headers: {"Content-Type": "application/json"},
		body: JSON.stringify({email: "ann@example.com", password: "correct horse battery"})})
		.then(r => r.text()).then(() => "read", () => "blocked")`, s.issuer))
	if outcome != "blocked" {
		t.Fatalf("a page on an unlisted origin could read the issuer's response (%s)", outcome)
	}
	// The page on the unlisted origin says why sign-in cannot work, naming
	// its origin and the setting, instead of "Failed to fetch".
	mustRun(t, otherTab, "unlisted origin: the page explains",
		chromedp.SendKeys(`#email`, "ann@example.com"),
		chromedp.SendKeys(`#password`, "correct horse battery"),
		chromedp.Click(`#signin`),
		chromedp.WaitVisible(`//p[@id="status" and contains(., "SIGNET_CORS_ORIGINS=`+s.otherPage+`")]`),
	)
	status := eval[string](t, otherTab, `document.getElementById("status").textContent`)
	if !strings.Contains(status, "refused this page's origin "+s.otherPage) || strings.Contains(status, "Failed to fetch") {
		t.Fatalf("status on the unlisted origin: %q", status)
	}
	screenshot(t, otherTab, "unlisted-origin.png")

	// Sign out: the session ends, and the cookie no longer refreshes.
	mustRun(t, ctx, "sign out",
		chromedp.Click(`#signout`),
		chromedp.WaitVisible(`#signed-out`),
	)
	afterSignout := eval[string](t, tab2, `signet.refresh().then(() => "refreshed", e => "refused " + e.status)`)
	if !strings.HasPrefix(afterSignout, "refused 4") {
		t.Fatalf("refresh after sign-out: %s", afterSignout)
	}

	// Forgot the password: ask for a link on the page.
	mustRun(t, ctx, "forgot password",
		chromedp.Navigate(s.page+"/"),
		chromedp.WaitVisible(`body[data-ready="true"]`),
		chromedp.Click(`#forgot-open`),
		chromedp.WaitVisible(`#forgot`),
		chromedp.SetValue(`#forgot-email`, "ann@example.com"),
		chromedp.Click(`#forgot-send`),
		chromedp.WaitVisible(`//p[@id="status" and contains(., "a link to choose a new password is on its way")]`),
	)
	// Meanwhile a third tab signs in: a session the reset must end (the
	// tabs share the refresh cookie, so this comes after the request).
	tab3 := newTab(t, ctx)
	mustRun(t, tab3, "a session to be ended",
		chromedp.Navigate(s.page+"/"),
		chromedp.WaitVisible(`body[data-ready="true"]`),
		chromedp.SendKeys(`#email`, "ann@example.com"),
		chromedp.SendKeys(`#password`, "correct horse battery"),
		chromedp.Click(`#signin`),
		chromedp.WaitVisible(`#signed-in`),
	)
	msg = s.mail.Wait("ann@example.com", "Reset your password", 20*time.Second, nil)
	link, ok = msg.Link(s.page + "/reset-password#token=")
	if !ok {
		t.Fatalf("no reset link to the page in:\n%s", msg.Text)
	}
	mustRun(t, ctx, "reset page",
		chromedp.Navigate(link),
		chromedp.WaitVisible(`body[data-ready="true"]`),
		chromedp.WaitVisible(`#reset`),
		chromedp.SendKeys(`#reset-password`, "password1"),
		chromedp.Click(`#reset-send`),
		chromedp.WaitVisible(`//p[@id="status" and contains(., "too common")]`),
		chromedp.SetValue(`#reset-password`, "staple battery horse"),
		chromedp.Click(`#reset-send`),
		chromedp.WaitVisible(`//p[@id="status" and contains(., "Your password is changed")]`),
		chromedp.WaitVisible(`#signed-out`),
	)
	screenshot(t, ctx, "password-reset.png")
	if r := eval[string](t, tab3, `signet.refresh().then(() => "refreshed", e => "refused " + e.status)`); !strings.HasPrefix(r, "refused 4") {
		t.Fatalf("a session outlived the reset: %s", r)
	}
	mustRun(t, ctx, "sign in with the new password",
		chromedp.SetValue(`#email`, "ann@example.com"),
		chromedp.SetValue(`#password`, "staple battery horse"),
		chromedp.Click(`#signin`),
		chromedp.WaitVisible(`#signed-in`),
	)
	s.mail.Wait("ann@example.com", "Your password was changed", 20*time.Second, nil)
}

// mustRun runs browser steps with a deadline.
func mustRun(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// eval evaluates a JavaScript expression, waiting for it if it is a promise.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := tryEval[T](ctx, expr)
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func tryEval[T any](ctx context.Context, expr string) (T, error) {
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
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
	dir := filepath.Join("..", "..", "artifacts", "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", filepath.Join(dir, name))
}

// newTab opens another tab of the same browser (it shares the cookies).
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// startStack builds and starts the issuer and both resource servers as
// processes, and the demo page in-process, each on its own loopback port.
func startStack(t *testing.T) stack {
	t.Helper()
	bin := t.TempDir()
	for _, cmd := range []string{"signet", "shop-api", "video-api"} {
		build := exec.Command("go", "build", "-o", filepath.Join(bin, cmd), "./cmd/"+cmd)
		build.Dir = filepath.Join("..", "..")
		out, err := build.CombinedOutput()
		if err != nil {
			t.Fatalf("build %s: %v\n%s", cmd, err, out)
		}
	}
	port := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	}
	pagePort, issuerPort, shopPort, videoPort := port(), port(), port(), port()
	mp := mailpittest.Start(t)
	s := stack{
		mail:      mp,
		page:      "http://localhost:" + pagePort,
		otherPage: "http://127.0.0.1:" + pagePort,
		issuer:    "http://localhost:" + issuerPort,
		shop:      "http://localhost:" + shopPort,
		video:     "http://localhost:" + videoPort,
	}
	logs := filepath.Join(t.TempDir())
	start := func(name string, args []string, env ...string) {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env = append(os.Environ(), env...)
		f, _ := os.Create(filepath.Join(logs, name+".log"))
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
			f.Close()
			if t.Failed() {
				b, _ := os.ReadFile(f.Name())
				t.Logf("%s log:\n%s", name, b)
			}
		})
	}
	// The demo registry, with shop-api's jwks_uri on this test's port.
	reg, err := os.ReadFile(filepath.Join("..", "..", "deploy", "registry.json"))
	if err != nil {
		t.Fatal(err)
	}
	registry := filepath.Join(t.TempDir(), "registry.json")
	reg = []byte(strings.Replace(string(reg), "http://127.0.0.1:8081/", "http://127.0.0.1:"+shopPort+"/", 1))
	if err := os.WriteFile(registry, reg, 0o600); err != nil {
		t.Fatal(err)
	}
	start("signet", []string{"serve"}, "SIGNET_ADDR=127.0.0.1:"+issuerPort, "SIGNET_ISSUER_URL="+s.issuer,
		"SIGNET_REGISTRY_FILE="+registry, "SIGNET_DATA_DIR="+t.TempDir(), "SIGNET_BCRYPT_COST=4",
		"SIGNET_ACCESS_TOKEN_TTL=6s", "SIGNET_CORS_ORIGINS="+s.page, "SIGNET_LOG_LEVEL=debug",
		// The defaults of a new install (private sign-up, confirmation
		// required), with mail to Mailpit and links to the page.
		"SIGNET_SMTP_URL="+mp.SMTPURL(), "SIGNET_MAIL_FROM=Signet demo <signet@localhost>", "SIGNET_SITE_URL="+s.page)
	start("shop-api", nil, "ADDR=127.0.0.1:"+shopPort, "ISSUER_URL="+s.issuer, "ALLOWED_ORIGINS="+s.page,
		"KEY_FILE="+filepath.Join(t.TempDir(), "shop-api.key"), "VIDEO_URL=http://127.0.0.1:"+videoPort)
	start("video-api", nil, "ADDR=127.0.0.1:"+videoPort, "ISSUER_URL="+s.issuer, "ALLOWED_ORIGINS="+s.page)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:" + pagePort, "--issuer", s.issuer, "--shop", s.shop, "--video", s.video},
			func(string) string { return "" }, os.Stderr, ready)
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo page: %v", err)
	}
	for _, u := range []string{s.issuer + "/readyz", s.shop + "/healthz", s.video + "/healthz"} {
		waitOK(t, strings.Replace(u, "localhost", "127.0.0.1", 1))
	}
	return s
}

func waitOK(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
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

// Package chromiumtest starts headless Chromium for the browser tests of
// the issuer's pages, the demo page and the third-party client test.
//
// Chromium is expected at Path (apt-get install chromium; .ci/run installs
// it). Without it a test is skipped with a message, except under CI=true,
// where it fails: CI never skips silently.
package chromiumtest

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// Path is where the tests run Chromium from.
const Path = "/usr/bin/chromium"

// Require skips t when Chromium is missing, or fails it under CI=true.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium is required under CI=true: %v", err)
		}
		t.Skipf("no Chromium at %s (apt-get install chromium); under CI=true this fails", Path)
	}
}

// New starts a headless Chromium with a profile of its own, stopped when
// t ends, and returns its context; opts are added to the defaults (a
// window size, for screenshots).
func New(t testing.TB, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	all := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(all, opts...)...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; it takes no deadline, since the
	// browser lives as long as that call's context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

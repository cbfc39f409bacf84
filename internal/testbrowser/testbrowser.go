// Package testbrowser starts a headless Chromium for tests, driven with
// chromedp.
package testbrowser

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Find returns the path of a Chromium or Chrome binary, or "".
func Find() string {
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Start starts a headless Chromium with a profile of its own, stopped when
// the test ends. Without a browser the test is skipped on a developer's
// machine, and fails where one is required (COOPNET_REQUIRE_BROWSER=1,
// which .ci/run sets, or CI): CI must never pass because a browser test
// quietly did not run.
func Start(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	path := Find()
	if path == "" {
		if os.Getenv("COOPNET_REQUIRE_BROWSER") == "1" || os.Getenv("CI") != "" {
			t.Fatal("Chromium not found, and the browser test is required here (install Debian's chromium package)")
		}
		t.Skip("Chromium not found: browser test skipped (install Debian's chromium package to run it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	return bctx
}

// Do runs browser actions, naming the step when one fails.
func Do(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// Value runs one browser action that reads something from the page.
func Value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("read %s: %v", what, err)
	}
	return v
}

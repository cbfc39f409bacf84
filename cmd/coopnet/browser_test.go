package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/coopnet/coopnet/internal/testbrowser"
)

// TestBrowserSetupEditProfileAndSeeItPublic walks the first use of a node in a
// real browser: the setup page, the profile form, logging out, and the public
// profile page as a visitor sees it.
func TestBrowserSetupEditProfileAndSeeItPublic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := testbrowser.Start(t, ctx)
	n := startServe(t, nil, "--data-dir", t.TempDir())

	// The first visit goes to the setup page.
	testbrowser.Do(t, b, "setup",
		chromedp.Navigate(n.url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#f-coop_name`)),
	)
	location := testbrowser.Value(t, b, "location", chromedp.Location())
	if !strings.HasSuffix(location, "/setup") {
		t.Fatalf("the first visit went to %s, want /setup", location)
	}
	testbrowser.Do(t, b, "fill in the setup form",
		chromedp.SendKeys(chromedp.CSS(`#f-coop_name`), "Alpha Tech Coop"),
		chromedp.SendKeys(chromedp.CSS(`#f-slug`), "alpha"),
		chromedp.SendKeys(chromedp.CSS(`#f-admin_name`), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), "ada@alpha.example"),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), testPassword),
		chromedp.SendKeys(chromedp.CSS(`#f-password_confirm`), testPassword),
		chromedp.Click(chromedp.CSS(`form[action="/setup"] button[type="submit"]`)),
		// Setting up logs the admin in and opens the profile form.
		chromedp.WaitVisible(chromedp.CSS(`form[action="/manage/profile"] #f-summary`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"] button`)),
	)
	location = testbrowser.Value(t, b, "location", chromedp.Location())
	if !strings.Contains(location, "/manage/profile") {
		t.Fatalf("after setup the browser is at %s, want /manage/profile", location)
	}

	const summary = "We build **accessible** websites for nonprofits."
	testbrowser.Do(t, b, "edit the profile",
		chromedp.SendKeys(chromedp.CSS(`#f-summary`), summary),
		chromedp.SendKeys(chromedp.CSS(`#f-city`), "Lisbon"),
		chromedp.SendKeys(chromedp.CSS(`#f-country`), "pt"),
		chromedp.SendKeys(chromedp.CSS(`#f-skills`), "Drupal, CiviCRM, accessibility"),
		chromedp.Click(chromedp.CSS(`form[action="/manage/profile"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	location = testbrowser.Value(t, b, "location", chromedp.Location())
	if !strings.Contains(location, "done=saved") {
		t.Fatalf("after saving the browser is at %s, want the saved notice", location)
	}

	testbrowser.Do(t, b, "log out",
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/login"]`)),
	)

	testbrowser.Do(t, b, "public profile",
		chromedp.Navigate(n.url+"/coops/alpha"),
		chromedp.WaitVisible(chromedp.CSS(`main h1`)),
	)
	page := testbrowser.Value(t, b, "page text", chromedp.Text(chromedp.CSS(`main`)))
	editLinks := testbrowser.Value(t, b, "member controls",
		chromedp.Evaluate[int](`document.querySelectorAll('a[href="/manage/profile"], form[action="/logout"]').length`))
	for _, want := range []string{"Alpha Tech Coop", "We build accessible websites for nonprofits.", "Lisbon", "Portugal", "Drupal", "CiviCRM", "accessibility"} {
		if !strings.Contains(page, want) {
			t.Errorf("the public page does not show %q; it reads:\n%s", want, page)
		}
	}
	if editLinks != 0 {
		t.Errorf("a visitor sees %d member controls on the public page", editLinks)
	}
}

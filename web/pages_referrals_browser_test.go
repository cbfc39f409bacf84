package web_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/coopnet/coopnet/internal/testbrowser"
	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/node"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/referrals"
)

// The work request's whole path in a real browser: a nonprofit sends a
// request from a coop's page, follows its status link, and sees the
// member's decline there.

const browserPassword = "correct horse battery"

// syncBuffer is a log that the server's goroutines write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startNode serves a node, set up with the coop alpha, on 127.0.0.1,
// logging to log.
func startNode(t *testing.T, log *syncBuffer) (*node.Node, directory.Coop, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("http://" + ln.Addr().String())
	n, err := node.New(testdb.SQLite(t), node.Config{BaseURL: base, AllowPrivateAddresses: true,
		BcryptCost: bcrypt.MinCost, Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	coop, _, err := n.Store.Setup(context.Background(), directory.SetupInput{CoopName: "Alpha Tech Coop", Slug: "alpha",
		AdminName: "Ada", AdminEmail: "ada@alpha.example", Password: browserPassword}, base.String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return n, coop, base.String()
}

func TestBrowserWorkRequest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := testbrowser.Start(t, ctx)
	var log syncBuffer
	n, coop, base := startNode(t, &log)

	const description = "We need a volunteer database for our park clean-ups."
	testbrowser.Do(t, b, "open the coop's page at its request form",
		chromedp.Navigate(base+"/coops/alpha#request-work"),
		chromedp.WaitVisible(chromedp.CSS(`#request-work #f-description`)),
	)
	testbrowser.Do(t, b, "fill in the request and send it",
		chromedp.SendKeys(chromedp.CSS(`#f-description`), description),
		chromedp.Click(chromedp.CSS(`#f-categories-data-crm`)),
		chromedp.SendKeys(chromedp.CSS(`#f-skills`), "CiviCRM"),
		chromedp.SendKeys(chromedp.CSS(`#f-organization`), "Friends of the Park"),
		chromedp.SendKeys(chromedp.CSS(`#f-contact_name`), "Pat Doe"),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), "pat@park.example"),
		chromedp.Click(chromedp.CSS(`#f-consent_to_share`)),
		chromedp.Click(chromedp.CSS(`#request-work form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#status-page`)),
	)
	heading := testbrowser.Value(t, b, "heading", chromedp.Text(chromedp.CSS(`main h1`)))
	link := testbrowser.Value(t, b, "status link", chromedp.Value(chromedp.CSS(`#status-link`)))
	if heading != "Your request is sent" || !strings.HasPrefix(link, base+"/requests/") {
		t.Fatalf("after sending: heading %q, link %q", heading, link)
	}
	if page := testbrowser.Value(t, b, "page", chromedp.Text(chromedp.CSS(`main`))); !strings.Contains(page, "will not be shown again") {
		t.Errorf("the confirmation does not say the link is shown once:\n%s", page)
	}

	testbrowser.Do(t, b, "follow the status link",
		chromedp.Click(chromedp.CSS(`#status-page`)),
		chromedp.WaitVisible(chromedp.CSS(`#state`)),
	)
	if loc := testbrowser.Value(t, b, "location", chromedp.Location()); loc != link {
		t.Errorf("the status page is at %s, want %s", loc, link)
	}
	state := testbrowser.Value(t, b, "state", chromedp.Text(chromedp.CSS(`#state`)))
	steps := testbrowser.Value(t, b, "steps", chromedp.Text(chromedp.CSS(`ol.trail`)))
	if !strings.HasPrefix(state, "Received") || !strings.Contains(steps, "Request received") {
		t.Errorf("status page: state %q, steps %q", state, steps)
	}

	// A member declines it through the web.
	list, err := n.Referrals.ListRequests(ctx, coop.ID, referrals.Filter{})
	if err != nil || len(list) != 1 || list[0].Description != description {
		t.Fatalf("stored requests %+v, %v", list, err)
	}
	const reason = "We are fully booked until spring."
	testbrowser.Do(t, b, "log in",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#f-email`)),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), "ada@alpha.example"),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), browserPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"] button`)),
	)
	testbrowser.Do(t, b, "decline the request",
		chromedp.Navigate(fmt.Sprintf("%s/manage/referrals/%d", base, list[0].ID)),
		chromedp.WaitVisible(chromedp.CSS(`#f-decline_reason`)),
		chromedp.SendKeys(chromedp.CSS(`#f-decline_reason`), reason),
		chromedp.Click(chromedp.CSS(`form[action$="/decline"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)

	testbrowser.Do(t, b, "the status page again",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`#state`)),
	)
	state = testbrowser.Value(t, b, "state", chromedp.Text(chromedp.CSS(`#state`)))
	steps = testbrowser.Value(t, b, "steps", chromedp.Text(chromedp.CSS(`ol.trail`)))
	withdraw := testbrowser.Value(t, b, "withdraw buttons", chromedp.Evaluate[int](`document.querySelectorAll('form[action$="/withdraw"]').length`))
	if state != "Declined." || !strings.Contains(steps, "Declined: "+reason) || withdraw != 0 {
		t.Errorf("after the decline: state %q, steps %q, %d withdraw forms", state, steps, withdraw)
	}
	// The status link's secret stays out of the log.
	secret := strings.TrimPrefix(link, base+"/requests/")
	if logged := log.String(); strings.Contains(logged, secret) || !strings.Contains(logged, "/requests/[redacted]") {
		t.Errorf("the log shows the status link's secret, or no status page at all:\n%s", logged)
	}
}

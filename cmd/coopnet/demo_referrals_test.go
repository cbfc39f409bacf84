package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/mail/mailtest"
)

// `coopnet demo` refers a sample work request from alpha to beta: the
// client's status link it prints opens at alpha, and beta's node receives
// the referral over federation.
func TestDemoRefersASampleRequest(t *testing.T) {
	ports := freePorts(t, 3)
	var list []string
	for _, p := range ports {
		list = append(list, fmt.Sprint(p))
	}
	root := t.TempDir()
	mails := mailtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- runWith(ctx, []string{"demo", "--ports", strings.Join(list, ","), "--data-dir", root, "--smtp-url", mails.URL()},
			&app{stdout: out, stderr: &syncBuffer{}, getenv: env{}.get})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("demo exited with %d", code)
		}
	}()
	waitFor(t, "the demo prints its nodes", func() bool { return strings.Contains(out.String(), "press Ctrl-C") })
	link := regexp.MustCompile(`its client follows it at (http://127\.0\.0\.1:\d+/requests/[A-Za-z0-9_-]+)`).FindStringSubmatch(out.String())
	if link == nil || !strings.HasPrefix(link[1], fmt.Sprintf("http://127.0.0.1:%d/", ports[0])) {
		t.Fatalf("the demo prints no status link at alpha:\n%s", out.String())
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(link[1])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Sent to Beta Data Collective") {
		t.Fatalf("status page: %d\n%s", resp.StatusCode, page)
	}

	beta, err := db.Open(ctx, "", filepath.Join(root, "beta"))
	if err != nil {
		t.Fatal(err)
	}
	defer beta.Close()
	waitFor(t, "beta's node receives the referral", func() bool {
		var n int
		err := beta.QueryRow(ctx, `SELECT COUNT(*) FROM work_requests WHERE hop = 1 AND state = 'new'`).Scan(&n)
		return err == nil && n == 1
	})

	// With --smtp-url, the nodes send their notifications: among them,
	// beta's members hear of the referral (alpha's and the client's come
	// first, in some order).
	for range 4 {
		m := mails.Next(t)
		if strings.Join(m.To, ",") == "admin@beta.example" {
			if !strings.Contains(string(m.Data), "referred a work request to Beta Data Collective") ||
				m.From != "coopnet@demo.example" {
				t.Fatalf("beta's members' e-mail from %s:\n%s", m.From, m.Data)
			}
			return
		}
	}
	t.Fatal("beta's members got no e-mail about the referral")
}

package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// A short run of the referral benchmark on each database: every referral
// makes the round trip and the report has its lines.
func TestReferralsRun(t *testing.T) {
	dbs := []struct{ name, url string }{{"sqlite", ""}}
	if u := os.Getenv("COOPNET_TEST_DATABASE_URL"); u != "" {
		dbs = append(dbs, struct{ name, url string }{"postgres", u})
	}
	for _, d := range dbs {
		t.Run(d.name, func(t *testing.T) {
			args := []string{"referrals", "--referrals", "6", "--concurrency", "3", "--warmup", "1", "--timeout", "30s"}
			if d.url != "" {
				args = append(args, "--database-url", d.url)
			}
			var out, errOut bytes.Buffer
			if code := run(t.Context(), args, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, errOut.String(), out.String())
			}
			// Each referral's three jobs (A's offer and its delivery, B's
			// delivery of the Accept) run at commit: none waits for River
			// (which would keep a completed row for an hour).
			for _, want := range []string{"6 referrals, 3 in flight", "round trip (A's Refer",
				"of the 18 jobs", "A: 0 left to River", "B: 0 left to River",
				"queued per referral: 0.0 ms"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("no %q in the report:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestReferralsFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--referrals", "0"},
		{"--concurrency", "0"},
		{"--warmup", "0"},
		{"--per-host", "-1"},
		{"--database-url", "mysql://x"},
		{"extra"},
	} {
		var out, errOut bytes.Buffer
		if code := run(t.Context(), append([]string{"referrals"}, args...), &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut.String())
		}
	}
}

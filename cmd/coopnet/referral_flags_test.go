package main

import (
	"strings"
	"testing"
)

// TestReferralFlags checks the work request settings of serve: bad values
// stop the start with the flag to fix, good ones are logged at start.
func TestReferralFlags(t *testing.T) {
	bad := []struct {
		name string
		args []string
		env  env
		want string
	}{
		{"retention zero", []string{"--retention-days", "0"}, nil, "invalid --retention-days"},
		{"retention not a number", nil, env{"COOPNET_RETENTION_DAYS": "90d"}, "invalid COOPNET_RETENTION_DAYS"},
		{"retention too long", []string{"--retention-days", "99999999999"}, nil, "from 1 to 3650"},
		{"hop limit zero", []string{"--hop-limit", "0"}, nil, "invalid --hop-limit"},
		{"hop limit too high", []string{"--hop-limit", "11"}, nil, "from 1 to 10"},
		{"requests per hour", []string{"--work-requests-per-hour", "-3"}, nil, "invalid --work-requests-per-hour"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, tt.env, append([]string{"serve", "--data-dir", t.TempDir()}, tt.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, exitUsage, tt.want)
			}
		})
	}

	n := startServe(t, env{"COOPNET_HOP_LIMIT": "5"}, "--data-dir", t.TempDir(), "--retention-days", "30")
	log := n.stderr.String()
	for _, want := range []string{`"retention_days":30`, `"hop_limit":5`, `"work_requests_per_hour":12`} {
		if !strings.Contains(log, want) {
			t.Errorf("serve does not log %s:\n%s", want, log)
		}
	}
	if code := n.stop(t); code != 0 {
		t.Fatalf("serve exit code %d", code)
	}
}

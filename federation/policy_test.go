package federation

import (
	"context"
	"errors"
	"testing"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"Coops.Example":                    "coops.example",
		"coops.example.":                   "coops.example",
		"https://coops.example/coops/a":    "coops.example",
		"alpha@coops.example":              "coops.example",
		"@alpha@coops.example:8443":        "coops.example:8443",
		"127.0.0.1:8082":                   "127.0.0.1:8082",
		"http://[::1]:8080/x":              "[::1]:8080",
		"  spaced.example  ":               "spaced.example",
		"https://user:pw@coops.example/x/": "",
		"":                                 "",
		"two words":                        "",
	} {
		got, err := NormalizeHost(in)
		if want == "" {
			if !errors.Is(err, ErrBadHost) {
				t.Errorf("NormalizeHost(%q) = %q, %v; want ErrBadHost", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n := newInNode(t, d)
		f := n.f
		check := func(step string, want map[string]bool) {
			t.Helper()
			for host, ok := range want {
				got, err := f.HostAllowed(ctx, host)
				if err != nil || got != ok {
					t.Errorf("%s: HostAllowed(%s) = %v, %v; want %v", step, host, got, err, ok)
				}
			}
		}
		check("open", map[string]bool{"any.example": true, "127.0.0.1:9": true, "": false})

		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(f.BlockHost(ctx, "Evil.Example", "spam"))
		must(f.BlockHost(ctx, "127.0.0.1:9", ""))
		check("blocks", map[string]bool{
			"evil.example": false, "sub.evil.example": false, "evil.example:8443": false,
			"notevil.example": true, "evil.example.org": true,
			"127.0.0.1:9": false, "127.0.0.1:10": true,
		})

		must(f.SetFederationMode(ctx, ModeAllowlist))
		must(f.AllowHost(ctx, "coops.example", "partners"))
		must(f.AllowHost(ctx, "evil.example", "mistake"))
		check("allowlist", map[string]bool{
			"coops.example": true, "node.coops.example": true, "coops.example:8443": true,
			"other.example": false, "evil.example": true, // AllowHost replaced the block: one rule per host
			"sub.evil.example": true,
		})
		must(f.BlockHost(ctx, "sub.evil.example", ""))
		check("block wins", map[string]bool{"sub.evil.example": false, "deep.sub.evil.example": false, "evil.example": true})

		p, err := f.Policy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p.Mode != ModeAllowlist || len(p.Rules) != 4 || p.Rules[0].Host != "127.0.0.1:9" || p.Rules[1].Reason != "partners" {
			t.Errorf("policy %+v", p)
		}
		must(f.DisallowHost(ctx, "coops.example"))
		must(f.UnblockHost(ctx, "sub.evil.example"))
		must(f.UnblockHost(ctx, "coops.example")) // nothing to unblock: no error
		check("removed", map[string]bool{"coops.example": false, "sub.evil.example": true})
		must(f.SetFederationMode(ctx, ModeOpen))
		check("open again", map[string]bool{"coops.example": true, "127.0.0.1:9": false})
		if err := f.SetFederationMode(ctx, "closed"); err == nil {
			t.Error("unknown mode accepted")
		}
		if err := f.BlockHost(ctx, "not a host", ""); !errors.Is(err, ErrBadHost) {
			t.Errorf("bad host: %v", err)
		}
	})
}

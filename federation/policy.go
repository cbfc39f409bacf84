package federation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
)

// Federation policy: the node is open (default: any host may federate) or in
// allowlist mode (only allowed hosts); in both modes blocked hosts are
// refused. A rule for a domain covers its subdomains and every port, as
// Mastodon's domain blocks do, and a block always wins over an allow. The
// delivery queue reads the same table (blockedHosts in queue.go) with the
// same matching, so a blocked host is neither heard nor sent to.

// FederationModeSetting is the node setting that holds the federation mode.
const FederationModeSetting = "federation_mode"

// Federation modes.
const (
	ModeOpen      = "open"
	ModeAllowlist = "allowlist"
)

// Policy actions stored in federation_policy.
const (
	PolicyAllow = "allow"
	PolicyBlock = "block"
)

// ErrBadHost is returned for a host an admin typed that is not a host name.
var ErrBadHost = errors.New("federation: not a host name")

// ErrHostRefused is returned when the policy refuses a host.
var ErrHostRefused = errors.New("federation: the node's federation policy refuses this host")

// PolicyRule is one line of the federation policy.
type PolicyRule struct {
	Host      string
	Action    string // PolicyAllow or PolicyBlock
	Reason    string
	CreatedAt time.Time
}

// Policy is the node's federation policy, for the admin page and the CLI.
type Policy struct {
	Mode  string // ModeOpen or ModeAllowlist
	Rules []PolicyRule
}

// NormalizeHost turns what an admin typed (a host, host:port, a URL or a
// handle's host) into the host as policy rules store it: lower case, no
// scheme, path or trailing dot.
func NormalizeHost(s string) (string, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if i := strings.LastIndexByte(s, '@'); i >= 0 && !strings.Contains(s, "://") {
		s = s[i+1:]
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || strings.ContainsAny(u.Host, " /\\") {
		return "", fmt.Errorf("%w: %q", ErrBadHost, s)
	}
	host := strings.TrimSuffix(u.Host, ".")
	if len(host) > 253 {
		return "", fmt.Errorf("%w: %q", ErrBadHost, s)
	}
	return host, nil
}

// AllowHost adds host to the allowlist (used in allowlist mode).
func (f *Federation) AllowHost(ctx context.Context, host, reason string) error {
	return f.setRule(ctx, host, PolicyAllow, reason)
}

// BlockHost blocks host and its subdomains: their activities are refused
// and nothing is sent to them.
func (f *Federation) BlockHost(ctx context.Context, host, reason string) error {
	return f.setRule(ctx, host, PolicyBlock, reason)
}

// UnblockHost removes host's block (an allow rule is left alone).
func (f *Federation) UnblockHost(ctx context.Context, host string) error {
	return f.removeRule(ctx, host, PolicyBlock)
}

// DisallowHost removes host from the allowlist (a block is left alone).
func (f *Federation) DisallowHost(ctx context.Context, host string) error {
	return f.removeRule(ctx, host, PolicyAllow)
}

func (f *Federation) setRule(ctx context.Context, host, action, reason string) error {
	h, err := NormalizeHost(host)
	if err != nil {
		return err
	}
	reason = directory.CleanRemoteText(reason, 500, false)
	_, err = f.db.Exec(ctx, `INSERT INTO federation_policy (host, action, reason, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (host) DO UPDATE SET action = excluded.action, reason = excluded.reason, created_at = excluded.created_at`,
		h, action, reason, db.Now())
	if err != nil {
		return fmt.Errorf("federation: save policy for %s: %w", h, err)
	}
	f.policy.invalidate()
	f.log.Info("federation policy changed", "host", h, "action", action)
	return nil
}

func (f *Federation) removeRule(ctx context.Context, host, action string) error {
	h, err := NormalizeHost(host)
	if err != nil {
		return err
	}
	if _, err := f.db.Exec(ctx, `DELETE FROM federation_policy WHERE host = $1 AND action = $2`, h, action); err != nil {
		return fmt.Errorf("federation: remove policy for %s: %w", h, err)
	}
	f.policy.invalidate()
	f.log.Info("federation policy changed", "host", h, "action", "remove "+action)
	return nil
}

// SetFederationMode switches between ModeOpen and ModeAllowlist.
func (f *Federation) SetFederationMode(ctx context.Context, mode string) error {
	if mode != ModeOpen && mode != ModeAllowlist {
		return fmt.Errorf("federation: mode must be %q or %q", ModeOpen, ModeAllowlist)
	}
	err := f.db.Tx(ctx, func(tx *sql.Tx) error { return db.SetSetting(ctx, tx, FederationModeSetting, mode) })
	if err != nil {
		return err
	}
	f.policy.invalidate()
	f.log.Info("federation mode changed", "mode", mode)
	return nil
}

// Policy returns the federation mode and every rule, by host.
func (f *Federation) Policy(ctx context.Context) (Policy, error) {
	mode, err := f.federationMode(ctx)
	if err != nil {
		return Policy{}, err
	}
	rows, err := f.db.Query(ctx, `SELECT host, action, reason, created_at FROM federation_policy ORDER BY host`)
	if err != nil {
		return Policy{}, fmt.Errorf("federation: read policy: %w", err)
	}
	defer rows.Close()
	p := Policy{Mode: mode, Rules: []PolicyRule{}}
	for rows.Next() {
		var r PolicyRule
		if err := rows.Scan(&r.Host, &r.Action, &r.Reason, &r.CreatedAt); err != nil {
			return Policy{}, fmt.Errorf("federation: read policy: %w", err)
		}
		r.CreatedAt = r.CreatedAt.UTC()
		p.Rules = append(p.Rules, r)
	}
	return p, rows.Err()
}

func (f *Federation) federationMode(ctx context.Context) (string, error) {
	mode, ok, err := f.db.Setting(ctx, FederationModeSetting)
	if err != nil {
		return "", err
	}
	if !ok || mode != ModeAllowlist {
		return ModeOpen, nil
	}
	return ModeAllowlist, nil
}

// HostAllowed reports whether the policy lets the node federate with host
// (with or without a port): not blocked, and allowed when in allowlist
// mode. The policy is read from the process's short-lived copy
// (policyCacheTTL), which this process's own changes refresh at once.
func (f *Federation) HostAllowed(ctx context.Context, host string) (bool, error) {
	host = strings.ToLower(host)
	if host == "" {
		return false, nil
	}
	p, err := f.policy.get(ctx, f.db.Query)
	if err != nil {
		return false, err
	}
	return !p.refuses(host), nil
}

// policyNames lists the rule hosts that apply to host: itself, without its
// port, and its parent domains (not for IP addresses, which have none).
func policyNames(host string) []string {
	names := []string{host}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = strings.Trim(h, "[]")
		names = append(names, name)
	}
	if net.ParseIP(name) != nil {
		return names
	}
	for {
		_, rest, ok := strings.Cut(name, ".")
		if !ok || rest == "" {
			return names
		}
		names = append(names, rest)
		name = rest
	}
}

// hostOf returns the lower-cased host (with port) of an absolute URL, or "".
func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

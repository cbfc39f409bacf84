package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
)

func TestOptionPrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  env
		want string
		from string
	}{
		{"default", nil, env{}, "127.0.0.1:8080", "default"},
		{"env over default", nil, env{"COOPNET_LISTEN": "0.0.0.0:9000"}, "0.0.0.0:9000", "env"},
		{"empty env is unset", nil, env{"COOPNET_LISTEN": ""}, "127.0.0.1:8080", "default"},
		{"flag over env", []string{"--listen", ":7000"}, env{"COOPNET_LISTEN": "0.0.0.0:9000"}, ":7000", "flag"},
		{"flag with =", []string{"--listen=:7001"}, env{}, ":7001", "flag"},
		{"single dash", []string{"-listen", ":7002"}, env{}, ":7002", "flag"},
		{"empty flag over env", []string{"--listen="}, env{"COOPNET_LISTEN": ":9000"}, "", "flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlagSet("serve")
			setupServe(f)
			if err := f.parse(tt.args, tt.env.get); err != nil {
				t.Fatal(err)
			}
			o := f.opts[0]
			if o.name != "listen" {
				t.Fatalf("first serve flag is %s, want listen", o.name)
			}
			from := map[bool]string{true: "flag"}[o.fromCLI] + map[bool]string{true: "env"}[o.fromEnv]
			if from == "" {
				from = "default"
			}
			if o.value != tt.want || from != tt.from {
				t.Errorf("listen = %q from %s, want %q from %s", o.value, from, tt.want, tt.from)
			}
		})
	}
}

func TestEveryFlagHasAnEnvironmentVariable(t *testing.T) {
	seen := map[string]string{}
	for _, c := range commands() {
		if c.setup == nil {
			continue
		}
		f := newFlagSet(c.name)
		c.setup(f)
		for _, o := range f.opts {
			if !strings.HasPrefix(o.env, "COOPNET_") || o.usage == "" || o.meta == "" {
				t.Errorf("%s --%s: env %q, meta %q, usage %q", c.name, o.name, o.env, o.meta, o.usage)
			}
			// One variable means one thing, whatever the command.
			if prev, ok := seen[o.env]; ok && prev != o.name {
				t.Errorf("%s is both --%s and --%s", o.env, prev, o.name)
			}
			seen[o.env] = o.name
		}
	}
}

func TestBaseURLIsNormalized(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://localhost:8080", "http://localhost:8080"},
		{"http://localhost:8080/", "http://localhost:8080"},
		{"HTTPS://Coops.Example.ORG", "https://coops.example.org"},
		{" https://coops.example.org/ ", "https://coops.example.org"},
	}
	for _, tt := range tests {
		u, err := parseBaseURL(&option{name: "base-url", value: tt.in})
		if err != nil || u.String() != tt.want {
			t.Errorf("parseBaseURL(%q) = %v, %v; want %s", tt.in, u, err, tt.want)
		}
	}
}

func TestBadInvocationsExit2WithOneLine(t *testing.T) {
	fileNotDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(fileNotDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := func() string { return filepath.Join(t.TempDir(), "data") }
	tests := []struct {
		name string
		args []string
		env  env
		want string
	}{
		{"no command", nil, nil, "no command given"},
		{"unknown command", []string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{"unknown flag", []string{"serve", "--nope"}, nil, "unknown flag --nope"},
		{"flag without value", []string{"serve", "--listen"}, nil, "missing value for --listen"},
		{"positional argument", []string{"migrate", "now"}, nil, `unexpected argument "now"`},
		{"token without create", []string{"token", "list"}, nil, "token create"},
		{"help for unknown command", []string{"help", "nope"}, nil, `unknown command "nope"`},
		{"base URL scheme", []string{"serve", "--base-url", "ftp://example.org"}, nil, "invalid --base-url"},
		{"base URL from env", []string{"serve"}, env{"COOPNET_BASE_URL": "example.org"}, "invalid COOPNET_BASE_URL"},
		{"base URL with path", []string{"serve", "--base-url", "https://example.org/coopnet"}, nil, "without a path"},
		{"listen address", []string{"serve", "--listen", "8080"}, nil, "invalid --listen"},
		{"log format", []string{"serve", "--log-format", "xml"}, nil, "invalid --log-format"},
		{"log level", []string{"serve", "--log-level", "loud"}, nil, "invalid --log-level"},
		{"login attempts", []string{"serve", "--login-attempts-per-minute", "-1"}, nil, "invalid --login-attempts-per-minute"},
		{"database URL scheme", []string{"migrate", "--database-url", "mysql://root:secret@db/coopnet"}, nil, "must be a postgres:// URL"},
		{"unreachable database", []string{"migrate", "--database-url", "postgres://postgres@127.0.0.1:1/coopnet?sslmode=disable&connect_timeout=5"}, nil, "cannot open the database"},
		{"unwritable data dir", []string{"migrate", "--data-dir", filepath.Join(fileNotDir, "data")}, nil, "cannot open the database"},
		{"init without slug", []string{"init", "--name", "Alpha", "--admin-email", "a@b.example"}, env{"COOPNET_ADMIN_PASSWORD": testPassword}, "--slug is required"},
		{"init without password", []string{"init", "--name", "Alpha", "--slug", "alpha", "--admin-email", "a@b.example", "--data-dir", dataDir()}, nil, "no admin password"},
		{"init with missing password file", []string{"init", "--name", "Alpha", "--slug", "alpha", "--admin-email", "a@b.example", "--admin-password-file", "/nonexistent/pw"}, nil, "cannot read the admin password"},
		{"init with bad slug", []string{"init", "--name", "Alpha", "--slug", "Alpha Coop", "--admin-email", "a@b.example", "--data-dir", dataDir()}, env{"COOPNET_ADMIN_PASSWORD": testPassword}, "--slug must be"},
		{"init with short password", []string{"init", "--name", "Alpha", "--slug", "alpha", "--admin-email", "a@b.example", "--data-dir", dataDir()}, env{"COOPNET_ADMIN_PASSWORD": "short"}, "the admin password must be at least 10"},
		{"token for unknown coop", []string{"token", "create", "--slug", "nope", "--email", "a@b.example", "--data-dir", dataDir()}, nil, `no coop with the slug "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, tt.env, tt.args...)
			if r.code != exitUsage {
				t.Errorf("exit code %d, want %d", r.code, exitUsage)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n"); len(lines) != 1 || !strings.HasSuffix(r.stderr, "\n") {
				t.Errorf("stderr is %d lines, want one:\n%s", len(lines), r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to say %q", r.stderr, tt.want)
			}
			if strings.Contains(r.stderr, "secret") {
				t.Errorf("stderr shows the database password: %q", r.stderr)
			}
		})
	}
}

func TestHelpListsEveryCommandAndFlag(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		r := runCmd(t, nil, args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
		for _, c := range commands() {
			if !strings.Contains(r.stdout, "  "+c.name+"  ") {
				t.Errorf("%v does not list the command %q", args, c.name)
			}
			if c.setup == nil {
				continue
			}
			f := newFlagSet(c.name)
			c.setup(f)
			for _, o := range f.opts {
				if !strings.Contains(r.stdout, "--"+o.name+" ") || !strings.Contains(r.stdout, "env "+o.env+", default") {
					t.Errorf("%v does not document --%s (%s)", args, o.name, o.env)
				}
			}
		}
	}
	for _, args := range [][]string{{"serve", "-h"}, {"help", "serve"}, {"token", "create", "--help"}, {"help", "token", "create"}} {
		r := runCmd(t, nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "--base-url URL") || !strings.Contains(r.stdout, "COOPNET_DATA_DIR") {
			t.Errorf("%v: exit %d, stdout:\n%s", args, r.code, r.stdout)
		}
	}
}

// TestREADMEDocumentsEveryFlag keeps the README's configuration table true to
// the flags.
func TestREADMEDocumentsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands() {
		if !strings.Contains(string(readme), "coopnet "+c.name) {
			t.Errorf("README.md does not show `coopnet %s`", c.name)
		}
		if c.setup == nil {
			continue
		}
		f := newFlagSet(c.name)
		c.setup(f)
		for _, o := range f.opts {
			if !strings.Contains(string(readme), "`--"+o.name+"`") || !strings.Contains(string(readme), "`"+o.env+"`") {
				t.Errorf("README.md does not document --%s (%s) of %s", o.name, o.env, c.name)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	r := runCmd(t, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "coopnet ") {
		t.Errorf("version: exit %d, %q", r.code, r.stdout)
	}
}

// TestRunReadsTheEnvironment checks the one path tests otherwise replace.
func TestRunReadsTheEnvironment(t *testing.T) {
	t.Setenv("COOPNET_LOG_FORMAT", "yaml")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"serve"}, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "invalid COOPNET_LOG_FORMAT") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestAdminPassword(t *testing.T) {
	dir := t.TempDir()
	files := 0
	file := func(content string) string {
		files++
		p := filepath.Join(dir, fmt.Sprintf("pw%d", files))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		file    string
		env     env
		want    string
		wantErr string
	}{
		{"file", file("from the file\n"), env{}, "from the file", ""},
		{"file over env", file("from the file, CRLF\r\n"), env{"COOPNET_ADMIN_PASSWORD": "from the env"}, "from the file, CRLF", ""},
		{"env", "", env{"COOPNET_ADMIN_PASSWORD": "from the env"}, "from the env", ""},
		{"inner spaces kept", file("  spaced out  "), env{}, "  spaced out  ", ""},
		{"none", "", env{}, "", "no admin password"},
		{"empty file", file(""), env{}, "", "is empty"},
		{"huge file", file(strings.Repeat("x", maxPasswordFile+1)), env{}, "", "too big"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := adminPassword(&option{name: "admin-password-file", value: tt.file, fromCLI: tt.file != ""}, tt.env.get)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestInitThenTokenCreate(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			storage := b.args(t)
			pwFile := filepath.Join(t.TempDir(), "pw")
			if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runCmd(t, env{"COOPNET_ADMIN_EMAIL": "ada@alpha.example"}, append([]string{"init",
				"--name", "Alpha Tech Coop", "--slug", "alpha", "--admin-password-file", pwFile}, storage...)...)
			if r.code != 0 || !strings.Contains(r.stdout, "alpha") {
				t.Fatalf("init: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			store := openStore(t, storage)
			if _, err := store.Authenticate(context.Background(), "ada@alpha.example", testPassword); err != nil {
				t.Fatalf("the admin cannot log in with the password from the file: %v", err)
			}

			r = runCmd(t, nil, append([]string{"token", "create", "--slug", "alpha", "--email", "Ada@Alpha.example", "--name", "deploy script"}, storage...)...)
			if r.code != 0 {
				t.Fatalf("token create: exit %d, %s", r.code, r.stderr)
			}
			secret := strings.TrimSuffix(r.stdout, "\n")
			if !strings.HasPrefix(secret, directory.TokenPrefix) || strings.Contains(secret, "\n") {
				t.Fatalf("token create printed %q, want one token", r.stdout)
			}
			m, err := store.TokenMember(context.Background(), secret)
			if err != nil || m.Email != "ada@alpha.example" {
				t.Fatalf("token belongs to %+v, %v", m, err)
			}

			// A member of another coop on the node gets no token for alpha.
			beta, err := store.CreateCoop(context.Background(), directory.Coop{Slug: "beta", Name: "Beta", Capacity: directory.CapacityOpen})
			if err != nil {
				t.Fatal(err)
			}
			r = runCmd(t, nil, append([]string{"token", "create", "--slug", beta.Slug, "--email", "ada@alpha.example"}, storage...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, "not a member of the coop beta") {
				t.Errorf("token for another coop: exit %d, %q", r.code, r.stderr)
			}
			r = runCmd(t, nil, append([]string{"token", "create", "--slug", "alpha", "--email", "nobody@alpha.example"}, storage...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, "not a member") {
				t.Errorf("token for unknown member: exit %d, %q", r.code, r.stderr)
			}

			// The node is set up once.
			r = runCmd(t, env{"COOPNET_ADMIN_PASSWORD": testPassword}, append([]string{"init", "--name", "Gamma", "--slug", "gamma", "--admin-email", "g@gamma.example"}, storage...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, "already set up") {
				t.Errorf("second init: exit %d, %q", r.code, r.stderr)
			}
		})
	}
}

func TestMigrate(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			storage := b.args(t)
			r := runCmd(t, nil, append([]string{"migrate"}, storage...)...)
			if r.code != 0 || !strings.Contains(r.stdout, "applied 0001_") {
				t.Fatalf("first migrate: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			r = runCmd(t, nil, append([]string{"migrate"}, storage...)...)
			if r.code != 0 || !strings.Contains(r.stdout, "up to date") {
				t.Fatalf("second migrate: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestServe(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			storage := b.args(t)
			// An empty database: serve creates the schema at start.
			n := startServe(t, nil, storage...)
			if code, body := n.get(t, "/healthz"); code != http.StatusOK {
				t.Errorf("/healthz: %d %s", code, body)
			}
			if !strings.Contains(n.stderr.String(), "database schema migrated") {
				t.Errorf("serve did not log the migration:\n%s", n.stderr.String())
			}
			if code := n.stop(t); code != 0 {
				t.Fatalf("serve exit code %d after cancel:\n%s", code, n.stderr.String())
			}
			if !strings.Contains(n.stderr.String(), `"msg":"stopped"`) {
				t.Errorf("serve did not log its shutdown:\n%s", n.stderr.String())
			}
			store := openStore(t, storage)
			if ok, err := store.IsSetUp(context.Background()); err != nil || ok {
				t.Fatalf("fresh node: set up %v, %v", ok, err)
			}
			if store.DB().Dialect() == db.Postgres {
				if _, err := os.Stat(storage[len(storage)-1]); !os.IsNotExist(err) {
					t.Errorf("serve on PostgreSQL created the data directory (%v)", err)
				}
			}
		})
	}
}

func TestServeRefusesAnotherBaseURL(t *testing.T) {
	storage := []string{"--data-dir", t.TempDir()}
	initNode(t, storage, "--base-url", "https://coops.example.org/")

	// The same URL, written differently, is fine.
	n := startServe(t, env{"COOPNET_BASE_URL": "HTTPS://coops.example.org"}, storage...)
	if code := n.stop(t); code != 0 {
		t.Fatalf("serve: exit %d\n%s", code, n.stderr.String())
	}

	r := runCmd(t, nil, append([]string{"serve", "--listen", "127.0.0.1:0", "--base-url", "http://localhost:8080"}, storage...)...)
	if r.code != exitUsage {
		t.Errorf("exit %d, want %d", r.code, exitUsage)
	}
	if !strings.Contains(r.stderr, "set up with the base URL https://coops.example.org, not http://localhost:8080") ||
		strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr = %q", r.stderr)
	}
	// Nothing changed: the node still starts with its own URL.
	n = startServe(t, nil, append(storage, "--base-url", "https://coops.example.org")...)
	n.stop(t)
}

func TestServeOnATakenPortExits2(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dataDir := t.TempDir()
	r := runCmd(t, nil, "serve", "--listen", ln.Addr().String(), "--data-dir", dataDir)
	if r.code != exitUsage || !strings.Contains(r.stderr, "cannot listen on "+ln.Addr().String()) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	// The port is checked before anything is written.
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("serve wrote %d files before failing", len(entries))
	}
}

// TestScriptedInstall sets a node up from the command line, as an install
// script would, uses the printed token against the running node's API, and
// checks that everything is still there after a restart.
func TestScriptedInstall(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			storage := b.args(t)
			initNode(t, storage)
			r := runCmd(t, nil, append([]string{"token", "create", "--slug", "alpha", "--email", "ada@alpha.example"}, storage...)...)
			if r.code != 0 {
				t.Fatalf("token create: exit %d, %s", r.code, r.stderr)
			}
			token := strings.TrimSpace(r.stdout)

			n := startServe(t, nil, storage...)
			req, _ := http.NewRequest(http.MethodGet, n.url+"/api/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(body.String(), "ada@alpha.example") {
				t.Errorf("GET /api/v1/me with the token: %d %s", resp.StatusCode, body.String())
			}
			if code := n.stop(t); code != 0 {
				t.Fatalf("serve: exit %d\n%s", code, n.stderr.String())
			}

			n = startServe(t, nil, storage...)
			if code, page := n.get(t, "/coops/alpha"); code != http.StatusOK || !strings.Contains(page, "Alpha Tech Coop") {
				t.Errorf("after a restart, /coops/alpha: %d\n%s", code, page)
			}
			if code, _ := n.get(t, "/setup"); code == http.StatusOK {
				t.Errorf("after a restart the setup page is back")
			}
		})
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/validate"
	"github.com/coopnet/coopnet/migrations"
)

// applyMigrations applies the schema migrations the database lacks.
func applyMigrations(ctx context.Context, d *db.DB) ([]string, error) {
	applied, err := migrations.Apply(ctx, d)
	if err != nil {
		return applied, fmt.Errorf("migrate the database: %w", err)
	}
	return applied, nil
}

func setupMigrate(f *flagSet) func(context.Context, *app) error {
	st := addStorageFlags(f)
	return func(ctx context.Context, a *app) error {
		s, err := st.validate()
		if err != nil {
			return err
		}
		d, applied, err := openDatabase(ctx, s)
		if err != nil {
			return err
		}
		defer d.Close()
		if len(applied) == 0 {
			fmt.Fprintf(a.stdout, "the %s database schema is up to date\n", d.Dialect())
			return nil
		}
		for _, name := range applied {
			fmt.Fprintf(a.stdout, "applied %s\n", name)
		}
		return nil
	}
}

// maxPasswordFile bounds what --admin-password-file reads: a password is short,
// and a wrong path (say, a disk image) should not be read whole.
const maxPasswordFile = 4096

func setupInit(f *flagSet) func(context.Context, *app) error {
	name := f.add("name", "COOPNET_COOP_NAME", "", "NAME", "the coop's name, such as \"Alpha Tech Coop\" (required)")
	slug := f.add("slug", "COOPNET_COOP_SLUG", "", "SLUG", "the coop's short name in URLs and its handle, such as alpha; it never changes (required)")
	email := f.add("admin-email", "COOPNET_ADMIN_EMAIL", "", "EMAIL", "the first admin's e-mail address, used to log in (required)")
	adminName := f.add("admin-name", "COOPNET_ADMIN_NAME", "", "NAME", "the first admin's name")
	pwFile := f.add("admin-password-file", "COOPNET_ADMIN_PASSWORD_FILE", "", "FILE",
		"file holding the first admin's password (at least 10 characters); without it, COOPNET_ADMIN_PASSWORD is read")
	st := addStorageFlags(f)
	return func(ctx context.Context, a *app) error {
		if err := required(name, slug, email); err != nil {
			return err
		}
		s, err := st.validate()
		if err != nil {
			return err
		}
		password, err := adminPassword(pwFile, a.getenv)
		if err != nil {
			return err
		}
		d, _, err := openDatabase(ctx, s)
		if err != nil {
			return err
		}
		defer d.Close()
		coop, admin, err := directory.NewStore(d, 0).Setup(ctx, directory.SetupInput{
			CoopName: name.value, Slug: slug.value, AdminName: adminName.value, AdminEmail: email.value, Password: password,
		}, s.baseURL.String())
		if err != nil {
			return setupError(err)
		}
		fmt.Fprintf(a.stdout, "created the coop %s (%s) and its admin %s; open %s to log in\n",
			coop.Name, coop.Slug, admin.Email, s.baseURL)
		return nil
	}
}

// required checks that each option has a value.
func required(opts ...*option) error {
	for _, o := range opts {
		if strings.TrimSpace(o.value) == "" {
			return usageErrorf("--%s is required (or set %s)", o.name, o.env)
		}
	}
	return nil
}

// adminPassword reads the first admin's password from the file named by the
// option, or from COOPNET_ADMIN_PASSWORD. Never from a flag's value: the
// command line is visible to every user of the machine (ps, /proc).
func adminPassword(file *option, getenv func(string) string) (string, error) {
	if file.value == "" {
		if pw := getenv("COOPNET_ADMIN_PASSWORD"); pw != "" {
			return pw, nil
		}
		return "", usageErrorf("no admin password: give --admin-password-file FILE (or COOPNET_ADMIN_PASSWORD_FILE) or set COOPNET_ADMIN_PASSWORD")
	}
	fh, err := os.Open(file.value)
	if err != nil {
		return "", usageErrorf("cannot read the admin password from %s: %v", file.origin(), innerError(err))
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxPasswordFile+1))
	if err != nil {
		return "", usageErrorf("cannot read the admin password from %s: %v", file.origin(), innerError(err))
	}
	if len(b) > maxPasswordFile {
		return "", usageErrorf("%s %q is too big to hold a password", file.origin(), file.value)
	}
	// Editors and `echo` end the file with a newline that is not part of the
	// password.
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		return "", usageErrorf("%s %q is empty", file.origin(), file.value)
	}
	return pw, nil
}

// setupFields names, for each field that Setup validates, the flag that set it.
var setupFields = map[string]string{
	"name":     "--name",
	"slug":     "--slug",
	"email":    "--admin-email",
	"password": "the admin password",
}

// setupError turns Setup's errors into the flags to fix.
func setupError(err error) error {
	var ve *validate.Error
	switch {
	case errors.Is(err, directory.ErrAlreadySetUp):
		return usageErrorf("this node is already set up; add members from its web pages")
	case errors.Is(err, directory.ErrConflict):
		return usageErrorf("%v", err)
	case errors.As(err, &ve):
		keys := make([]string, 0, len(ve.Fields))
		for k := range ve.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			what := setupFields[k]
			if what == "" {
				what = k
			}
			parts[i] = what + " " + ve.Fields[k]
		}
		return usageErrorf("invalid input: %s", strings.Join(parts, "; "))
	}
	return err
}

func setupTokenCreate(f *flagSet) func(context.Context, *app) error {
	slug := f.add("slug", "COOPNET_COOP_SLUG", "", "SLUG", "the coop the member belongs to (required)")
	email := f.add("email", "COOPNET_MEMBER_EMAIL", "", "EMAIL", "the member's e-mail address (required)")
	name := f.add("name", "COOPNET_TOKEN_NAME", "command line", "NAME", "a name that says what the token is for, shown in the member's token list")
	st := addStorageFlags(f)
	return func(ctx context.Context, a *app) error {
		if err := required(slug, email, name); err != nil {
			return err
		}
		s, err := st.validate()
		if err != nil {
			return err
		}
		d, _, err := openDatabase(ctx, s)
		if err != nil {
			return err
		}
		defer d.Close()
		secret, err := createToken(ctx, directory.NewStore(d, 0), slug.value, email.value, name.value)
		if err != nil {
			return err
		}
		// The token alone on stdout, so that scripts can capture it.
		_, err = fmt.Fprintln(a.stdout, secret)
		return err
	}
}

// createToken creates a token for the member with that e-mail address, after
// checking that they belong to the coop named: a script that names the wrong
// coop must not get a token that acts on another one.
func createToken(ctx context.Context, store *directory.Store, slug, email, name string) (string, error) {
	coop, err := store.CoopBySlug(ctx, slug)
	if errors.Is(err, directory.ErrNotFound) {
		return "", usageErrorf("no coop with the slug %q on this node", slug)
	}
	if err != nil {
		return "", err
	}
	m, err := store.MemberByEmail(ctx, email)
	if errors.Is(err, directory.ErrNotFound) || (err == nil && m.CoopID != coop.ID) {
		return "", usageErrorf("%s is not a member of the coop %s", email, slug)
	}
	if err != nil {
		return "", err
	}
	_, secret, err := store.CreateToken(ctx, m.ID, name)
	var ve *validate.Error
	if errors.As(err, &ve) {
		return "", usageErrorf("invalid --name: %s", ve.Fields["name"])
	}
	return secret, err
}

package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/tlsutil"
)

func TestInit(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	for _, f := range []string{"pochta.toml", "cert.pem", "key.pem", "pochta.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("init did not create %s: %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key.pem mode: %v %v", fi.Mode(), err)
	}
	cfg, err := config.Load(dir, nil)
	if err != nil {
		t.Fatalf("init wrote a config that does not load: %v", err)
	}
	if cfg.Hostname != "mail.example.test" {
		t.Fatalf("hostname %q", cfg.Hostname)
	}
	if err := cfg.ValidateFiles(); err != nil {
		t.Fatal(err)
	}
	certs, err := tlsutil.NewCertStore(cfg.Path(cfg.TLS.Cert), cfg.Path(cfg.TLS.Key), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := certs.GetCertificate(nil)
	if err := c.Leaf.VerifyHostname("mail.example.test"); err != nil {
		t.Fatalf("certificate SAN: %v", err)
	}
	if got := must(t, "", "-d", dir, "domain", "list"); got != "example.test\n" {
		t.Fatalf("domains %q", got)
	}

	before, _ := os.ReadFile(filepath.Join(dir, "pochta.toml"))
	expect(t, exitError, "already exists", "", "init", "-d", dir)
	after, _ := os.ReadFile(filepath.Join(dir, "pochta.toml"))
	if string(before) != string(after) {
		t.Fatal("second init changed the config")
	}
	expect(t, exitUsage, "-d DIR", "", "init")
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	expect(t, exitUsage, "no command", "")
	expect(t, exitUsage, "unknown command", "", "frobnicate")
	expect(t, exitUsage, "-d DIR", "", "domain", "list")
	expect(t, exitUsage, "unknown option -bogus", "", "-d", "x", "user", "list", "--bogus")
	expect(t, exitConfig, "pochta init", "", "-d", t.TempDir(), "domain", "list")
	if out := must(t, "", "version"); !strings.HasPrefix(out, "pochta ") {
		t.Fatalf("version printed %q", out)
	}
}

func TestDomainCommands(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	must(t, "", "-d", dir, "domain", "add", "Second.TEST", "third.test")
	if got := must(t, "", "domain", "list", "-d", dir); got != "example.test\nsecond.test\nthird.test\n" {
		t.Fatalf("list: %q", got)
	}
	expect(t, exitError, "second.test", "", "-d", dir, "domain", "add", "second.test")
	expect(t, exitUsage, "not a domain name", "", "-d", dir, "domain", "add", "a@b")
	must(t, "pw\n", "-d", dir, "user", "add", "u@third.test", "--password-stdin")
	expect(t, exitError, "still has 1 user", "", "-d", dir, "domain", "del", "third.test")
	must(t, "", "-d", dir, "domain", "del", "second.test")
	expect(t, exitError, "second.test", "", "-d", dir, "domain", "del", "second.test")
	if got := must(t, "", "-d", dir, "domain", "list"); got != "example.test\nthird.test\n" {
		t.Fatalf("after del: %q", got)
	}
}

func TestUserCommands(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	must(t, "", "-d", dir, "domain", "add", "other.test")
	must(t, "first password\n", "-d", dir, "user", "add", "Alice@Example.TEST", "--password-stdin")
	must(t, "pw\r\n", "-d", dir, "user", "add", "--password-stdin", "bob@example.test")
	must(t, "pw", "-d", dir, "user", "add", "carol@other.test", "--password-stdin")
	if got := must(t, "", "-d", dir, "user", "list"); got != "alice@example.test used=0 quota=none last_login=never\nbob@example.test used=0 quota=none last_login=never\ncarol@other.test used=0 quota=none last_login=never\n" {
		t.Fatalf("list: %q", got)
	}
	if got := must(t, "", "-d", dir, "user", "list", "other.test"); got != "carol@other.test used=0 quota=none last_login=never\n" {
		t.Fatalf("list other.test: %q", got)
	}
	expect(t, exitError, "alice@example.test", "pw\n", "-d", dir, "user", "add", "alice@example.test", "--password-stdin")
	expect(t, exitError, "nowhere.test", "pw\n", "-d", dir, "user", "add", "x@nowhere.test", "--password-stdin")
	expect(t, exitUsage, "empty password", "\n", "-d", dir, "user", "add", "d@example.test", "--password-stdin")
	expect(t, exitUsage, "--password-stdin", "", "-d", dir, "user", "add", "d@example.test")
	expect(t, exitUsage, "user@domain", "pw\n", "-d", dir, "user", "add", "nodomain", "--password-stdin")

	must(t, "second password\n", "-d", dir, "user", "passwd", "alice@example.test", "--password-stdin")
	expect(t, exitError, "nobody@example.test", "pw\n", "-d", dir, "user", "passwd", "nobody@example.test", "--password-stdin")

	r := expect(t, 0, "plaintext-equivalent", "pw\n", "-d", dir, "user", "passwd", "bob@example.test", "--password-stdin", "--legacy-auth")
	if !strings.Contains(r.stderr, "auth.legacy is false") {
		t.Fatalf("no auth.legacy warning: %s", r)
	}

	must(t, "", "-d", dir, "user", "del", "carol@other.test")
	expect(t, exitError, "carol@other.test", "", "-d", dir, "user", "del", "carol@other.test")

	// The stored credentials are what the commands were given.
	st := openStore(t, dir)
	svc := auth.New(auth.Options{Directory: st, CacheTTL: -1})
	ctx := context.Background()
	if _, err := svc.CheckPassword(ctx, "alice@example.test", "second password"); err != nil {
		t.Fatalf("new password refused: %v", err)
	}
	if _, err := svc.CheckPassword(ctx, "alice@example.test", "first password"); !errors.Is(err, auth.ErrFailed) {
		t.Fatalf("old password: %v", err)
	}
	if _, err := svc.CheckPassword(ctx, "bob@example.test", "pw"); err != nil {
		t.Fatalf("CRLF-terminated password: %v", err)
	}
	bob, err := st.Account(ctx, "bob@example.test")
	if err != nil || bob.Credentials.LegacySecret == "" {
		t.Fatalf("bob has no legacy secret: %+v %v", bob, err)
	}
	if _, err := st.Account(ctx, "carol@other.test"); err == nil {
		t.Fatal("deleted user still exists")
	}
}

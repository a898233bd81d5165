package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestAdminErrorsInOperatorWords: every admin error says what happened in
// the operator's words, once, without the layers underneath (no "sqlite:",
// "store:") and without Go's flag usage dump.
func TestAdminErrorsInOperatorWords(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t) // example.test with alice
	long := strings.Repeat("a", 64) + ".test"
	cases := []struct {
		args  []string
		stdin string
		code  int
		want  string // the whole stderr
	}{
		{[]string{"user", "add", "alice@example.test", "--password-stdin"}, "pw\n", exitError,
			"pochta: user alice@example.test already exists\n"},
		{[]string{"user", "quota", "alice@example.test", "-5"}, "", exitUsage,
			"pochta: user quota: \"-5\" is not a size (e.g. 500MiB) or none\n"},
		{[]string{"domain", "add", "x..y"}, "", exitUsage,
			"pochta: \"x..y\" is not a domain name: empty label\n"},
		{[]string{"domain", "add", "--", "-foo"}, "", exitUsage,
			"pochta: \"-foo\" is not a domain name: a label starts or ends with a hyphen\n"},
		{[]string{"domain", "add", "-foo"}, "", exitUsage,
			"pochta: domain: unknown option -foo (see pochta help)\n"},
		{[]string{"domain", "add", long}, "", exitUsage,
			"pochta: \"" + long + "\" is not a domain name: a label is longer than 63 octets\n"},
		{[]string{"domain", "add", "example.test"}, "", exitError,
			"pochta: domain example.test already exists\n"},
		{[]string{"domain", "del", "example.test"}, "", exitError,
			"pochta: domain example.test still has 1 user and 2 aliases: delete them first\n"},
		{[]string{"domain", "del", "nothere.test"}, "", exitError,
			"pochta: domain nothere.test does not exist\n"},
		{[]string{"user", "del", "bob@example.test"}, "", exitError,
			"pochta: user bob@example.test does not exist\n"},
		{[]string{"user", "passwd", "bob@example.test"}, "", exitError,
			"pochta: user bob@example.test does not exist\n"},
		{[]string{"user", "quota", "bob@example.test", "1MiB"}, "", exitError,
			"pochta: user bob@example.test does not exist\n"},
		{[]string{"user", "add", "bob@nodomain.test", "--password-stdin"}, "pw\n", exitError,
			"pochta: domain nodomain.test does not exist (add it with: pochta domain add nodomain.test)\n"},
		{[]string{"alias", "add", "x@nodomain.test", "alice@example.test"}, "", exitError,
			"pochta: domain nodomain.test does not exist (add it with: pochta domain add nodomain.test)\n"},
		{[]string{"alias", "del", "nobody@example.test"}, "", exitError,
			"pochta: alias nobody@example.test does not exist\n"},
		{[]string{"queue", "show", "99"}, "", exitError, "pochta: queued message 99 does not exist\n"},
		{[]string{"queue", "drop", "99"}, "", exitError, "pochta: queued message 99 does not exist\n"},
		{[]string{"queue", "retry", "99"}, "", exitError, "pochta: queued message 99 does not exist\n"},
		{[]string{"dkim", "keygen", "x..y", "--selector", "s1"}, "", exitUsage,
			"pochta: \"x..y\" is not a domain name: empty label\n"},
		{[]string{"user", "frobnicate"}, "", exitUsage,
			"pochta: usage: pochta user add|passwd|del ADDRESS | quota ADDRESS SIZE|none | list [DOMAIN]\n"},
		{[]string{"user", "list", "--bogus"}, "", exitUsage,
			"pochta: user: unknown option -bogus (see pochta help)\n"},
	}
	must(t, "", "-d", dir, "dkim", "keygen", "example.test", "--selector", "s1", "--algo", "ed25519")
	cases = append(cases, struct {
		args  []string
		stdin string
		code  int
		want  string
	}{[]string{"dkim", "keygen", "example.test", "--selector", "s1", "--algo", "ed25519"}, "", exitError,
		"pochta: DKIM key s1 for example.test already exists (" + filepath.Join(dir, "dkim", "example.test", "s1.pem") + "): choose another --selector\n"})
	for _, tc := range cases {
		r := pochta(t, strings.NewReader(tc.stdin), append([]string{"-d", dir}, tc.args...)...)
		if r.code != tc.code || r.stderr != tc.want {
			t.Errorf("pochta %s:\n got exit %d, stderr %q\nwant exit %d, stderr %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// TestFirstUserGetsPostmasterAndAbuse: RFC 2142 mailboxes exist from the
// first account of a domain on (pochta dns names postmaster@ in DMARC and
// TLS-RPT records), and init says what to do next.
func TestFirstUserGetsPostmasterAndAbuse(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	r := pochta(t, strings.NewReader("pw\n"), "-d", dir, "user", "add", "alice@example.test", "--password-stdin")
	if r.code != 0 || !strings.Contains(r.stdout, "postmaster@example.test and abuse@example.test now deliver to alice@example.test") {
		t.Fatalf("first user: %s", r)
	}
	r = pochta(t, strings.NewReader("pw\n"), "-d", dir, "user", "add", "bob@example.test", "--password-stdin")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("second user: %s", r)
	}
	out := must(t, "", "-d", dir, "alias", "list", "example.test")
	for _, want := range []string{"abuse@example.test alice@example.test\n", "postmaster@example.test alice@example.test\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("alias list lacks %q:\n%s", want, out)
		}
	}
	// An operator who set postmaster@ up first keeps it.
	must(t, "", "-d", dir, "domain", "add", "other.test")
	must(t, "", "-d", dir, "alias", "add", "postmaster@other.test", "bob@example.test")
	must(t, "pw\n", "-d", dir, "user", "add", "carol@other.test", "--password-stdin")
	out = must(t, "", "-d", dir, "alias", "list", "other.test")
	if !strings.Contains(out, "postmaster@other.test bob@example.test\n") || !strings.Contains(out, "abuse@other.test carol@other.test\n") {
		t.Errorf("other.test aliases:\n%s", out)
	}
	// init prints the next steps.
	r = pochta(t, nil, "init", "-d", t.TempDir()+"/x", "--domain", "example.test", "--hostname", "mail.example.test")
	if r.code != 0 || !strings.Contains(r.stdout, "pochta -d ") || !strings.Contains(r.stdout, "user add") || !strings.Contains(r.stdout, "dns example.test") {
		t.Fatalf("init next steps: %s", r)
	}
}

// TestInternationalDomains: IDNs are accepted as U-labels, stored as
// A-labels (what DNS and SMTP without SMTPUTF8 use), and listed with both.
func TestInternationalDomains(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	must(t, "", "-d", dir, "domain", "add", "Пример.TEST")
	if out := must(t, "", "-d", dir, "domain", "list"); !strings.Contains(out, "xn--e1afmkfd.test (пример.test)\n") {
		t.Fatalf("domain list:\n%s", out)
	}
	must(t, "pw\n", "-d", dir, "user", "add", "ivan@пример.test", "--password-stdin")
	if out := must(t, "", "-d", dir, "user", "list"); !strings.Contains(out, "ivan@xn--e1afmkfd.test") {
		t.Fatalf("user list:\n%s", out)
	}
	// Mail to the Unicode form reaches the account.
	must(t, "Subject: привет\n\nhi\n", "-d", dir, "deliver", "ivan@Пример.test")
	if got := inbox(t, openStore(t, dir), "ivan@xn--e1afmkfd.test"); len(got) != 1 {
		t.Fatalf("inbox has %d messages", len(got))
	}
	// pochta dns takes either form.
	if out := must(t, "", "-d", dir, "dns", "пример.test"); !strings.Contains(out, "xn--e1afmkfd.test. MX 10 ") {
		t.Fatalf("dns for the U-label form:\n%s", out)
	}
	// The A-label form names the same domain.
	expect(t, exitError, "pochta: domain xn--e1afmkfd.test already exists", "", "-d", dir, "domain", "add", "xn--e1afmkfd.test")
}

// TestInitLocal: --local runs every listener on loopback without root.
func TestInitLocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() + "/local"
	out := must(t, "", "init", "-d", dir, "--local", "--hostname", "mail.example.test")
	if !strings.Contains(out, "on 127.0.0.1: SMTP 2525") {
		t.Fatalf("init --local output:\n%s", out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "pochta.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\nlisten = \"127.0.0.1:"); n != 11 || strings.Contains(string(data), "\nlisten = \":") {
		t.Fatalf("%d loopback listeners, want all 11:\n%s", n, data)
	}
	// High ports only: serve needs no root for any of them.
	for _, m := range regexp.MustCompile(`\nlisten = "127\.0\.0\.1:(\d+)"`).FindAllStringSubmatch(string(data), -1) {
		if port, _ := strconv.Atoi(m[1]); port < 1024 {
			t.Errorf("init --local listens on privileged port %d", port)
		}
	}
}

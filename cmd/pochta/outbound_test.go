package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQueueRetryAndDrop(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t)
	msg := "Subject: out\r\n\r\nbody\r\n"
	// deliver queues remote mail only through aliases.
	must(t, "", "-d", dir, "alias", "add", "out@example.test", "far@remote.test", "other@remote.test")
	must(t, "", "-d", dir, "alias", "add", "x@example.test", "x@remote.test")
	must(t, msg, "-d", dir, "deliver", "-f", "alice@example.test", "out@example.test")
	must(t, msg, "-d", dir, "deliver", "-f", "alice@example.test", "x@example.test")
	list := must(t, "", "-d", dir, "queue", "list")
	if strings.Count(list, "\n") != 2 || !strings.Contains(list, "attempts=0 next=") {
		t.Fatalf("queue list: %q", list)
	}
	show := must(t, "", "-d", dir, "queue", "show", "1")
	for _, want := range []string{"to: <far@remote.test> pending", "to: <other@remote.test> pending", "attempts: 0", "next attempt: "} {
		if !strings.Contains(show, want) {
			t.Errorf("queue show lacks %q:\n%s", want, show)
		}
	}
	must(t, "", "-d", dir, "queue", "retry", "1")
	must(t, "", "-d", dir, "queue", "retry", "all")
	expect(t, exitError, "does not exist", "", "-d", dir, "queue", "retry", "99")
	must(t, "", "-d", dir, "queue", "drop", "1")
	if list := must(t, "", "-d", dir, "queue", "list"); strings.HasPrefix(list, "1 ") || !strings.HasPrefix(list, "2 ") {
		t.Errorf("after drop: %q", list)
	}
	expect(t, exitError, "does not exist", "", "-d", dir, "queue", "drop", "1")
	expect(t, exitUsage, "usage", "", "-d", dir, "queue", "drop")
	expect(t, exitUsage, "not a message id", "", "-d", dir, "queue", "retry", "x")
}

func TestDKIMKeygenAndDNS(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t)
	// Before any key, dns says how to make one.
	out := must(t, "", "-d", dir, "dns", "example.test")
	for _, want := range []string{
		"example.test. MX 10 mail.example.test.",
		`example.test. TXT "v=spf1 mx -all"`,
		"pochta dkim keygen example.test",
		`_dmarc.example.test. TXT "v=DMARC1; p=quarantine;`,
		"_submissions._tcp.example.test. SRV 0 1 465 mail.example.test.",
		"_submission._tcp.example.test. SRV 0 1 587 mail.example.test.",
		"_imaps._tcp.example.test. SRV 0 1 993 mail.example.test.",
		"_pop3s._tcp.example.test. SRV 0 1 995 mail.example.test.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("pochta dns lacks %q:\n%s", want, out)
		}
	}
	rsa := must(t, "", "-d", dir, "dkim", "keygen", "example.test", "--selector", "s1")
	if !strings.HasPrefix(rsa, `s1._domainkey.example.test. TXT "v=DKIM1; k=rsa; p=MIIB`) || strings.Count(rsa, "\n") != 1 {
		t.Errorf("rsa keygen output: %q", rsa)
	}
	// A 2048-bit key's record is longer than one TXT string may be.
	if !strings.Contains(rsa, `" "`) {
		t.Errorf("long record not split into 255-octet strings: %q", rsa)
	}
	ed := must(t, "", "-d", dir, "dkim", "keygen", "example.test", "--algo", "ed25519", "--selector", "s2")
	if !strings.HasPrefix(ed, `s2._domainkey.example.test. TXT "v=DKIM1; k=ed25519; p=`) {
		t.Errorf("ed25519 keygen output: %q", ed)
	}
	if fi, err := os.Stat(filepath.Join(dir, "dkim", "example.test", "s1.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", fi, err)
	}
	expect(t, exitError, "exists", "", "-d", dir, "dkim", "keygen", "example.test", "--selector", "s1")
	expect(t, exitUsage, "--algo", "", "-d", dir, "dkim", "keygen", "example.test", "--algo", "dsa")
	expect(t, exitUsage, "usage", "", "-d", dir, "dkim", "keygen")
	out = must(t, "", "-d", dir, "dns", "example.test")
	if !strings.Contains(out, strings.TrimSpace(rsa)) || !strings.Contains(out, strings.TrimSpace(ed)) {
		t.Errorf("pochta dns does not list both keys:\n%s", out)
	}
	r := pochta(t, nil, "-d", dir, "dns", "elsewhere.test")
	if r.code != 0 || !strings.Contains(r.stderr, "not a domain of this server") {
		t.Errorf("dns for a foreign domain: %s", r)
	}
}

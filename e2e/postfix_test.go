package e2e_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/msgauth/dkimtest"
)

// postfixMTA is a private Postfix instance on loopback playing a real
// receiving MTA: its own config directory, queue and log under the test's
// temporary directory, mail for one virtual domain stored in one Maildir.
// The system's Postfix service (if any) is neither used nor touched:
// `postfix -c DIR` as root needs no registration in /etc/postfix.
type postfixMTA struct {
	addr    string
	dir     string
	maildir string
}

// startPostfix starts the instance for domain; the test is skipped where
// Postfix cannot run (not installed, not root) unless CI, where .ci/run
// installs it.
func startPostfix(t *testing.T, domain string) *postfixMTA {
	t.Helper()
	if _, err := exec.LookPath("postfix"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("Postfix cannot run here (installed: %v, root: %v)", err == nil, os.Geteuid() == 0)
		}
		t.Skip("needs Postfix (Debian's postfix package) and root")
	}
	dir := t.TempDir()
	// Postfix's daemons run as user postfix: the directories must be
	// reachable for it (t.TempDir makes them 0700).
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	pf := &postfixMTA{dir: dir, maildir: filepath.Join(dir, "mail", "box")}
	for _, d := range []string{"etc", "spool", "data", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
			t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, out, log)
		}
	}
	run("chown", "postfix", filepath.Join(dir, "data"))
	run("chown", "nobody", filepath.Join(dir, "mail"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pf.addr = l.Addr().String()
	l.Close()
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Fatal(err)
	}
	// smtpd on our loopback port, not chrooted; no port 25.
	smtpLine := regexp.MustCompile(`(?m)^smtp +inet .*$`)
	master = smtpLine.ReplaceAll(master, []byte(pf.addr+" inet n - n - - smtpd"))
	if err := os.WriteFile(filepath.Join(dir, "etc", "master.cf"), master, 0o644); err != nil {
		t.Fatal(err)
	}
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.%[2]s
mydomain = %[2]s
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = %[2]s
virtual_mailbox_base = %[1]s/mail
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
alias_maps =
alias_database =
disable_dns_lookups = yes
smtp_dns_support_level = disabled
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
biff = no
`, dir, domain)
	if err := os.WriteFile(filepath.Join(dir, "etc", "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	run("postfix", "-c", filepath.Join(dir, "etc"), "start")
	t.Cleanup(func() { pf.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", pf.addr)
		if err == nil {
			c.Close()
			return pf
		}
		if time.Now().After(deadline) {
			t.Fatalf("Postfix did not listen on %s", pf.addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops the instance and waits for its master to exit, so the
// temporary directory can go.
func (pf *postfixMTA) stop(t *testing.T) {
	pidFile := filepath.Join(pf.dir, "spool", "pid", "master.pid")
	b, _ := os.ReadFile(pidFile)
	exec.Command("postfix", "-c", filepath.Join(pf.dir, "etc"), "stop").Run()
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			return
		}
	}
	t.Errorf("Postfix master (pid %d) did not stop", pid)
}

// messages returns the messages delivered to the Maildir so far.
func (pf *postfixMTA) messages(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(pf.maildir, "new", "*"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

var zoneLine = regexp.MustCompile(`^(\S+?)\.? TXT (.*)$`)
var quoted = regexp.MustCompile(`"([^"]*)"`)

// Header field names are case-insensitive (Postfix writes Message-Id).
var (
	messageIDField = regexp.MustCompile(`(?mi)^Message-ID: *(\S+)\r$`)
	dateField      = regexp.MustCompile(`(?mi)^Date: `)
)

// TestOutboundDKIMThroughPostfix: a message submitted without Message-ID
// and Date crosses a real receiving MTA (Postfix, which adds missing
// header fields to mail from local clients) and arrives with both, added
// once, by Pochta, and with DKIM signatures that an independent verifier
// (dkimpy) accepts.
func TestOutboundDKIMThroughPostfix(t *testing.T) {
	t.Parallel()
	dkimtest.Available(t)
	pf := startPostfix(t, "b.test")
	a := newInstance(t, "a.test")
	a.addUser("alice@a.test", outboundPass)
	records := map[string]string{}
	for _, k := range []struct{ algo, sel string }{{"rsa", "r1"}, {"ed25519", "e1"}} {
		out, code := a.runCode("", "-d", a.dir, "dkim", "keygen", "a.test", "--algo", k.algo, "--selector", k.sel)
		m := zoneLine.FindStringSubmatch(strings.SplitN(out, "\n", 2)[0])
		if code != 0 || m == nil {
			t.Fatalf("dkim keygen: %s", out)
		}
		var text strings.Builder
		for _, q := range quoted.FindAllStringSubmatch(m[2], -1) {
			text.WriteString(q[1])
		}
		records[m[1]] = text.String()
	}
	a.serve([]string{"submission"}, "queue.routes=b.test="+pf.addr, "queue.poll_interval=100ms")
	msg := "From: Alice <alice@a.test>\r\nTo: <bob@b.test>\r\nSubject: no id, no date\r\n\r\nHello through Postfix.\r\n"
	submit(t, a.addrs["submission"], "alice@a.test", "alice@a.test", []string{"bob@b.test"}, msg)
	var got []string
	eventually(t, "the message in Postfix's Maildir", func() bool { got = pf.messages(t); return len(got) > 0 })
	m := strings.ReplaceAll(got[0], "\r\n", "\n") // Maildir files have LF line ends
	m = strings.ReplaceAll(m, "\n", "\r\n")
	if ids := messageIDField.FindAllStringSubmatch(m, -1); len(ids) != 1 || !strings.HasSuffix(ids[0][1], "@mail.a.test>") {
		t.Errorf("want one Message-ID, by mail.a.test: %q\n%s", ids, m)
	}
	if n := len(dateField.FindAllString(m, -1)); n != 1 {
		t.Errorf("want one Date, got %d:\n%s", n, m)
	}
	if res := dkimtest.Verify(t, m, records); len(res) != 2 || res[0] != "pass" || res[1] != "pass" {
		t.Errorf("dkimpy on the message Postfix delivered: %q, want two passes\n%s", res, m)
	}
}

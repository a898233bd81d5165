package e2e_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/tlsutil"
)

// dovecot is a private Dovecot 2.3 IMAP server started by a test: its own
// config, base_dir and mail store under t.TempDir(), listening on
// loopback only, users from a passwd-file. No system service is touched.
type dovecot struct {
	addr string // IMAP, plain (STARTTLS with TLS)
	dir  string
	log  string
	// With dovecotOptions.TLS and POP3: the other listeners, and the
	// certificate (for dovecot.test) a client must trust.
	imaps, pop3, pop3s string
	cert               string
}

// dovecotOptions asks for more than the plain IMAP listener.
type dovecotOptions struct {
	POP3 bool // pop3 (and pop3s with TLS) listeners
	TLS  bool // a certificate for dovecot.test: STARTTLS/STLS and imaps/pop3s
	// CertHost replaces dovecot.test as the certificate's name.
	CertHost string
}

// dovecotMailboxes are the special-use mailboxes Pochta gives every
// account; Dovecot is configured with the same ones, created and
// subscribed, so both servers start from the same mailbox list.
var dovecotMailboxes = []struct{ name, use string }{
	{"Sent", `\Sent`}, {"Drafts", `\Drafts`}, {"Trash", `\Trash`}, {"Junk", `\Junk`}, {"Archive", `\Archive`},
}

// startDovecot starts Dovecot with the given users (address -> password),
// or skips the test when the dovecot binary is missing.
func startDovecot(t testing.TB, users map[string]string) *dovecot {
	t.Helper()
	return startDovecotWith(t, users, dovecotOptions{})
}

// startDovecotWith is startDovecot with more protocols and TLS.
func startDovecotWith(t testing.TB, users map[string]string, o dovecotOptions) *dovecot {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/dovecot"); e != nil {
			t.Skip("dovecot not installed (Debian package dovecot-imapd; .ci/run installs it)")
		}
		bin = "/usr/sbin/dovecot"
	}
	d := &dovecot{dir: t.TempDir()}
	d.log = filepath.Join(d.dir, "dovecot.log")
	// Mail processes must not run as root: as root, serve mail as
	// nobody:nogroup and let nobody reach the directory; otherwise
	// everything runs as the current user.
	uid, gid, extra := os.Getuid(), os.Getgid(), ""
	if uid == 0 {
		nobody, err := user.Lookup("nobody")
		if err != nil {
			t.Skipf("dovecot as root needs a nobody user: %v", err)
		}
		uid, _ = strconv.Atoi(nobody.Uid)
		gid, _ = strconv.Atoi(nobody.Gid)
		for p := d.dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		me, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		// Without root nothing can chroot: anvil and imap-login run
		// unconfined (checked by hand with setpriv as nobody).
		extra = fmt.Sprintf("default_internal_user = %s\ndefault_login_user = %s\ndefault_internal_group = %s\n"+
			"service anvil {\n  chroot =\n}\nservice imap-login {\n  chroot =\n}\n",
			me.Username, me.Username, groupName(gid))
		if o.POP3 {
			extra += "service pop3-login {\n  chroot =\n}\n"
		}
	}
	protocols, ssl, mechs := "imap", "ssl = no\n", "plain login"
	if o.POP3 {
		protocols += " pop3"
		mechs += " apop" // the passwd-file has {PLAIN} passwords, which APOP needs
	}
	if o.TLS {
		d.cert = filepath.Join(d.dir, "cert.pem")
		key := filepath.Join(d.dir, "key.pem")
		host := o.CertHost
		if host == "" {
			host = "dovecot.test"
		}
		if err := tlsutil.WriteSelfSigned(tlsutil.SelfSigned{Hostname: host}, d.cert, key); err != nil {
			t.Fatal(err)
		}
		ssl = fmt.Sprintf("ssl = yes\nssl_cert = <%s\nssl_key = <%s\n", d.cert, key)
	}
	home := filepath.Join(d.dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	var passwd strings.Builder
	for u, p := range users {
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s:%d:%d::%s/%s::\n", u, p, uid, gid, home, u)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "passwd"), []byte(passwd.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	boxes := strings.Builder{}
	boxes.WriteString("  mailbox INBOX {\n    auto = subscribe\n  }\n")
	for _, m := range dovecotMailboxes {
		fmt.Fprintf(&boxes, "  mailbox %s {\n    special_use = %s\n    auto = subscribe\n  }\n", m.name, m.use)
	}
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = pochta-test-%[2]d
protocols = `+protocols+`
listen = 127.0.0.1
`+ssl+`disable_plaintext_auth = no
auth_mechanisms = `+mechs+`
log_path = %[1]s/dovecot.log
%[3]spassdb {
  driver = passwd-file
  args = %[1]s/passwd
}
userdb {
  driver = passwd-file
  args = %[1]s/passwd
}
mail_location = sdbox:~/mail
namespace inbox {
  inbox = yes
  separator = /
  prefix =
%[4]s}
protocol imap {
  mail_max_userip_connections = 200
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[5]d
  }
  inet_listener imaps {
    port = 0
  }
}
`, d.dir, port, extra, boxes.String(), port)
		conf += d.moreListeners(t, o)
		confPath := filepath.Join(d.dir, "dovecot.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-F", "-c", confPath)
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting dovecot: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		err := waitListening(d.addr, exited)
		if err == nil {
			t.Cleanup(func() {
				cmd.Process.Signal(os.Interrupt)
				select {
				case <-exited:
				case <-time.After(15 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
				if t.Failed() {
					t.Logf("dovecot log:\n%s", readTail(d.log))
				}
			})
			return d
		}
		cmd.Process.Kill()
		<-exited
		if attempt == 2 {
			t.Fatalf("dovecot did not start: %v\n%s\n%s", err, out, readTail(d.log))
		}
	}
}

// moreListeners configures the imaps, pop3 and pop3s listeners o asks
// for (after the imap-login block: a later block for the same service
// adds to it).
func (d *dovecot) moreListeners(t testing.TB, o dovecotOptions) string {
	var b strings.Builder
	listener := func(addr *string, name string) string {
		port := freePort(t)
		*addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		return fmt.Sprintf("  inet_listener %s {\n    address = 127.0.0.1\n    port = %d\n  }\n", name, port)
	}
	if o.TLS {
		b.WriteString("service imap-login {\n" + listener(&d.imaps, "imaps") + "}\n")
	}
	if o.POP3 {
		b.WriteString("service pop3-login {\n" + listener(&d.pop3, "pop3"))
		if o.TLS {
			b.WriteString(listener(&d.pop3s, "pop3s"))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// freePort returns a loopback port that was free a moment ago (Dovecot
// cannot report an ephemeral port it bound).
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(addr string, exited chan error) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("dovecot exited: %v", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

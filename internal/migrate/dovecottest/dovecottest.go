// Package dovecottest runs a private Dovecot (Debian's dovecot-core) from a
// test's temporary directory: dovecot-lda delivers, doveadm inspects and
// changes, and Dovecot's own pop3 and imap binaries serve a user over
// standard input, so tests compare Pochta with the real thing.
package dovecottest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// Dovecot is a private Dovecot instance for one test.
type Dovecot struct {
	t    *testing.T
	Dir  string // its private directory (config, log, runtime state)
	Conf string // the dovecot.conf path
	Home string // the home directory of every user
	Lib  string // where dovecot-lda, pop3 and imap are
}

// find locates Dovecot or skips the test.
func find(t *testing.T) (master, lib string) {
	for _, p := range []string{"dovecot", "/usr/sbin/dovecot"} {
		if m, err := exec.LookPath(p); err == nil {
			master = m
			break
		}
	}
	lib = "/usr/lib/dovecot"
	missing := ""
	if master == "" {
		missing = "dovecot is not installed (Debian: dovecot-core)"
	}
	for _, bin := range []string{"dovecot-lda", "pop3", "imap"} {
		if _, err := os.Stat(filepath.Join(lib, bin)); err != nil && missing == "" {
			missing = bin + " is not in " + lib + " (Debian: dovecot-core, dovecot-pop3d, dovecot-imapd)"
		}
	}
	if missing != "" {
		// Under .ci/run, which installs them, a missing program fails the
		// test instead of letting it pass by not running.
		if os.Getenv(prototest.RequireToolsEnv) == "1" {
			t.Fatal(missing)
		}
		t.Skip(missing)
	}
	return master, lib
}

// Start runs a private Dovecot master (no protocols: only auth, for the
// userdb lookups of dovecot-lda, doveadm, pop3 and imap) with
// mailLocation, e.g. "maildir:~/Maildir". It saves POP3 UIDLs
// (pop3_save_uidl) with Dovecot's default format. Stopped at cleanup.
func Start(t *testing.T, mailLocation string) *Dovecot {
	t.Helper()
	master, lib := find(t)
	dir := t.TempDir()
	d := &Dovecot{t: t, Dir: dir, Conf: filepath.Join(dir, "dovecot.conf"), Home: filepath.Join(dir, "home"), Lib: lib}
	for _, s := range []string{"run", "state", "home"} {
		if err := os.Mkdir(filepath.Join(dir, s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	uid, gid := os.Getuid(), os.Getgid()
	internal := ""
	if uid == 0 {
		// Dovecot refuses to run mail processes as root: use nobody, who
		// must be able to reach the home directory.
		uid, gid = 65534, 65534
		for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(d.Home, uid, gid); err != nil {
			t.Fatal(err)
		}
	} else if u, err := user.Current(); err == nil {
		internal = fmt.Sprintf("default_internal_user = %s\ndefault_login_user = %s\n", u.Username, u.Username)
	}
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/log
ssl = no
protocols =
first_valid_uid = 1
%[5]smail_location = %[2]s
mbox_lazy_writes = no
pop3_save_uidl = yes
pop3_uidl_format = %%08Xu%%08Xv
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=%[3]d gid=%[4]d home=%[1]s/home allow_all_users=yes
}
`, dir, mailLocation, uid, gid, internal)
	if err := os.WriteFile(d.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(master, "-F", "-c", d.Conf)
	if out, err := cmd.StdoutPipe(); err == nil {
		go io.Copy(io.Discard, out)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	// Ready when auth's userdb socket exists.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "run", "auth-userdb")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("dovecot did not start:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

// Run runs a program as the test's Dovecot user sees it and returns its
// standard output; failing, it fails the test with Dovecot's log.
func (d *Dovecot) Run(stdin string, name string, args ...string) string {
	d.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "HOME="+d.Home)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		log, _ := os.ReadFile(filepath.Join(d.Dir, "log"))
		d.t.Fatalf("%s %q: %v\n%s\n%s", name, args, err, stderr, log)
	}
	return string(out)
}

// Deliver delivers msg to the user tester's mailbox with dovecot-lda.
func (d *Dovecot) Deliver(mailbox, msg string) {
	d.t.Helper()
	d.Run(msg, filepath.Join(d.Lib, "dovecot-lda"), "-c", d.Conf, "-d", "tester", "-f", "a@example.org", "-m", mailbox)
}

// Doveadm runs doveadm against this instance.
func (d *Dovecot) Doveadm(args ...string) string {
	d.t.Helper()
	return d.Run("", "doveadm", append([]string{"-c", d.Conf}, args...)...)
}

// Table runs a doveadm command with the tab formatter and returns its rows
// as maps from column name to value.
func (d *Dovecot) Table(args ...string) []map[string]string {
	d.t.Helper()
	lines := strings.Split(strings.TrimRight(d.Doveadm(append([]string{"-f", "tab"}, args...)...), "\n"), "\n")
	var rows []map[string]string
	head := strings.Split(lines[0], "\t")
	for _, l := range lines[1:] {
		row := map[string]string{}
		for i, v := range strings.Split(l, "\t") {
			if i < len(head) {
				row[head[i]] = v
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// POP3 runs Dovecot's pop3 for the user tester with the given commands
// (CRLF added) and returns its output; extra are "-o key=value" options.
func (d *Dovecot) POP3(commands []string, extra ...string) string {
	d.t.Helper()
	args := append([]string{"-c", d.Conf}, extra...)
	return d.Run(strings.Join(commands, "\r\n")+"\r\n", filepath.Join(d.Lib, "pop3"), append(args, "-u", "tester")...)
}

// IMAP runs Dovecot's imap for the user tester (pre-authenticated) with
// the given tagged commands and returns its output.
func (d *Dovecot) IMAP(commands ...string) string {
	d.t.Helper()
	return d.Run(strings.Join(commands, "\r\n")+"\r\n", filepath.Join(d.Lib, "imap"), "-c", d.Conf, "-u", "tester")
}

// Own gives the tree at path to the user Dovecot's mail processes run as
// (nobody when the test runs as root), so Dovecot can read and index files
// a test wrote there.
func (d *Dovecot) Own(path string) {
	d.t.Helper()
	if os.Getuid() != 0 {
		return
	}
	err := filepath.WalkDir(path, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 65534, 65534)
	})
	if err != nil {
		d.t.Fatal(err)
	}
}

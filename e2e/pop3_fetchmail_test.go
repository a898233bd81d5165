package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFetchmail drives `pochta serve` with fetchmail, the classic
// unattended POP3 client: UIDL mode with --keep fetches each message once
// across runs, --all without --keep fetches everything and deletes it.
// Each message is handed to an MDA that writes it to its own file; what
// arrives must be what `pochta deliver` stored, give or take fetchmail's
// own Received header and its CRLF -> LF conversion for MDAs.
func TestFetchmail(t *testing.T) {
	need(t, "fetchmail", "fetchmail")
	const user, pass = "dora@example.test", "fetch me if you can"
	in := servedWith(t, user, pass, "pop3", "pop3s")
	fm := newFetchmail(t, user, pass)

	// Plain POP3, opportunistic STLS off: everything, then nothing new.
	plain := fetchmailOptions{addr: in.addrs["pop3"], tls: `sslproto ""`, keep: true, uidl: true}
	fm.expect(plain, testMessages...)
	fm.expect(plain)
	// A new message: only it is fetched.
	third := "From: erin@example.org\nTo: dora@example.test\nSubject: third\n\n.leading dot\nend\n"
	in.deliver(user, third)
	fm.expect(plain, third)

	// STLS, then POP3S: a fresh UIDL list fetches all three again.
	fm.resetUIDLs()
	fm.expect(fetchmailOptions{addr: in.addrs["pop3"], tls: `sslproto "TLS1.2+" no sslcertck`, keep: true, uidl: true},
		append(slices.Clone(testMessages), third)...)
	fm.resetUIDLs()
	fm.expect(fetchmailOptions{addr: in.addrs["pop3s"], tls: "ssl no sslcertck", keep: true, uidl: true},
		append(slices.Clone(testMessages), third)...)

	// Fetch all and delete (POP3S): the maildrop ends empty.
	fm.expect(fetchmailOptions{addr: in.addrs["pop3s"], tls: "ssl no sslcertck", all: true},
		append(slices.Clone(testMessages), third)...)
	p, err := dialPOP3(in.addrs["pop3"])
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if _, err := p.login(user, pass); err != nil {
		t.Fatal(err)
	}
	if n, err := p.stat(); err != nil || n != 0 {
		t.Fatalf("after fetchmail deleted everything, STAT = %d, %v", n, err)
	}
}

// TestFetchmailIMAP: fetchmail over IMAP (plain, STARTTLS, IMAPS): it fetches what is unseen
// and marks it \Seen, so a second run finds nothing; without keep it
// deletes what it fetched (STORE \Deleted, EXPUNGE) and INBOX ends empty.
func TestFetchmailIMAP(t *testing.T) {
	need(t, "fetchmail", "fetchmail")
	const user, pass = "fred@example.test", "fetch over imap"
	in := servedWith(t, user, pass, "imap", "imaps")
	fm := newFetchmail(t, user, pass)

	plain := fetchmailOptions{proto: "IMAP", addr: in.addrs["imap"], tls: `sslproto ""`, keep: true}
	fm.expect(plain, testMessages...)
	fm.expect(plain)
	third := "From: erin@example.org\nTo: fred@example.test\nSubject: third\n\nover IMAP\n"
	in.deliver(user, third)
	fm.expect(fetchmailOptions{proto: "IMAP", addr: in.addrs["imap"], tls: `sslproto "TLS1.2+" no sslcertck`, keep: true}, third)

	// IMAPS, everything (seen or not), then deleted.
	fm.expect(fetchmailOptions{proto: "IMAP", addr: in.addrs["imaps"], tls: "ssl no sslcertck", all: true},
		append(slices.Clone(testMessages), third)...)
	res, err := imapSession(t, in.addrs["imap"], user, pass).MustOK("STATUS INBOX (MESSAGES)")
	if err != nil || len(res.Named("STATUS")) != 1 || !strings.Contains(res.Named("STATUS")[0].String(), "(MESSAGES 0)") {
		t.Fatalf("after fetchmail fetched and deleted everything: %v %v", res.Untagged, err)
	}
}

// fetchmail runs fetchmail in a private home directory, so its UIDL list
// (.fetchids), lock file and run control file stay in the test.
type fetchmail struct {
	t          *testing.T
	home       string
	out        string // the MDA writes one file per message here
	user, pass string
	runs       int
}

type fetchmailOptions struct {
	proto string // POP3 (default) or IMAP
	addr  string
	tls   string // TLS options in fetchmailrc syntax
	keep  bool
	uidl  bool
	all   bool
}

func newFetchmail(t *testing.T, user, pass string) *fetchmail {
	home := t.TempDir()
	out := filepath.Join(home, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	return &fetchmail{t: t, home: home, out: out, user: user, pass: pass}
}

func (f *fetchmail) resetUIDLs() {
	if err := os.Remove(filepath.Join(f.home, ".fetchids")); err != nil && !os.IsNotExist(err) {
		f.t.Fatal(err)
	}
}

// expect runs fetchmail once and checks it delivered exactly want (in any
// order; none means fetchmail must report that there was no new mail).
func (f *fetchmail) expect(o fetchmailOptions, want ...string) {
	f.t.Helper()
	f.runs++
	dir := filepath.Join(f.out, fmt.Sprint(f.runs))
	if err := os.Mkdir(dir, 0o700); err != nil {
		f.t.Fatal(err)
	}
	host, port := splitHostPort(f.t, o.addr)
	var opts []string
	if o.keep {
		opts = append(opts, "keep")
	} else {
		opts = append(opts, "nokeep")
	}
	server := "no uidl"
	if o.uidl {
		server = "uidl"
	}
	if o.all {
		opts = append(opts, "fetchall")
	}
	proto := o.proto
	if proto == "" {
		proto = "POP3"
	}
	if proto != "POP3" {
		server = "" // uidl is a POP3 option
	}
	// fetchmail passes the MDA to /bin/sh: $$ differs per message.
	rc := fmt.Sprintf("set no syslog\nset no bouncemail\n"+
		"poll %s protocol %s service %s auth password %s\n"+
		"  user %q password %q is root here\n"+
		"  %s %s no rewrite mda \"cat > %s/$$.eml\"\n",
		host, proto, port, server, f.user, f.pass, o.tls, strings.Join(opts, " "), dir)
	rcFile := filepath.Join(f.home, "fetchmailrc")
	if err := os.WriteFile(rcFile, []byte(rc), 0o600); err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "fetchmail", "--nodetach", "--fetchmailrc", rcFile,
		"--idfile", filepath.Join(f.home, ".fetchids"), "--pidfile", filepath.Join(f.home, "fetchmail.pid"), "-v")
	cmd.Env = append(os.Environ(), "HOME="+f.home, "FETCHMAILHOME="+f.home)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	err := cmd.Run()
	// Exit 0: mail was fetched; 1: there was none (fetchmail(1)).
	wantCode := 0
	if len(want) == 0 {
		wantCode = 1
	}
	if code := cmd.ProcessState.ExitCode(); code != wantCode {
		f.t.Fatalf("fetchmail exited %d (%v), want %d\nrc:\n%s\noutput:\n%s", code, err, wantCode, rc, output.String())
	}

	var got []string
	files, err := os.ReadDir(dir)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, fi := range files {
		b, err := os.ReadFile(filepath.Join(dir, fi.Name()))
		if err != nil {
			f.t.Fatal(err)
		}
		got = append(got, withoutReceived(string(b)))
	}
	slices.Sort(got)
	wantSorted := slices.Clone(want)
	slices.Sort(wantSorted)
	if !slices.Equal(got, wantSorted) {
		f.t.Fatalf("fetchmail delivered %d messages, want %d\n got %q\nwant %q\noutput:\n%s",
			len(got), len(want), truncAll(got), truncAll(wantSorted), output.String())
	}
}

// withoutReceived drops the Received header fetchmail prepends (with its
// folded continuation lines).
func withoutReceived(m string) string {
	rest, ok := strings.CutPrefix(m, "Received:")
	if !ok {
		return m
	}
	for {
		_, after, found := strings.Cut(rest, "\n")
		if !found {
			return ""
		}
		rest = after
		if !strings.HasPrefix(rest, " ") && !strings.HasPrefix(rest, "\t") {
			return rest
		}
	}
}

func truncAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = trunc(s)
	}
	return out
}

func splitHostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		t.Fatalf("bad address %q", addr)
	}
	return addr[:i], addr[i+1:]
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// courier is Courier-IMAP's imapd and Courier's pop3d (Debian's
// courier-imap and courier-pop) serving one Maildir on loopback: each
// connection runs the server binary on it as inetd would, imapd
// pre-authenticated (as it runs from a shell: "* PREAUTH") and pop3d as
// after Courier's login (AUTHENTICATED set), so no authentication daemon
// is needed.
type courier struct {
	home              string // the Maildir is home/Maildir
	imapAddr, popAddr string
}

// courierPrefixes are where the binaries are looked for: installed, or
// extracted from the packages (dpkg-deb -x) into /opt/courier. .ci/run
// does the latter: courier-imap and courier-pop conflict with
// dovecot-imapd and dovecot-pop3d, which other tests need.
var courierPrefixes = []string{"/", "/opt/courier"}

func startCourier(t *testing.T) *courier {
	t.Helper()
	var imapd, pop3d string
	for _, p := range courierPrefixes {
		i, p3 := filepath.Join(p, "usr/bin/imapd"), filepath.Join(p, "usr/lib/courier/courier/courierpop3d")
		if _, err := os.Stat(i); err != nil {
			continue
		}
		if _, err := os.Stat(p3); err != nil {
			continue
		}
		imapd, pop3d = i, p3
		break
	}
	if imapd == "" {
		msg := "Courier's imapd and courierpop3d are in none of " + strings.Join(courierPrefixes, ", ") +
			" (Debian courier-imap and courier-pop, extracted by .ci/run)"
		if os.Getenv(prototest.RequireToolsEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	c := &courier{home: t.TempDir()}
	run := func(bin string, env ...string) func(net.Conn) {
		return func(conn net.Conn) {
			defer conn.Close()
			// The socket itself is the server's standard input and
			// output, as under inetd or couriertcpd.
			f, err := conn.(*net.TCPConn).File()
			if err != nil {
				return
			}
			defer f.Close()
			cmd := exec.Command(bin, "./Maildir")
			cmd.Dir = c.home
			cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + c.home}, env...)
			cmd.Stdin, cmd.Stdout = f, f
			cmd.Run()
		}
	}
	// IMAP_KEYWORDS=1 as Debian's /etc/courier/imapd sets it: without it
	// imapd refuses keywords.
	c.imapAddr = prototest.ServeLoopback(t, run(imapd, "IMAP_KEYWORDS=1"))
	c.popAddr = prototest.ServeLoopback(t, run(pop3d, "AUTHENTICATED=tester", "TCPREMOTEIP=127.0.0.1", "TCPREMOTEPORT=0"))
	return c
}

// session sends lines to addr and returns everything the server sent
// until it closed the connection (the last line logs out).
func (c *courier) session(t *testing.T, addr string, lines ...string) string {
	t.Helper()
	return lineSession(t, addr, lines...)
}

// lineSession sends lines (CRLF added) to addr at once and returns
// everything the server sent until it closed the connection (the last
// line logs out).
func lineSession(t *testing.T, addr string, lines ...string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go fmt.Fprint(conn, strings.Join(lines, "\r\n")+"\r\n")
	out, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

var courierBodyRE = regexp.MustCompile(`(?m)^\* \d+ FETCH \(UID (\d+) BODY\[\] \{(\d+)\}\r\n`)

// view is what Courier serves of a mailbox: UIDVALIDITY, UIDs and flags,
// every message's text, and for INBOX its POP3 UIDLs.
func (c *courier) view(t *testing.T, mailbox string) mailboxView {
	t.Helper()
	out := c.session(t, c.imapAddr, `a SELECT "`+mailbox+`"`, "b UID FETCH 1:* (UID FLAGS)", "c LOGOUT")
	if !strings.Contains(out, "a OK") {
		t.Fatalf("Courier SELECT %s: %s", mailbox, out)
	}
	v := parseIMAPView(t, out)
	v.Bodies = map[string]string{}
	out = c.session(t, c.imapAddr, `a EXAMINE "`+mailbox+`"`, "b UID FETCH 1:* (UID BODY.PEEK[])", "c LOGOUT")
	for _, m := range courierBodyRE.FindAllStringSubmatchIndex(out, -1) {
		n, _ := strconv.Atoi(out[m[4]:m[5]])
		v.Bodies[out[m[2]:m[3]]] = strings.ReplaceAll(out[m[1]:m[1]+n], "\r\n", "\n")
	}
	if mailbox == "INBOX" {
		for _, l := range strings.Split(c.session(t, c.popAddr, "UIDL", "QUIT"), "\r\n") {
			if n, uidl, ok := strings.Cut(l, " "); ok && n != "" && n[0] >= '1' && n[0] <= '9' {
				v.UIDLs = append(v.UIDLs, uidl)
			}
		}
	}
	return v
}

// deliver writes a message into a Maildir's new/, named as Courier's
// deliverquota names them.
func courierDeliver(t *testing.T, maildir string, i int, text string) {
	t.Helper()
	name := fmt.Sprintf("%d.M%dP%d.courier.example", 1700000000+i, i, 100+i)
	if err := os.WriteFile(filepath.Join(maildir, "new", name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestImportCourierMaildir: a Maildir that real Courier served, over IMAP
// (which wrote courierimapuiddb: UIDVALIDITY, UIDs, with an expunge in
// between) and POP3 (courierpop3dsizelist: its own UIDVALIDITY and
// numbers), with two messages delivered after both, is imported with
// pochta import and served by pochta serve: Python's imaplib and poplib
// see the UIDVALIDITY, UIDs, flags, texts and POP3 UIDLs Courier served
// for the same Maildir (the later two's as Courier gives them at its next
// session).
func TestImportCourierMaildir(t *testing.T) {
	prototest.NeedProgram(t, "python3", "python3")
	c := startCourier(t)
	md := filepath.Join(c.home, "Maildir")
	for _, d := range []string{md, filepath.Join(md, ".Sent")} {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(d, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(md, ".Sent", "maildirfolder"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	msg := func(subject string) string {
		return "From: a@example.org\nTo: tester@example.org\nSubject: " + subject + "\nMessage-ID: <" +
			strings.ReplaceAll(subject, " ", ".") + "@example.org>\n\nhello\n"
	}
	for i := 1; i <= 4; i++ {
		courierDeliver(t, md, i, msg(fmt.Sprint("inbox ", i)))
	}
	courierDeliver(t, filepath.Join(md, ".Sent"), 9, msg("sent"))
	out := c.session(t, c.imapAddr, "a SELECT INBOX", `b UID STORE 1 +FLAGS (\Seen \Answered)`, `c UID STORE 2 +FLAGS (\Flagged)`,
		`d UID STORE 3 +FLAGS (\Deleted)`, "e EXPUNGE", "f SELECT INBOX.Sent", `g UID STORE 1 +FLAGS (\Seen)`, "h LOGOUT")
	if strings.Count(out, " OK ") < 8 {
		t.Fatalf("Courier IMAP session:\n%s", out)
	}
	out = c.session(t, c.popAddr, "UIDL", "QUIT")
	if !strings.Contains(out, "1 UID1-") {
		t.Fatalf("Courier POP3 session:\n%s", out)
	}
	courierDeliver(t, md, 7, msg("inbox 7"))
	courierDeliver(t, md, 6, msg("inbox 6"))
	for _, f := range []string{"courierimapuiddb", "courierpop3dsizelist"} {
		b, err := os.ReadFile(filepath.Join(md, f))
		if err != nil {
			t.Fatalf("Courier wrote no %s: %v", f, err)
		}
		t.Logf("Courier's %s:\n%s", f, b)
	}
	// The import reads a copy as Courier left it; Courier then serves the
	// original, numbering the two new messages.
	src := filepath.Join(t.TempDir(), "Maildir")
	if out, err := exec.Command("cp", "-a", md, src).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	want := map[string]mailboxView{"INBOX": c.view(t, "INBOX"), "Sent": c.view(t, "INBOX.Sent")}
	if len(want["INBOX"].UIDLs) != 5 || len(want["INBOX"].Flags) != 5 || len(want["INBOX"].Bodies) != 5 {
		t.Fatalf("Courier serves %+v, want 5 INBOX messages", want["INBOX"])
	}

	dir := newDir(t)
	must(t, "secret-pw\n", "-d", dir, "user", "add", "tester@example.test", "--password-stdin")
	out = must(t, "", "-d", dir, "import", "tester@example.test", src)
	t.Logf("pochta import:\n%s", out)
	if !strings.Contains(out, "imported: 6 messages") || strings.Contains(out, "skipped") {
		t.Errorf("import:\n%s", out)
	}
	compareServed(t, dir, want)
}

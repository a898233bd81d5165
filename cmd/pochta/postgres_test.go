package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/prototest"
	"github.com/pochta-mail/pochta/internal/store/postgres"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// cluster initialises two nodes on one fresh PostgreSQL database: node A
// with --domain example.test and a user, node B joining with the same
// command and no --domain.
func cluster(t *testing.T) (dsn, dirA, dirB string) {
	t.Helper()
	dsn = pgtest.Database(t)
	dirA = filepath.Join(t.TempDir(), "a")
	dirB = filepath.Join(t.TempDir(), "b")
	must(t, "", "init", "-d", dirA, "--postgres", dsn, "--domain", "example.test", "--hostname", "a.example.test")
	must(t, "", "init", "-d", dirB, "--postgres", dsn, "--hostname", "b.example.test")
	must(t, "secret\n", "-d", dirA, "user", "add", "u@example.test", "--password-stdin")
	return dsn, dirA, dirB
}

func TestInitPostgresJoin(t *testing.T) {
	dsn, dirA, dirB := cluster(t)
	if out := must(t, "", "-d", dirB, "user", "list"); !strings.Contains(out, "u@example.test") {
		t.Errorf("node B does not see the user added on node A:\n%s", out)
	}
	if out := must(t, "", "-d", dirB, "domain", "list"); !strings.Contains(out, "example.test") {
		t.Errorf("node B does not see the domain:\n%s", out)
	}
	must(t, "Subject: hi\n\nfrom B\n", "-d", dirB, "deliver", "u@example.test")
	must(t, "Subject: hi\n\nfrom A\n", "-d", dirA, "deliver", "u@example.test")
	st, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := st.Account(t.Context(), "u@example.test")
	if err != nil {
		t.Fatal(err)
	}
	got := storetest.Bodies(t, st, a.ID)
	if len(got) != 2 || !strings.Contains(got[0], "from B") || !strings.Contains(got[1], "from A") {
		t.Errorf("INBOX after deliveries on B then A: %q", got)
	}
	// Nothing of the mail is kept in the nodes' directories.
	for _, dir := range []string{dirA, dirB} {
		if m, _ := filepath.Glob(filepath.Join(dir, "pochta.db*")); len(m) > 0 {
			t.Errorf("%s holds a SQLite database: %v", dir, m)
		}
	}
}

// TestPostgresTwoNodes runs two `pochta serve` nodes on one database and
// checks what makes them one server: the POP3 maildrop lock holds across
// them, an IMAP IDLE on A hears a delivery made on B, and the queue
// workers of both send each queued message exactly once.
func TestPostgresTwoNodes(t *testing.T) {
	_, dirA, dirB := cluster(t)
	sink := newSink(t)
	const queued = 20
	must(t, "", "-d", dirA, "alias", "add", "out@example.test", "far@remote.test")
	opts := []string{"queue.routes=remote.test=" + sink.addr, "queue.poll_interval=50ms", "queue.mta_sts=false",
		"queue.tls_reports=false", "smtp.auth_checks=false"}
	a := serve(t, dirA, opts...)
	b := serve(t, dirB, opts...)

	t.Run("QueueOnce", func(t *testing.T) {
		// Queued while both workers poll: either may claim each one.
		for i := range queued {
			dir := []string{dirA, dirB}[i%2]
			must(t, fmt.Sprintf("Subject: queued %d\n\nbody\n", i), "-d", dir, "deliver", "-f", "u@example.test", "out@example.test")
		}
		eventually(t, "the sink received every queued message", func() bool { return sink.count() >= queued })
		eventually(t, "the queue is empty", func() bool { return must(t, "", "-d", dirB, "queue", "list") == "" })
		for subject, n := range sink.subjects() {
			if n != 1 {
				t.Errorf("%q was sent %d times", subject, n)
			}
		}
		if n := len(sink.subjects()); n != queued {
			t.Errorf("the sink got %d distinct messages, want %d", n, queued)
		}
		t.Logf("senders: %v", sink.helos())
	})

	t.Run("POP3LockAcrossNodes", func(t *testing.T) {
		pa := pop3Open(t, a.addr("pop3"))
		if got := pop3Login(t, b.addr("pop3"), "u@example.test", "secret"); !strings.HasPrefix(got, "-ERR [IN-USE]") {
			t.Fatalf("login on B while A holds the maildrop: %q, want -ERR [IN-USE]", got)
		}
		pop3Cmd(t, pa, "QUIT")
		if got := pop3Login(t, b.addr("pop3"), "u@example.test", "secret"); !strings.HasPrefix(got, "+OK") {
			t.Fatalf("login on B after A's QUIT: %q", got)
		}
	})

	t.Run("IdleHearsOtherNode", func(t *testing.T) {
		c, r := imapLogin(t, a.addr("imap"))
		imapExpect(t, c, r, "b SELECT INBOX", "b OK")
		imapExpect(t, c, r, "c IDLE", "+ ")
		start := time.Now()
		smtpDeliver(t, b.addr("smtp"), "u@example.test", "Subject: via B\r\n\r\nhello\r\n")
		// The deadline only keeps a broken test from hanging: the
		// notification normally arrives in milliseconds. The time is
		// logged, not asserted (the bound is 1 s; a loaded CI
		// machine must not fail the suite for a slow scheduler).
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for EXISTS during IDLE on A: %v", err)
			}
			if strings.HasPrefix(line, "* ") && strings.Contains(line, " EXISTS") {
				break
			}
		}
		t.Logf("EXISTS on A %v after the SMTP session on B began (that session included)", time.Since(start))
		imapExpect(t, c, r, "DONE", "c OK")
	})

	// Real clients on node B read what node A accepted.
	t.Run("ClientsOnOtherNode", func(t *testing.T) {
		prototest.NeedProgram(t, "python3", "python3")
		prototest.NeedProgram(t, "curl", "curl")
		smtpDeliver(t, a.addr("smtp"), "u@example.test", "Subject: via A\r\n\r\nfor clients on B\r\n")
		imapHost, imapPort, _ := net.SplitHostPort(b.addr("imap"))
		popHost, popPort, _ := net.SplitHostPort(b.addr("pop3"))
		out, err := exec.Command("python3", "-c", pyClientsScript, imapHost, imapPort, popHost, popPort).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "imaplib: for clients on B") ||
			!strings.Contains(string(out), "poplib: for clients on B") {
			t.Fatalf("python imaplib/poplib on node B: %v\n%s", err, out)
		}
		for _, url := range []string{
			"imap://" + b.addr("imap") + "/INBOX;UID=*",
			"pop3://" + b.addr("pop3") + "/2", // after IdleHearsOtherNode's "via B"
		} {
			out, err := exec.Command("curl", "-sS", "--max-time", "20", "-u", "u@example.test:secret", url).CombinedOutput()
			if err != nil {
				t.Fatalf("curl %s: %v\n%s", url, err, out)
			}
			if !strings.Contains(string(out), "Subject: via A") || !strings.Contains(string(out), "for clients on B") {
				t.Errorf("curl %s: %q is not the message delivered on A", url, out)
			}
		}
	})

	// mbsync, a sync client, against node B: it pulls the folders and
	// messages node A made and accepted, and what it pushes back (a flag,
	// a deletion, a message written offline) is what node A serves.
	t.Run("MbsyncOnOtherNode", func(t *testing.T) {
		prototest.NeedProgram(t, "mbsync", "isync")
		c, r := imapLogin(t, a.addr("imap"))
		imapExpect(t, c, r, "m1 CREATE Lists/go", "m1 OK")
		smtpDeliver(t, a.addr("smtp"), "u@example.test", "Subject: keep and flag\r\n\r\nsynced from B\r\n")
		smtpDeliver(t, a.addr("smtp"), "u@example.test", "Subject: delete on the laptop\r\n\r\nbye\r\n")
		local := filepath.Join(t.TempDir(), "mail")
		rc := prototest.MbsyncConfig(t, b.addr("imap"), "u@example.test", "secret", local)
		mbsync(t, rc)
		if _, err := os.Stat(filepath.Join(local, "Lists", "go", "cur")); err != nil {
			t.Errorf("folder made on A not synced from B: %v", err)
		}
		status := imapLine(t, c, r, "m2 STATUS INBOX (MESSAGES)", "* STATUS")
		files := maildirBySubject(t, filepath.Join(local, "INBOX"))
		if want := fmt.Sprintf("(MESSAGES %d)", len(files)); !strings.Contains(status, want) {
			t.Errorf("mbsync on B fetched %d messages; A says %q", len(files), status)
		}
		keep, gone := files["keep and flag"], files["delete on the laptop"]
		if keep == "" || gone == "" {
			t.Fatalf("the messages delivered on A are not in the Maildir synced from B: %v", files)
		}
		// Flag one, delete one, write one, then sync with B again.
		base, info, _ := strings.Cut(keep, ":2,")
		if err := os.Rename(keep, base+":2,F"+info); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(gone); err != nil {
			t.Fatal(err)
		}
		offline := "From: u@example.test\nSubject: written offline\n\nfrom the train\n"
		if err := os.WriteFile(filepath.Join(local, "INBOX", "new", "1700000000.P1Q1.laptop"), []byte(offline), 0o600); err != nil {
			t.Fatal(err)
		}
		mbsync(t, rc)
		imapExpect(t, c, r, "m3 EXAMINE INBOX", "m3 OK")
		flagged := imapLine(t, c, r, "m4 SEARCH FLAGGED", "* SEARCH")
		kept := imapLine(t, c, r, `m5 SEARCH SUBJECT "keep and flag"`, "* SEARCH")
		if strings.TrimSpace(flagged) != strings.TrimSpace(kept) || strings.TrimSpace(kept) == "* SEARCH" {
			t.Errorf("on A, flagged messages %q, the one flagged on the laptop %q", flagged, kept)
		}
		if got := imapLine(t, c, r, `m6 SEARCH SUBJECT "delete on the laptop"`, "* SEARCH"); strings.TrimSpace(got) != "* SEARCH" {
			t.Errorf("on A, the message deleted on the laptop is still there: %q", got)
		}
		if got := imapLine(t, c, r, `m7 SEARCH SUBJECT "written offline"`, "* SEARCH"); strings.TrimSpace(got) == "* SEARCH" {
			t.Errorf("on A, the message written offline was not pushed through B: %q", got)
		}
	})
}

// mbsync runs one full sync with the configuration at rc.
func mbsync(t *testing.T, rc string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "mbsync", "-c", rc, "-a").CombinedOutput(); err != nil {
		t.Fatalf("mbsync: %v\n%s", err, out)
	}
}

// maildirBySubject maps the Subject of every message in a Maildir folder
// (cur and new) to its file.
func maildirBySubject(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, sub := range []string{"cur", "new"} {
		files, err := filepath.Glob(filepath.Join(dir, sub, "*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			subject := f // a message without a Subject still counts
			for _, line := range strings.Split(string(data), "\n") {
				if s, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "Subject: "); ok {
					subject = s
					break
				}
			}
			out[subject] = f
		}
	}
	return out
}

// pyClientsScript reads the newest message of u@example.test with
// Python's imaplib and poplib (IMAP host and port, POP3 host and port).
const pyClientsScript = `
import imaplib, poplib, sys
ih, ip, ph, pp = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
m = imaplib.IMAP4(ih, ip)
m.login("u@example.test", "secret")
typ, data = m.select("INBOX")
n = int(data[0])
typ, msg = m.fetch(str(n), "(BODY.PEEK[TEXT])")
print("imaplib:", msg[0][1].decode().strip())
m.logout()
p = poplib.POP3(ph, pp, timeout=20)
p.user("u@example.test")
p.pass_("secret")
count, _ = p.stat()
resp, lines, _ = p.retr(count)
print("poplib:", lines[-1].decode())
p.quit()
`

// pop3Open logs u@example.test in over POP3 and returns the session.
func pop3Open(t *testing.T, addr string) *bufio.ReadWriter {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rw := bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
	if line, _ := rw.ReadString('\n'); !strings.HasPrefix(line, "+OK") {
		t.Fatalf("POP3 greeting %q", line)
	}
	pop3Cmd(t, rw, "USER u@example.test")
	if got := pop3Cmd(t, rw, "PASS secret"); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("PASS: %q", got)
	}
	return rw
}

func pop3Cmd(t *testing.T, rw *bufio.ReadWriter, line string) string {
	t.Helper()
	rw.WriteString(line + "\r\n")
	rw.Flush()
	got, err := rw.ReadString('\n')
	if err != nil && line != "QUIT" {
		t.Fatalf("POP3 %s: %v", line, err)
	}
	return got
}

// imapLogin logs u@example.test in over IMAP; the connection is closed
// when the test ends.
func imapLogin(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	imapExpect(t, c, r, "", "* OK")
	imapExpect(t, c, r, "a LOGIN u@example.test secret", "a OK")
	return c, r
}

// imapExpect sends line (unless empty) and reads until a line starting
// with want.
func imapExpect(t *testing.T, c net.Conn, r *bufio.Reader, line, want string) {
	t.Helper()
	imapLine(t, c, r, line, want)
}

// imapLine sends line (unless empty) and returns the first line starting
// with want; when want is untagged data ("* ...") of a tagged command, it
// reads on to the command's OK.
func imapLine(t *testing.T, c net.Conn, r *bufio.Reader, line, want string) string {
	t.Helper()
	tag, _, _ := strings.Cut(line, " ")
	found := ""
	if line != "" {
		fmt.Fprintf(c, "%s\r\n", line)
	}
	for {
		got, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("IMAP %q: %v", line, err)
		}
		switch {
		case found == "" && strings.HasPrefix(got, want):
			found = got
			if tag == "" || !strings.HasPrefix(want, "* ") {
				return found
			}
		case tag != "" && strings.HasPrefix(got, tag+" "):
			if found == "" || !strings.HasPrefix(got, tag+" OK") {
				t.Fatalf("IMAP %q: %q, want %q", line, got, want)
			}
			return found
		}
	}
}

// smtpDeliver hands a message to an MX listener (no TLS, no AUTH).
func smtpDeliver(t *testing.T, addr, rcpt, msg string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, msg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
}

// sink is a loopback SMTP server that accepts everything and counts the
// messages it receives by Subject.
type sink struct {
	addr string
	mu   sync.Mutex
	got  map[string]int
	from map[string]int // EHLO names
}

func newSink(t *testing.T) *sink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s := &sink{addr: l.Addr().String(), got: map[string]int{}, from: map[string]int{}}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.session(c)
		}
	}()
	return s
}

func (s *sink) session(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprint(c, "220 sink.test ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch verb {
		case "EHLO", "HELO":
			s.mu.Lock()
			s.from[strings.TrimSpace(line[4:])]++
			s.mu.Unlock()
			fmt.Fprint(c, "250 sink.test\r\n")
		case "DATA":
			fmt.Fprint(c, "354 go on\r\n")
			subject := ""
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				if strings.HasPrefix(l, "Subject: ") && subject == "" {
					subject = strings.TrimSpace(l[len("Subject: "):])
				}
			}
			s.mu.Lock()
			s.got[subject]++
			s.mu.Unlock()
			fmt.Fprint(c, "250 queued\r\n")
		case "QUIT":
			fmt.Fprint(c, "221 bye\r\n")
			return
		default:
			fmt.Fprint(c, "250 ok\r\n")
		}
	}
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.got {
		n += v
	}
	return n
}

func (s *sink) subjects() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.got)
}

func (s *sink) helos() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.from)
}

// TestMigrateToPostgres moves a SQLite installation into PostgreSQL and
// checks what POP3 and IMAP clients see before and after: the same UIDLs,
// the same UIDVALIDITY, UIDNEXT and UIDs.
func TestMigrateToPostgres(t *testing.T) {
	dir := newDir(t)
	must(t, "secret\n", "-d", dir, "user", "add", "u@example.test", "--password-stdin")
	for i := range 4 {
		must(t, fmt.Sprintf("Subject: %d\n\nbody %d\n", i, i), "-d", dir, "deliver", "u@example.test")
	}
	look := func() string {
		s := serve(t, dir)
		defer s.stop(t)
		rw := pop3Open(t, s.addr("pop3"))
		rw.WriteString("UIDL\r\n")
		rw.Flush()
		var out strings.Builder
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			out.WriteString(line)
			if line == ".\r\n" {
				break
			}
		}
		pop3Cmd(t, rw, "QUIT")
		c, r := imapLogin(t, s.addr("imap"))
		defer c.Close() // before serve stops
		fmt.Fprintf(c, "b STATUS INBOX (UIDVALIDITY UIDNEXT MESSAGES)\r\nc UID SEARCH ALL\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, "* ") {
				out.WriteString(line)
			}
			if strings.HasPrefix(line, "c ") {
				break
			}
		}
		return out.String()
	}
	before := look()
	must(t, "", "-d", dir, "migrate", "--to", "postgres", pgtest.Database(t))
	expect(t, exitError, "already uses", "", "-d", dir, "migrate", "--to", "postgres", "postgres://x/y")
	after := look()
	if before != after {
		t.Errorf("clients see a difference after migrating:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if !strings.Contains(after, "UIDVALIDITY") || strings.Count(after, "\r\n") < 7 {
		t.Errorf("too little to compare:\n%s", after)
	}
}

// TestPostgresNodeKilled kills a node holding a POP3 maildrop: within the
// lease another node serves the user, and the dead session's DELE was
// never applied.
func TestPostgresNodeKilled(t *testing.T) {
	_, dirA, dirB := cluster(t)
	for i := range 2 {
		must(t, fmt.Sprintf("Subject: %d\n\nbody\n", i), "-d", dirA, "deliver", "u@example.test")
	}
	a := serve(t, dirA, "store.lock_lease=3s")
	b := serve(t, dirB, "store.lock_lease=3s")
	pa := pop3Open(t, a.addr("pop3"))
	if got := pop3Cmd(t, pa, "DELE 1"); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("DELE 1: %q", got)
	}
	a.cmd.Process.Kill() // SIGKILL: no QUIT, no lock release
	a.cmd.Wait()
	eventually(t, "node B serves the user after node A died", func() bool {
		return strings.HasPrefix(pop3Login(t, b.addr("pop3"), "u@example.test", "secret"), "+OK")
	})
	pb := pop3Open(t, b.addr("pop3"))
	if got := pop3Cmd(t, pb, "STAT"); !strings.HasPrefix(got, "+OK 2 ") {
		t.Errorf("STAT on B: %q, want both messages (A's DELE was never committed)", got)
	}
	pop3Cmd(t, pb, "QUIT")
}

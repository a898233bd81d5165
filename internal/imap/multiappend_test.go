package imap

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// lit is a non-synchronising literal (LITERAL+) of s.
func lit(s string) string { return "{" + itoa(len(s)) + "+}\r\n" + s }

// bodies returns the stored bodies of a mailbox of alice's.
func (e *env) bodies(mailbox string) []string {
	e.t.Helper()
	ctx := context.Background()
	mb, err := e.store.GetMailbox(ctx, e.account(testUser).ID, mailbox)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, m := range e.messages(testUser, mailbox) {
		rc, err := e.store.OpenMessage(ctx, mb.ID, m.UID)
		if err != nil {
			e.t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// RFC 3502: several messages in one APPEND, all stored or none.
func TestMultiAppend(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) { s.AppendLimit = 400 << 10 }})
	r := e.login(false, false)
	if lines := mustOK(t, r, "CAPABILITY"); !hasCap(lines, "MULTIAPPEND") || !hasCap(lines, "CATENATE") {
		t.Fatalf("capabilities: %q", lines)
	}
	one := "Subject: one\r\n\r\nfirst\r\n"
	two := "Subject: two\r\n\r\nsecond\r\n"
	// Big enough to leave the spool's memory for a temporary file.
	three := "Subject: three\r\n\r\n" + strings.Repeat("third line\r\n", 30000)
	_, status := r.cmd(`APPEND Drafts (\Seen) ` + lit(one) + ` (\Draft $Work) " 6-May-2024 07:08:09 +0200" ` +
		lit(two) + " " + lit(three))
	m := regexp.MustCompile(`^OK \[APPENDUID \d+ (\d+):(\d+)\] APPEND completed$`).FindStringSubmatch(status)
	if m == nil || m[1] != "1" || m[2] != "3" {
		t.Fatalf("MULTIAPPEND: %q", status)
	}
	msgs := e.messages(testUser, "Drafts")
	if got := e.bodies("Drafts"); len(got) != 3 || got[0] != one || got[1] != two || got[2] != three {
		t.Fatalf("stored %d messages, want the three appended", len(got))
	}
	if !msgs[0].HasFlag(`\Seen`) || !msgs[1].HasFlag(`\Draft`) || !msgs[1].HasFlag("$Work") ||
		msgs[1].InternalDate.UTC().Format("2006-01-02 15:04") != "2024-05-06 05:08" {
		t.Errorf("flags and dates: %+v", msgs)
	}

	// Whatever fails stores none of the messages, however far the
	// command got.
	refusals := []struct{ cmd, status string }{
		{`APPEND Drafts ` + lit(one) + ` (\Bogus) ` + lit(two), "BAD"},
		{`APPEND Drafts ` + lit(one) + " " + lit(two) + " junk", "BAD"},
		{`APPEND Drafts ` + lit(one) + " CATENATE (URL \"/INBOX/;UID=99\")", "NO [BADURL /INBOX/;UID=99]"},
		{`APPEND Nope ` + lit(one) + " " + lit(two), "NO [TRYCREATE]"},
	}
	for _, c := range refusals {
		if _, status := r.cmd(c.cmd); !strings.HasPrefix(status, c.status) {
			t.Errorf("%.60q: %s, want %s", c.cmd, status, c.status)
		}
	}
	// A synchronising literal over APPENDLIMIT is refused before its
	// data, after earlier messages of the command were read.
	r.send("a1 APPEND Drafts " + lit(one) + " {" + itoa(400<<10+1) + "}")
	if l := r.line(); !strings.HasPrefix(l, "a1 NO [TOOBIG]") {
		t.Errorf("second message over APPENDLIMIT: %q", l)
	}
	// Over quota together, though each would fit alone.
	if err := e.store.SetQuota(context.Background(), testUser, int64(len(one)+len(two)+len(three)+len(one)+10)); err != nil {
		t.Fatal(err)
	}
	if _, status := r.cmd(`APPEND Drafts ` + lit(one) + " " + lit(one)); !strings.HasPrefix(status, "NO [OVERQUOTA]") {
		t.Errorf("MULTIAPPEND over quota: %s", status)
	}
	mustOK(t, r, "NOOP")
	if n := len(e.messages(testUser, "Drafts")); n != 3 {
		t.Errorf("Drafts has %d messages after the refused APPENDs, want 3", n)
	}
	// UIDs go on where they were: the refusals took none.
	if _, status := r.cmd(`APPEND Drafts ` + lit(one)); !strings.Contains(status, "APPENDUID") || !strings.Contains(status, " 4]") {
		t.Errorf("APPEND after the refusals: %s", status)
	}
}

// The multipart message CATENATE's examples take parts of.
const catSource = "From: a@example.org\r\nSubject: source\r\nMessage-ID: <src@example.org>\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nthe text part\r\n" +
	"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n"

// RFC 4469: a message made of literals and of parts of stored messages,
// as in its §5 example (a forward with the original's attachment).
func TestCatenate(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, catSource)
	r := e.login(false, false)
	inbox, err := e.store.GetMailbox(context.Background(), e.account(testUser).ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	v := itoa(inbox.UIDValidity)
	header := catSource[:strings.Index(catSource, "\r\n\r\n")+4]
	sep := "\r\n--b\r\n"
	part2 := "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	_, status := r.cmd(`APPEND Drafts (\Seen \Draft) CATENATE (URL "/INBOX;UIDVALIDITY=` + v + `/;UID=1/;SECTION=HEADER" ` +
		`TEXT ` + lit("preamble"+sep) +
		` URL "/INBOX/;UID=1/;SECTION=1.MIME" URL "/INBOX/;UID=1/;SECTION=1" TEXT ` + lit(sep) +
		` URL "imap://alice%40example.com@imap.example.com/INBOX/;UID=1/;SECTION=2.MIME" ` +
		`URL "imap://imap.example.com/INBOX;UIDVALIDITY=` + v + `/;UID=1/;SECTION=2" TEXT ` + lit("\r\n--b--\r\n") + ")")
	if !regexp.MustCompile(`^OK \[APPENDUID \d+ 1\]`).MatchString(status) {
		t.Fatalf("CATENATE: %s", status)
	}
	want := header + "preamble" + sep + "Content-Type: text/plain\r\n\r\n" + "the text part" + sep + part2 + "aGVsbG8=" + "\r\n--b--\r\n"
	if got := e.bodies("Drafts"); len(got) != 1 || got[0] != want {
		t.Fatalf("CATENATE built\n%q\nwant\n%q", got, want)
	}

	// Relative to the selected mailbox; HEADER.FIELDS and PARTIAL; a
	// CATENATE message in a MULTIAPPEND.
	mustOK(t, r, "SELECT INBOX")
	_, status = r.cmd(`APPEND Drafts CATENATE (URL ";UID=1/;SECTION=HEADER.FIELDS%20(SUBJECT%20MESSAGE-ID)" ` +
		`TEXT ` + lit("\r\n") + ` URL ";UID=1/;SECTION=1/;PARTIAL=4.4") ` + lit("Subject: plain\r\n\r\nplain\r\n"))
	if !regexp.MustCompile(`^OK \[APPENDUID \d+ 2:3\]`).MatchString(status) {
		t.Fatalf("CATENATE with a relative URL in a MULTIAPPEND: %s", status)
	}
	// (The store ends a body with a line break.)
	want = "Subject: source\r\nMessage-ID: <src@example.org>\r\n\r\n\r\ntext\r\n"
	if got := e.bodies("Drafts"); len(got) != 3 || got[1] != want {
		t.Fatalf("relative CATENATE built %q, want %q", got[1:], want)
	}

	// Bad URLs: NO [BADURL url], and nothing is stored.
	e.deliver(bobUser, testMessage(1))
	for _, u := range []string{
		"/INBOX;UIDVALIDITY=1/;UID=1", // another UIDVALIDITY
		"/INBOX/;UID=2",               // no such message
		"/Nope/;UID=1",                // no such mailbox
		"/INBOX/;UID=1/;SECTION=7",    // no such part
		"imap://bob%40example.com@imap.example.com/INBOX/;UID=1",                    // someone else's
		"/INBOX/;UID=1;EXPIRE=2030-01-01T00:00:00Z;URLAUTH=anonymous:internal:0123", // URLAUTH
		"http://example.com/",
	} {
		_, status := r.cmd(`APPEND Drafts CATENATE (TEXT ` + lit("x") + ` URL "` + u + `")`)
		if !strings.HasPrefix(status, "NO [BADURL "+u+"]") {
			t.Errorf("URL %s: %s", u, status)
		}
	}
	mustOK(t, r, "UNSELECT")
	if _, status := r.cmd(`APPEND Drafts CATENATE (URL ";UID=1")`); !strings.HasPrefix(status, "NO [BADURL") {
		t.Errorf("relative URL with nothing selected: %s", status)
	}
	if n := len(e.messages(testUser, "Drafts")); n != 3 {
		t.Errorf("Drafts has %d messages after the bad URLs, want 3", n)
	}
}

// CATENATE's result is bounded by APPENDLIMIT: NO [TOOBIG].
func TestCatenateTooBig(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) { s.AppendLimit = int64(len(catSource)) + 10 }})
	e.deliver(testUser, catSource)
	r := e.login(false, false)
	// A synchronising literal: a non-synchronising one over the limit
	// would end the session (its data is already on the way).
	r.send(`a1 APPEND Drafts CATENATE (URL "/INBOX/;UID=1" TEXT {11}`)
	if l := r.line(); !strings.HasPrefix(l, "a1 NO [TOOBIG]") {
		t.Errorf("over APPENDLIMIT by a TEXT part: %s", l)
	}
	_, status := r.cmd(`APPEND Drafts CATENATE (TEXT ` + lit("0123456789-") + ` URL "/INBOX/;UID=1")`)
	if !strings.HasPrefix(status, "NO [TOOBIG]") {
		t.Errorf("over APPENDLIMIT by a URL part: %s", status)
	}
	if n := len(e.messages(testUser, "Drafts")); n != 0 {
		t.Errorf("Drafts has %d messages, want 0", n)
	}
}

// A MULTIAPPEND cut short in its second message stores neither, and the
// first message's spool (a temporary file: it is over the memory share)
// is removed.
func TestMultiAppendCutShort(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	e := newEnv(t, envOptions{})
	first := "Subject: big\r\n\r\n" + strings.Repeat("line of the first message\r\n", 20000)
	r := e.login(false, false)
	r.send("a1 APPEND Drafts " + lit(first) + " {1000+}")
	if _, err := io.WriteString(r.conn, strings.Repeat("y", 500)); err != nil {
		t.Fatal(err)
	}
	_ = r.conn.(*net.TCPConn).CloseWrite()
	expectClosed(t, r)
	if n := len(e.messages(testUser, "Drafts")); n != 0 {
		t.Errorf("a cut MULTIAPPEND stored %d messages", n)
	}
	left, err := filepath.Glob(filepath.Join(tmp, "pochta-append-*"))
	if err != nil || len(left) != 0 {
		t.Errorf("spool files left: %v %v", left, err)
	}
}

// A MULTIAPPEND message over the memory share waits in a temporary file
// that has no name, so a crash (SIGKILL) cannot leave it behind in the
// temporary directory, where nothing would remove it (issue 10: orphans).
func TestAppendSpoolHasNoName(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	e := newEnv(t, envOptions{})
	first := "Subject: big\r\n\r\n" + strings.Repeat("line of the first message\r\n", 20000)
	second := "Subject: small\r\n\r\nhi\r\n"
	r := e.login(false, false)
	r.send("a1 APPEND Drafts {" + itoa(len(first)) + "}")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("first literal: %q", l)
	}
	if _, err := io.WriteString(r.conn, first+" {"+itoa(len(second))+"}\r\n"); err != nil {
		t.Fatal(err)
	}
	// The second literal's go-ahead: the first message is spooled.
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("second literal: %q", l)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the temporary directory holds %s while the APPEND waits", left[0].Name())
	}
	r.send(second)
	if l := r.line(); !strings.HasPrefix(l, "a1 OK") {
		t.Fatalf("MULTIAPPEND: %q", l)
	}
	if n := len(e.messages(testUser, "Drafts")); n != 2 {
		t.Errorf("stored %d messages, want 2", n)
	}
}

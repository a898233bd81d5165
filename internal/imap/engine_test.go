package imap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/server"
)

// Transcript tests for behaviours the go-imap based engine got wrong
// (issue 8), each on a real socket against the real store.

// login returns a raw client logged in as alice, optionally with
// IMAP4rev2 enabled and INBOX selected.
func (e *env) login(rev2, sel bool) *raw {
	e.t.Helper()
	r, _ := e.raw(e.addr)
	mustOK(e.t, r, `LOGIN alice@example.com "correct horse"`)
	if rev2 {
		mustOK(e.t, r, "ENABLE IMAP4rev2")
	}
	if sel {
		mustOK(e.t, r, "SELECT INBOX")
	}
	return r
}

func mustOK(t testing.TB, r *raw, cmd string) []string {
	t.Helper()
	lines, status := r.cmd(cmd)
	if !strings.HasPrefix(status, "OK") {
		t.Fatalf("%s: %q (untagged %q)", cmd, status, lines)
	}
	return lines
}

func has(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func index(lines []string, prefix string) int {
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	return -1
}

// \Recent (RFC 3501 §2.3.2): the first rev1 session to see a message gets
// it as recent; no other does; IMAP4rev2 sessions neither see nor claim it.
func TestRecent(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1), testMessage(2))
	c := e.login(false, false)
	if lines := mustOK(t, c, "STATUS INBOX (RECENT MESSAGES)"); !has(lines, `* STATUS "INBOX" (RECENT 2 MESSAGES 2)`) {
		t.Errorf("STATUS before any SELECT: %q", lines)
	}
	// A rev2 session neither reports nor claims \Recent.
	r2 := e.login(true, false)
	if lines := mustOK(t, r2, "SELECT INBOX"); index(lines, "* 2 RECENT") >= 0 || index(lines, "* 0 RECENT") >= 0 {
		t.Errorf("rev2 SELECT reports RECENT: %q", lines)
	}
	// EXAMINE shows them but leaves them recent.
	x := e.login(false, false)
	if lines := mustOK(t, x, "EXAMINE INBOX"); !has(lines, "* 2 RECENT") {
		t.Errorf("EXAMINE: %q", lines)
	}
	a := e.login(false, false)
	if lines := mustOK(t, a, "SELECT INBOX"); !has(lines, "* 2 RECENT") {
		t.Errorf("first SELECT: %q", lines)
	}
	b := e.login(false, false)
	if lines := mustOK(t, b, "SELECT INBOX"); !has(lines, "* 0 RECENT") {
		t.Errorf("second SELECT: %q", lines)
	}
	if lines := mustOK(t, c, "STATUS INBOX (RECENT)"); !has(lines, `* STATUS "INBOX" (RECENT 0)`) {
		t.Errorf("STATUS after the claim: %q", lines)
	}
	// A new message is recent for exactly one of the selected sessions.
	e.deliver(testUser, testMessage(3))
	la := mustOK(t, a, "NOOP")
	lb := mustOK(t, b, "NOOP")
	if !has(la, "* 3 EXISTS") || !has(lb, "* 3 EXISTS") {
		t.Fatalf("new message not announced: %q / %q", la, lb)
	}
	// RECENT counts every recent message of the session's view: a had
	// two, b none; the third goes to exactly one of them.
	if !(has(la, "* 3 RECENT") && has(lb, "* 0 RECENT") || has(la, "* 2 RECENT") && has(lb, "* 1 RECENT")) {
		t.Errorf("the new message must be recent in exactly one session: %q / %q", la, lb)
	}
	// The rev2 session gets EXISTS without RECENT.
	if lines := mustOK(t, r2, "NOOP"); !has(lines, "* 3 EXISTS") || index(lines, "* 1 RECENT") >= 0 || index(lines, "* 0 RECENT") >= 0 {
		t.Errorf("rev2 NOOP: %q", lines)
	}
	// STORE cannot set \Recent.
	if _, status := a.cmd(`STORE 1 +FLAGS (\Recent)`); !strings.HasPrefix(status, "BAD") {
		t.Errorf("STORE \\Recent: %q", status)
	}
	if lines := mustOK(t, b, `STORE 1 +FLAGS (\Seen)`); len(lines) != 1 || strings.Contains(lines[0], `\Recent`) {
		t.Errorf("STORE in the session without \\Recent: %q", lines)
	}
}

// A keyword used for the first time is announced with FLAGS and
// PERMANENTFLAGS before any FETCH shows it, in every session that has the
// mailbox selected.
func TestKeywordAnnouncement(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1), testMessage(2))
	a := e.login(false, true)
	b := e.login(true, true)
	lines := mustOK(t, a, "STORE 1 +FLAGS ($Important)")
	check := func(who string, lines []string) {
		t.Helper()
		fl, perm, fetch := index(lines, "* FLAGS "), index(lines, "* OK [PERMANENTFLAGS "), index(lines, "* 1 FETCH ")
		if fl < 0 || perm < 0 || fetch < 0 || fl > fetch || perm > fetch {
			t.Fatalf("%s: FLAGS/PERMANENTFLAGS not before FETCH: %q", who, lines)
		}
		if !strings.Contains(lines[fl], "$Important") || !strings.Contains(lines[perm], `$Important \*`) {
			t.Errorf("%s: keyword missing: %q", who, lines)
		}
	}
	check("storing session", lines)
	check("other session", mustOK(t, b, "NOOP"))
	// Announced once: using it again sends no FLAGS.
	if lines := mustOK(t, a, "STORE 2 +FLAGS ($Important)"); index(lines, "* FLAGS ") >= 0 {
		t.Errorf("keyword announced twice: %q", lines)
	}
	// A new session lists it at SELECT.
	c := e.login(false, false)
	if lines := mustOK(t, c, "SELECT INBOX"); index(lines, "* FLAGS ") < 0 || !strings.Contains(lines[index(lines, "* FLAGS ")], "$Important") {
		t.Errorf("SELECT FLAGS lacks the keyword: %q", lines)
	}
}

// LIST-EXTENDED (RFC 5258) with subscriptions as names (RFC 9051 §6.3.7).
func TestListExtendedSubscriptions(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.login(false, false)
	mustOK(t, r, "CREATE Foo/Bar")
	if lines := mustOK(t, r, `LIST (SUBSCRIBED) "" "Foo*"`); len(lines) != 0 {
		t.Errorf("CREATE subscribed: %q", lines)
	}
	mustOK(t, r, "SUBSCRIBE Foo/Bar")
	if lines := mustOK(t, r, `LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`); !has(lines, `* LIST (\HasChildren) "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))`) {
		t.Errorf("RECURSIVEMATCH: %q", lines)
	}
	if lines := mustOK(t, r, `LSUB "" "%"`); !has(lines, `* LSUB (\Noselect) "/" "Foo"`) || !has(lines, `* LSUB () "/" "INBOX"`) {
		t.Errorf("LSUB %%: %q", lines)
	}
	if lines := mustOK(t, r, `LSUB "" "*"`); !has(lines, `* LSUB () "/" "Foo/Bar"`) || index(lines, `* LSUB (\Noselect) "/" "Foo"`) >= 0 {
		t.Errorf("LSUB *: %q", lines)
	}
	mustOK(t, r, "DELETE Foo/Bar")
	lines := mustOK(t, r, `LIST (SUBSCRIBED) "" "Foo/*"`)
	if len(lines) != 1 || !strings.Contains(lines[0], `\Subscribed`) || !strings.Contains(lines[0], `\NonExistent`) ||
		!strings.HasSuffix(lines[0], `"/" "Foo/Bar"`) {
		t.Errorf("after DELETE: %q", lines)
	}
	// Plain LIST does not show the name, nor \Subscribed unasked.
	if lines := mustOK(t, r, `LIST "" "*"`); index(lines, `* LIST (\HasNoChildren) "/" "Foo/Bar"`) >= 0 || strings.Contains(strings.Join(lines, ""), `\Subscribed`) {
		t.Errorf("plain LIST: %q", lines)
	}
	if _, status := r.cmd(`LIST (RECURSIVEMATCH) "" "*"`); !strings.HasPrefix(status, "BAD") {
		t.Errorf("RECURSIVEMATCH alone: %q", status)
	}
}

// ID takes the RFC 2971 maxima: 30 pairs, values of 1024 octets.
func TestIDMaxima(t *testing.T) {
	e := newEnv(t, envOptions{})
	r, _ := e.raw(e.addr)
	pairs := func(n, vlen int) string {
		var b strings.Builder
		b.WriteString("ID (")
		for i := range n {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, `"field%d" "%s"`, i, strings.Repeat("v", vlen))
		}
		b.WriteString(")")
		return b.String()
	}
	if lines := mustOK(t, r, pairs(30, 1024)); len(lines) != 1 || !strings.HasPrefix(lines[0], `* ID ("name" "Pochta"`) {
		t.Errorf("ID at the maxima: %q", lines)
	}
	if _, status := r.cmd(pairs(1, 500)); !strings.HasPrefix(status, "OK") {
		t.Errorf("ID with a 500-octet value: %q", status)
	}
	for _, bad := range []string{pairs(31, 1), pairs(1, 1025), `ID ("` + strings.Repeat("f", 31) + `" "v")`, "ID", "ID (", `ID ("a")`} {
		if _, status := r.cmd(bad); !strings.HasPrefix(status, "BAD") {
			t.Errorf("%.40s...: %q", bad, status)
		}
	}
	mustOK(t, r, "NOOP")
}

// A LIST pattern that is not modified UTF-7 matches literally; bad base64
// in AUTHENTICATE is a protocol error (BAD).
func TestInvalidUTF7AndBase64(t *testing.T) {
	e := newEnv(t, envOptions{})
	r, _ := e.raw(e.addr)
	if _, status := r.cmd("AUTHENTICATE PLAIN !!!notbase64"); !strings.HasPrefix(status, "BAD") {
		t.Errorf("AUTHENTICATE with a bad initial response: %q", status)
	}
	r.send("a1 AUTHENTICATE PLAIN")
	if l := r.line(); l != "+ " {
		t.Fatalf("continuation: %q", l)
	}
	r.send("%%%")
	if l := r.line(); !strings.HasPrefix(l, "a1 BAD") {
		t.Errorf("AUTHENTICATE with a bad response: %q", l)
	}
	mustOK(t, r, `LOGIN alice@example.com "correct horse"`)
	for _, p := range []string{`"&Jjo"`, `"&"`, `"&AGE-"`, `"&-&Jjo-x%"`} {
		lines, status := r.cmd(`LIST "" ` + p)
		if !strings.HasPrefix(status, "OK") || len(lines) != 0 {
			t.Errorf("LIST %s: %q %q", p, lines, status)
		}
	}
	// A valid one still decodes: "Entwürfe".
	mustOK(t, r, `CREATE "Entw&APw-rfe"`)
	if lines := mustOK(t, r, `LIST "" "Entw&APw-rfe"`); !has(lines, `* LIST (\HasNoChildren) "/" "Entw&APw-rfe"`) {
		t.Errorf("LIST of a modified UTF-7 name: %q", lines)
	}
	if _, status := r.cmd(`CREATE "&Jjo"`); strings.HasPrefix(status, "OK") {
		t.Errorf("CREATE of an invalid modified UTF-7 name: %q", status)
	}
	mustOK(t, r, "ENABLE UTF8=ACCEPT")
	if lines := mustOK(t, r, `LIST "" "Entw*"`); !has(lines, `* LIST (\HasNoChildren) "/" "Entwürfe"`) {
		t.Errorf("LIST after UTF8=ACCEPT: %q", lines)
	}
}

// An oversized literal before login is refused at once; its "data" is the
// next command.
func TestOversizedLiteralBeforeLogin(t *testing.T) {
	e := newEnv(t, envOptions{})
	r, _ := e.raw(e.addr)
	r.send("a1 LOGIN {999999999}")
	if l := r.line(); !strings.HasPrefix(l, "a1 NO [TOOBIG]") {
		t.Fatalf("oversized literal: %q", l)
	}
	mustOK(t, r, "NOOP")
	// A non-synchronising one cannot be refused: the session ends.
	r.send("a2 LOGIN {999999999+}")
	if l := r.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("oversized non-synchronising literal: %q", l)
	}
	expectClosed(t, r)
}

func expectClosed(t *testing.T, r *raw) {
	t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := r.r.ReadString('\n')
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open: %q %v", l, err)
	}
}

// An APPEND whose literal is cut short by the connection closing stores
// nothing, synchronising or not.
func TestAppendCutShort(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := strings.Repeat("x", 484)
	for _, plus := range []string{"+", ""} {
		r := e.login(false, false)
		r.send("a1 APPEND INBOX {1000" + plus + "}")
		if plus == "" {
			if l := r.line(); !strings.HasPrefix(l, "+") {
				t.Fatalf("continuation: %q", l)
			}
		}
		if _, err := io.WriteString(r.conn, body); err != nil {
			t.Fatal(err)
		}
		// Half-close, then wait for the server to end the session.
		_ = r.conn.(*net.TCPConn).CloseWrite()
		expectClosed(t, r)
	}
	inbox, err := e.store.GetMailbox(context.Background(), e.account(testUser).ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if uids, err := e.store.ListUIDs(context.Background(), inbox.ID); err != nil || len(uids) != 0 {
		t.Errorf("a cut APPEND stored %v (%v)", uids, err)
	}
}

// APPEND: refusals come before the literal's data is asked for, and what
// is stored is exact.
func TestAppendRefusals(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) { s.AppendLimit = 100 }})
	r := e.login(false, false)
	r.send("a1 APPEND INBOX {101}")
	if l := r.line(); !strings.HasPrefix(l, "a1 NO [TOOBIG]") {
		t.Errorf("over APPENDLIMIT: %q", l)
	}
	r.send("a2 APPEND Nope {5}")
	if l := r.line(); !strings.HasPrefix(l, "a2 NO [TRYCREATE]") {
		t.Errorf("missing mailbox: %q", l)
	}
	// A non-synchronising literal to a missing mailbox is skipped.
	r.send("a3 APPEND Nope {5+}\r\nhello")
	if l := r.line(); !strings.HasPrefix(l, "a3 NO [TRYCREATE]") {
		t.Errorf("missing mailbox, LITERAL+: %q", l)
	}
	mustOK(t, r, "NOOP")
	// Garbage after the literal: BAD, and the message is not kept.
	r.send("a4 APPEND INBOX {5+}\r\nhello junk")
	if l := r.line(); !strings.HasPrefix(l, "a4 BAD") {
		t.Errorf("trailing junk: %q", l)
	}
	// The refused APPENDs stored nothing, so they took no UID either.
	lines, status := r.cmd(`APPEND INBOX (\Seen) " 6-May-2024 07:08:09 +0200" {5+}` + "\r\nhello")
	if !regexp.MustCompile(`^OK \[APPENDUID \d+ 1\] APPEND completed$`).MatchString(status) {
		t.Errorf("APPEND: %q %q", lines, status)
	}
	if lines := mustOK(t, r, "STATUS INBOX (MESSAGES)"); !has(lines, `* STATUS "INBOX" (MESSAGES 1)`) {
		t.Errorf("after the APPENDs: %q", lines)
	}
}

// Per-session limits: bad commands, line length, nesting, literal sizes.
func TestSessionLimits(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) { s.MaxBadCommands = 5 }})
	r, _ := e.raw(e.addr)
	for range 4 {
		if _, status := r.cmd("XYZZY"); !strings.HasPrefix(status, "BAD") {
			t.Fatalf("XYZZY: %q", status)
		}
	}
	r.send("a5 XYZZY")
	if l := r.line(); !strings.HasPrefix(l, "a5 BAD") {
		t.Fatalf("fifth: %q", l)
	}
	if l := r.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("after too many bad commands: %q", l)
	}
	expectClosed(t, r)

	// A line over the limit ends the session.
	r = e.login(false, false)
	r.send("a1 NOOP " + strings.Repeat("x", 70<<10))
	if l := r.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("long line: %q", l)
	}
	expectClosed(t, r)

	// Nesting is bounded.
	r = e.login(false, false)
	if _, status := r.cmd("ID " + strings.Repeat("(", 100)); !strings.HasPrefix(status, "BAD") {
		t.Errorf("deep nesting: %q", status)
	}
	// A literal over the in-memory bound (64 KiB) is refused, the session
	// goes on.
	r.send("a2 CREATE {70000}")
	if l := r.line(); !strings.HasPrefix(l, "a2 NO [TOOBIG]") {
		t.Errorf("big literal: %q", l)
	}
	mustOK(t, r, "NOOP")
}

// EXPUNGE is never sent while answering FETCH, STORE or SEARCH (RFC 9051
// §7.5.1): the session learns of another's expunge at the next command
// that allows it, and sequence numbers stay valid in between.
func TestExpungeOnlyWhereAllowed(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1), testMessage(2), testMessage(3))
	a := e.login(false, true)
	b := e.login(false, true)
	mustOK(t, b, `STORE 1 +FLAGS.SILENT (\Deleted)`)
	if lines := mustOK(t, b, "EXPUNGE"); !has(lines, "* 1 EXPUNGE") {
		t.Fatalf("EXPUNGE: %q", lines)
	}
	// In a, message 3 is still number 3 for a STORE ...
	lines := mustOK(t, a, "STORE 3 +FLAGS ($x)")
	if index(lines, "* 1 EXPUNGE") >= 0 || index(lines, "* 3 FETCH (UID 3 ") < 0 {
		t.Errorf("STORE during a pending expunge: %q", lines)
	}
	// ... and the expunge comes with NOOP.
	if lines := mustOK(t, a, "NOOP"); !has(lines, "* 1 EXPUNGE") {
		t.Errorf("NOOP: %q", lines)
	}
	if lines := mustOK(t, a, "STORE 2 -FLAGS ($x)"); index(lines, "* 2 FETCH (UID 3 ") < 0 {
		t.Errorf("after the expunge, message 3 is number 2: %q", lines)
	}
	// A number beyond the view is a client error.
	if _, status := a.cmd("STORE 3 +FLAGS ($x)"); !strings.HasPrefix(status, "BAD") {
		t.Errorf("STORE of a message number that does not exist: %q", status)
	}
}

// IDLE pushes changes as they happen; DONE ends it.
func TestIdlePush(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1))
	a := e.login(false, true)
	b := e.login(false, true)
	a.send("i1 IDLE")
	if l := a.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	e.deliver(testUser, testMessage(2))
	if l := a.line(); l != "* 2 EXISTS" {
		t.Errorf("push: %q", l)
	}
	if l := a.line(); l != "* 2 RECENT" {
		t.Errorf("push: %q", l)
	}
	mustOK(t, b, `STORE 1 +FLAGS (\Flagged)`)
	if l := a.line(); l != `* 1 FETCH (UID 1 FLAGS (\Flagged \Recent))` {
		t.Errorf("push: %q", l)
	}
	a.send("DONE")
	if l := a.line(); l != "i1 OK IDLE completed" {
		t.Errorf("DONE: %q", l)
	}
	mustOK(t, a, "NOOP")
	// Anything but DONE ends IDLE with BAD.
	a.send("i2 IDLE")
	_ = a.line()
	a.send("NOPE")
	if l := a.line(); !strings.HasPrefix(l, "i2 BAD") {
		t.Errorf("not DONE: %q", l)
	}
}

// The bounds every protocol shares (internal/server.Pacing) hold for
// IMAP: a client that starts a command and stalls is cut off after the
// line timeout, and no session outlives limits.max_session, IDLE or not.
func TestPacing(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) {
		s.Pacing = server.Pacing{LineTimeout: 500 * time.Millisecond, MaxSession: 3 * time.Second}
	}})
	r := e.login(false, true)
	// A command begun and not finished.
	if _, err := io.WriteString(r.conn, "a1 NOOP"); err != nil {
		t.Fatal(err)
	}
	if l := r.line(); l != "* BYE Command not completed in time" {
		t.Fatalf("stalled command: %q", l)
	}
	expectClosed(t, r)

	r = e.login(false, true)
	r.send("i1 IDLE")
	if l := r.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	if l := r.line(); !strings.HasPrefix(l, "* BYE [UNAVAILABLE] Session lasted too long") {
		t.Fatalf("at the end of the session's life: %q", l)
	}
	expectClosed(t, r)
}

// "*" as a message sequence number in an empty mailbox is a client error
// (RFC 9051 §9, seq-number: a tagged BAD, "This includes "*" if the
// selected mailbox is empty"), as 1:* already was and as Dovecot answers;
// as a UID it stands for UIDNEXT and names nothing.
func TestStarInEmptyMailbox(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.login(false, true)
	for _, cmd := range []string{"FETCH * FLAGS", "STORE * +FLAGS (x)", "COPY * Trash", "MOVE * Trash", "FETCH 1:* FLAGS"} {
		if _, status := r.cmd(cmd); !strings.HasPrefix(status, "BAD") {
			t.Errorf("%s in an empty mailbox: %q", cmd, status)
		}
	}
	for _, cmd := range []string{"UID FETCH * FLAGS", "UID STORE * +FLAGS (x)", "UID COPY * Trash"} {
		if lines, status := r.cmd(cmd); !strings.HasPrefix(status, "OK") || len(lines) != 0 {
			t.Errorf("%s in an empty mailbox: %q %q", cmd, lines, status)
		}
	}
}

// A session ended by the server for a client's fault (too many bad
// commands, a line over the limit) reads and drops what the client is
// still sending before it closes: closing a socket with unread input
// sends a reset, and a pipelining client got ECONNRESET instead of the
// BYE and the end of the stream.
func TestRefusalEndsWithoutReset(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) { s.MaxBadCommands = 3 }})
	for _, tc := range []struct {
		name, send string
		want       []string
	}{
		{"too many bad commands", strings.Repeat("a XYZZY\r\n", 4000), []string{"a BAD", "a BAD", "a BAD", "* BYE"}},
		{"line too long", "a NOOP " + strings.Repeat("x", 100<<10) + "\r\n", []string{"* BYE"}},
	} {
		r, _ := e.raw(e.addr)
		if _, err := io.WriteString(r.conn, tc.send); err != nil { // all of it before reading
			t.Fatal(err)
		}
		for _, want := range tc.want {
			if l := r.line(); !strings.HasPrefix(l, want) {
				t.Fatalf("%s: %q, want %q", tc.name, l, want)
			}
		}
		_ = r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if l, err := r.r.ReadString('\n'); err != io.EOF {
			t.Errorf("%s: after the BYE: %q, %v; want the end of the stream", tc.name, l, err)
		}
	}
}

// The drain after a refusal ends after the line timeout for a client that
// went silent without closing.
func TestLingerEndsForSilentClient(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) {
		s.MaxBadCommands = 1
		s.IdleTimeout, s.AuthIdleTimeout = time.Hour, time.Hour
		s.Pacing = server.Pacing{LineTimeout: 200 * time.Millisecond, MaxSession: 2 * time.Hour}
	}})
	r, _ := e.raw(e.addr)
	r.send("a XYZZY")
	for _, want := range []string{"a BAD", "* BYE"} {
		if l := r.line(); !strings.HasPrefix(l, want) {
			t.Fatalf("%q, want %q", l, want)
		}
	}
	expectClosed(t, r)
	e.wg.Wait() // the client's socket is still open
}

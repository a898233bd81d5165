package imap

import (
	"strings"
	"testing"
)

// A keyword that first arrives with a message (APPEND, COPY from another
// session) or while a session is IDLE is announced with FLAGS and
// PERMANENTFLAGS before the first FETCH that shows it (RFC 9051 §7.3.5),
// in each session that has the mailbox selected.
func TestKeywordAnnouncementPaths(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1))
	a := e.login(false, true)
	b := e.login(false, true)
	before := func(who string, lines []string, keyword, fetch string) {
		t.Helper()
		fl, perm, f := index(lines, "* FLAGS "), index(lines, "* OK [PERMANENTFLAGS "), index(lines, fetch)
		if fl < 0 || perm < 0 || f < 0 || fl > f || perm > f || !strings.Contains(lines[fl], keyword) || !strings.Contains(lines[perm], keyword) {
			t.Errorf("%s: %s not announced before %q: %q", who, keyword, fetch, lines)
		}
	}

	// IDLE: the push carries FLAGS, PERMANENTFLAGS, then the FETCH.
	b.send("i1 IDLE")
	if l := b.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	mustOK(t, a, "STORE 1 +FLAGS.SILENT ($Idle)")
	var pushed []string
	for len(pushed) == 0 || !strings.Contains(pushed[len(pushed)-1], " FETCH ") {
		pushed = append(pushed, b.line())
	}
	before("IDLE", pushed, "$Idle", "* 1 FETCH ")
	b.send("DONE")
	if l := b.line(); l != "i1 OK IDLE completed" {
		t.Fatalf("DONE: %q", l)
	}

	// APPEND by another session with a new keyword: EXISTS at the next
	// NOOP, FLAGS before the FETCH that shows the keyword.
	msg := testMessage(2)
	c := e.login(false, false)
	mustOK(t, c, `APPEND INBOX ($Appended) {`+itoa(len(msg))+"+}\r\n"+msg)
	if lines := mustOK(t, b, "NOOP"); !has(lines, "* 2 EXISTS") {
		t.Fatalf("NOOP after APPEND: %q", lines)
	}
	before("after APPEND", mustOK(t, b, "FETCH 2 FLAGS"), "$Appended", "* 2 FETCH ")

	// COPY from another mailbox, in the session that did not copy.
	mustOK(t, c, "CREATE Other")
	mustOK(t, c, `APPEND Other ($Copied) {`+itoa(len(msg))+"+}\r\n"+msg)
	mustOK(t, c, "SELECT Other")
	mustOK(t, c, "COPY 1 INBOX")
	mustOK(t, a, "NOOP")
	before("after COPY", mustOK(t, a, "FETCH 3 (UID FLAGS)"), "$Copied", "* 3 FETCH ")
}

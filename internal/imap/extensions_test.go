package imap

import (
	"strings"
	"testing"
)

// Extensions the other tests do not reach through the Go client, as raw
// transcripts: ENABLE IMAP4rev2 (ESEARCH answers), UNSELECT, LITERAL+,
// LIST-EXTENDED selection and return options, STATUS=SIZE, BINARY.SIZE,
// CREATE-SPECIAL-USE and an unknown command.
func TestExtensionTranscripts(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1), multipart)
	r, _ := e.raw(e.addr)
	steps := []struct {
		cmd     string
		lines   []string // each must appear among the untagged lines
		status  string   // prefix of the tagged status
		nolines bool
	}{
		{cmd: `LOGIN alice@example.com "correct horse"`, status: "OK"},
		{cmd: "ENABLE IMAP4rev2", lines: []string{"* ENABLED IMAP4rev2"}, status: "OK"},
		{cmd: "SELECT INBOX", lines: []string{"* 2 EXISTS"}, status: "OK [READ-WRITE]"},
		// With IMAP4rev2 enabled, SEARCH answers with ESEARCH.
		{cmd: "UID SEARCH ALL", lines: []string{`* ESEARCH (TAG "t4") UID ALL 1:2`}, status: "OK"},
		{cmd: "FETCH 2 (BINARY.SIZE[2] BODYSTRUCTURE)", status: "OK"},
		{cmd: "UNSELECT", status: "OK", nolines: true},
		{cmd: "FETCH 1 (UID)", status: "BAD"},
		{cmd: `CREATE "Lists/Rust" (USE (\Archive))`, status: "OK"},
		{cmd: `CREATE Bad (USE (\Nonsense))`, status: "NO [USEATTR]"},
		// CREATE does not subscribe, and \Subscribed is shown only when
		// asked for (RFC 5258 §3, RFC 9051 §6.3.7).
		{cmd: `LIST (SPECIAL-USE) "" "*"`, lines: []string{`* LIST (\HasNoChildren \Archive) "/" "Lists/Rust"`}, status: "OK"},
		{cmd: `SUBSCRIBE "Lists"`, status: "OK"},
		{cmd: `LIST "" "Lists" RETURN (CHILDREN SUBSCRIBED STATUS (MESSAGES SIZE))`,
			lines: []string{`* LIST (\HasChildren \Subscribed) "/" "Lists"`, `* STATUS "Lists" (MESSAGES 0 SIZE 0)`}, status: "OK"},
		{cmd: `STATUS INBOX (MESSAGES SIZE UNSEEN DELETED APPENDLIMIT)`, status: "OK"},
		{cmd: "NOSUCHCOMMAND", status: "BAD"},
	}
	for _, st := range steps {
		lines, status := r.cmd(st.cmd)
		if !strings.HasPrefix(status, st.status) {
			t.Errorf("%s: status %q, want %q (untagged %q)", st.cmd, status, st.status, lines)
		}
		for _, want := range st.lines {
			found := false
			for _, l := range lines {
				found = found || l == want
			}
			if !found {
				t.Errorf("%s: no %q among %q", st.cmd, want, lines)
			}
		}
		if st.nolines && len(lines) > 0 {
			t.Errorf("%s: unexpected %q", st.cmd, lines)
		}
	}
	// LITERAL+: a non-synchronizing literal needs no continuation.
	msg := "Subject: lit\r\n\r\nplus\r\n"
	r.send("a1 APPEND INBOX (\\Seen) {" + itoa(len(msg)) + "+}\r\n" + msg)
	if l := r.line(); !strings.HasPrefix(l, "a1 OK [APPENDUID ") {
		t.Errorf("APPEND with LITERAL+: %q", l)
	}
	// A synchronizing literal gets its "+" first.
	r.send("a2 APPEND INBOX {" + itoa(len(msg)) + "}")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("synchronizing literal: %q", l)
	}
	r.send(msg) // the literal, then the CRLF that ends the command
	if l := r.line(); !strings.HasPrefix(l, "a2 OK [APPENDUID ") {
		t.Errorf("APPEND with a synchronizing literal: %q", l)
	}
	if lines, _ := r.cmd("STATUS INBOX (MESSAGES)"); len(lines) != 1 || !strings.Contains(lines[0], "MESSAGES 4") {
		t.Errorf("after two APPENDs: %q", lines)
	}
	lines, status := r.cmd("LOGOUT")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "* BYE") || !strings.HasPrefix(status, "OK") {
		t.Errorf("LOGOUT: %q %q", lines, status)
	}
}

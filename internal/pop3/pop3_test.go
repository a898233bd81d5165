package pop3

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Two messages whose stored (CRLF) sizes are easy to check.
var (
	msg1 = crlf("From: a@example.net\nSubject: one\n\nHello.\n")
	msg2 = crlf("From: b@example.net\nSubject: two\n\nLine 1\nLine 2\nLine 3\n")
)

func itoa(n int) string { return strconv.Itoa(n) }

func TestRFC1939Session(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.deliver(testUser, msg1, msg2)
	total := itoa(len(msg1) + len(msg2))
	c := e.dial()
	c.run(`
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: +OK Logged in, 2 messages (` + total + ` octets)
C: STAT
S: +OK 2 ` + total + `
C: LIST
S: +OK 2 messages (` + total + ` octets)
S: 1 ` + itoa(len(msg1)) + `
S: 2 ` + itoa(len(msg2)) + `
S: .
C: LIST 2
S: +OK 2 ` + itoa(len(msg2)) + `
C: RETR 1
S: +OK ` + itoa(len(msg1)) + ` octets
`)
	if got := c.multiline(); got != msg1 {
		t.Fatalf("RETR 1 = %q, want %q", got, msg1)
	}
	c.run(`
C: DELE 1
S: +OK Message 1 deleted
C: NOOP
S: +OK
C: STAT
S: +OK 1 ` + itoa(len(msg2)) + `
C: QUIT
S: +OK Logging out, messages deleted
`)
	c.expectClosed()

	c = e.login()
	c.run(`
C: STAT
S: +OK 1 ` + itoa(len(msg2)) + `
C: RETR 1
S: +OK ` + itoa(len(msg2)) + ` octets
`)
	if got := c.multiline(); got != msg2 {
		t.Fatalf("RETR 1 after QUIT = %q, want %q", got, msg2)
	}
	c.run(`
C: QUIT
S: +OK Logging out
`)
}

func TestGreetingWithoutAPOP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.dialNoGreeting()
	c.expect("+OK " + testHost + " POP3 ready")
	c.run(`
C: APOP ` + testUser + ` 0123456789abcdef0123456789abcdef
S: -ERR APOP is not available
C: QUIT
S: +OK ` + testHost + ` POP3 server signing off
`)
	c.expectClosed()
}

func TestDeletedMessagesKeepTheirNumbers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.deliver(testUser, msg1, msg2, msg1)
	c := e.login()
	c.run(`
C: DELE 2
S: +OK Message 2 deleted
C: DELE 2
S: -ERR Message 2 already deleted
C: RETR 2
S: -ERR Message 2 already deleted
C: TOP 2 0
S: -ERR Message 2 already deleted
C: LIST 2
S: -ERR Message 2 already deleted
C: UIDL 2
S: -ERR Message 2 already deleted
C: LIST
S~ \+OK 2 messages \(\d+ octets\)
S~ 1 \d+
S~ 3 \d+
S: .
C: UIDL
S: +OK 2 messages*
S~ 1 \S+
S~ 3 \S+
S: .
C: RSET
S~ \+OK Maildrop has 3 messages \(\d+ octets\)
C: STAT
S~ \+OK 3 \d+
C: LIST 2
S~ \+OK 2 \d+
`)
}

func TestMessageNumbers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.MaxBadCommands = 100 })
	e.deliver(testUser, msg1, msg2)
	c := e.login()
	c.run(`
C: RETR 0
S: -ERR No such message, only 2 messages in maildrop
C: RETR 3
S: -ERR No such message, only 2 messages in maildrop
C: RETR 99999999999999999999999
S: -ERR No such message, only 2 messages in maildrop
C: RETR abc
S: -ERR Invalid message number
C: RETR -1
S: -ERR Invalid message number
C: RETR +1
S: -ERR Invalid message number
C: RETR 1x
S: -ERR Invalid message number
C: RETR
S: -ERR RETR: missing argument
C: RETR 1 2
S: -ERR RETR: too many arguments
C: DELE 3
S: -ERR No such message, only 2 messages in maildrop
C: LIST 0
S: -ERR No such message, only 2 messages in maildrop
C: UIDL x
S: -ERR Invalid message number
C: TOP 1
S: -ERR TOP: missing argument
C: TOP 1 x
S: -ERR Invalid number of lines
C: TOP 1 -1
S: -ERR Invalid number of lines
C: STAT extra
S: -ERR STAT: too many arguments
C: NOOP
S: +OK
`)
}

func TestQuitAppliesDeletesDisconnectDoesNot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.deliver(testUser, msg1, msg2)

	// A client that marks and disconnects deletes nothing.
	c := e.login()
	c.run(`
C: DELE 1
S: +OK Message 1 deleted
C: DELE 2
S: +OK Message 2 deleted
`)
	c.conn.Close()
	e.waitIdle()

	c = e.login()
	c.run(`
C: STAT
S~ \+OK 2 \d+
C: DELE 1
S: +OK Message 1 deleted
C: QUIT
S: +OK Logging out, messages deleted
`)
	c.expectClosed()
	c = e.login()
	c.run(`
C: STAT
S: +OK 1 ` + itoa(len(msg2)) + `
C: QUIT
S: +OK Logging out
`)
}

func TestMaildropInUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.deliver(testUser, msg1)
	first := e.login()
	second := e.dial()
	second.run(`
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: -ERR [IN-USE] Mailbox is locked by another POP3 session
C: NOOP
S: -ERR NOOP not valid in AUTHORIZATION state
`)
	// Disconnecting releases the lock.
	first.conn.Close()
	e.waitActive(1)
	second.run(`
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: +OK Logged in, 1 messages (` + itoa(len(msg1)) + ` octets)
`)
	// QUIT releases it before answering.
	second.run(`
C: QUIT
S: +OK Logging out
`)
	third := e.login()
	third.run(`
C: QUIT
S: +OK Logging out
`)
}

func TestAutologoutDoesNotDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.IdleTimeout = 300 * time.Millisecond })
	e.deliver(testUser, msg1, msg2)
	c := e.login()
	c.run(`
C: DELE 1
S: +OK Message 1 deleted
S: -ERR Autologout; idle for too long
`)
	c.expectClosed()
	e.waitIdle()
	c = e.login()
	c.run(`
C: STAT
S~ \+OK 2 \d+
`)
}

// TestAutologoutAfterBusyCommands: commands in quick succession keep the
// read deadline set for the first of them (keepDeadline) instead of
// setting a new one each; the idle timeout still ends the session.
func TestAutologoutAfterBusyCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.IdleTimeout = 300 * time.Millisecond })
	e.deliver(testUser, msg1)
	c := e.login()
	for range 20 {
		c.run(`
C: NOOP
S: +OK
`)
	}
	c.expect("-ERR Autologout; idle for too long")
	c.expectClosed()
}

func TestKeepDeadline(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const d = 64 * time.Second // slack: 1 s
	for _, tc := range []struct {
		name      string
		cur, want time.Time
		keep      bool
	}{
		{"nothing set", time.Time{}, now, false},
		{"the same", now, now, true},
		{"earlier within the slack", now, now.Add(time.Second), true},
		{"earlier beyond the slack", now, now.Add(time.Second + 1), false},
		{"later: a shorter timeout wanted", now.Add(time.Millisecond), now, false},
	} {
		if got := keepDeadline(tc.cur, tc.want, d); got != tc.keep {
			t.Errorf("%s: keepDeadline = %v, want %v", tc.name, got, tc.keep)
		}
	}
}

func TestAutologoutBeforeLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.IdleTimeout = 200 * time.Millisecond })
	c := e.dial()
	c.expect("-ERR Autologout; idle for too long")
	c.expectClosed()
}

func TestAutologoutMidLine(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) {
		s.IdleTimeout = time.Hour
		s.LineTimeout = 200 * time.Millisecond
	})
	c := e.dial()
	c.write("STA") // the first byte arrived: the short line deadline applies
	c.expect("-ERR Autologout; idle for too long")
	c.expectClosed()
}

func TestShutdownDoesNotDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.deliver(testUser, msg1, msg2)
	c := e.login()
	c.run(`
C: DELE 1
S: +OK Message 1 deleted
`)
	e.cancel()
	c.expect("-ERR [SYS/TEMP] Server shutting down")
	c.expectClosed()
	e.waitIdle()

	// The store is still open; look at the maildrop directly.
	if n := len(storedBodies(t, e)); n != 2 {
		t.Fatalf("after shutdown the maildrop has %d messages, want 2", n)
	}
}

func TestUIDLStableAcrossSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.deliver(testUser, msg1, msg2, msg1)
	uidls := func() []string {
		c := e.login()
		c.send("UIDL")
		c.expect("+OK 3 messages*")
		lines := strings.Split(strings.TrimSuffix(c.multiline(), "\r\n"), "\r\n")
		c.run(`
C: QUIT
S: +OK Logging out
`)
		e.waitIdle()
		return lines
	}
	a := uidls()
	b := uidls()
	if strings.Join(a, "|") != strings.Join(b, "|") {
		t.Fatalf("UIDL changed between sessions: %q vs %q", a, b)
	}
	seen := map[string]bool{}
	for i, l := range a {
		num, uid, ok := strings.Cut(l, " ")
		if !ok || num != itoa(i+1) || uid == "" || seen[uid] {
			t.Fatalf("bad UIDL line %q in %q", l, a)
		}
		seen[uid] = true
	}
	c := e.login()
	_, uid2, _ := strings.Cut(a[1], " ")
	c.run(`
C: UIDL 2
S: +OK 2 ` + uid2 + `
`)
}

func TestBareLFAndLenientSpaces(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.deliver(testUser, msg1)
	c := e.login()
	c.write("STAT\n")
	c.expect("+OK 1 " + itoa(len(msg1)))
	c.write("list  1 \r\n")
	c.expect("+OK 1 " + itoa(len(msg1)))
}

func TestUnterminatedLineAtEOFIsNotACommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.deliver(testUser, msg1)
	c := e.login()
	c.write("DELE 1\r\nQUIT")
	c.expect("+OK Message 1 deleted")
	c.conn.(interface{ CloseWrite() error }).CloseWrite()
	c.expectClosed()
	e.waitIdle()
	c = e.login()
	c.run(`
C: STAT
S~ \+OK 1 \d+
`)
}

func TestLAST(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.deliver(testUser, msg1)
	c := e.login()
	c.run(`
C: LAST
S: -ERR Unknown command
`)

	e = newEnv(t, envOptions{}, func(s *Server) { s.EnableLAST = true })
	e.deliver(testUser, msg1, msg2, msg1)
	c = e.login()
	c.run(`
C: LAST
S: +OK 0
C: RETR 2
S~ \+OK \d+ octets
`)
	c.multiline()
	c.run(`
C: TOP 3 0
S: +OK Top of message follows
`)
	c.multiline()
	c.run(`
C: LAST
S: +OK 2
C: RSET
S~ \+OK .*
C: LAST
S: +OK 0
`)
}

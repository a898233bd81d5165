package pop3

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"net"

	"github.com/pochta-mail/pochta/internal/metrics"
	"github.com/pochta-mail/pochta/internal/server"
	"github.com/pochta-mail/pochta/internal/store"
)

func TestLineLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.MaxBadCommands = 100 })
	e.deliver(testUser, msg1)
	c := e.login()
	// 255 octets with CRLF is the longest line (RFC 2449 §4).
	c.send("LIST " + strings.Repeat("0", 255-2-5-1) + "1")
	c.expect("+OK 1 " + itoa(len(msg1)))
	c.send("LIST " + strings.Repeat("0", 255-2-5) + "1")
	c.expect("-ERR Line too long")
	// A huge line is refused and skipped as a whole, without being kept.
	c.write("RETR 1" + strings.Repeat("x", 1<<20) + "\r\nSTAT\r\n")
	c.expect("-ERR Line too long")
	c.expect("+OK 1 " + itoa(len(msg1)))
	c.run(`
C: STAT` + "\x00" + `
S: -ERR Control characters are not allowed in commands
C: NOOP` + "\x01" + `
S: -ERR Control characters are not allowed in commands
C: NOOP` + "\t" + `
S: -ERR Control characters are not allowed in commands
C: LIST` + " \xff\xfe" + `
S: -ERR Invalid UTF-8 in command
C: LIST 1` + "\x7f" + `
S: -ERR Control characters are not allowed in commands
`)
	c.write("STAT\rNOOP\r\n") // a bare CR is not a line end
	c.expect("-ERR Control characters are not allowed in commands")
	c.run(`
C: NOOP
S: +OK
`)
}

func TestTooManyBadCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.MaxBadCommands = 3 })
	e.deliver(testUser, msg1)
	c := e.login()
	c.run(`
C: FOO
S: -ERR Unknown command
C: RETR 9
S: -ERR No such message, only 1 messages in maildrop
C: STAT
S~ \+OK 1 \d+
C: BAR
S: -ERR Unknown command
S: -ERR Too many bad commands, closing connection
`)
	c.expectClosed()
}

func TestDefaultMaxBadCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.dial()
	for range DefaultMaxBadCommands - 1 {
		c.send("FOO")
		c.expect("-ERR Unknown command")
	}
	c.send("FOO")
	c.expect("-ERR Unknown command")
	c.expect("-ERR Too many bad commands, closing connection")
	c.expectClosed()
}

func TestPipelining(t *testing.T) {
	t.Parallel()
	var writes atomic.Int64
	e := newEnv(t, envOptions{wrap: func(c net.Conn) net.Conn { return writeCounter{c, &writes} }})
	e.deliver(testUser, msg1, msg2)
	c := e.dial()
	greetingWrites := writes.Load()

	// One write with the whole session (RFC 2449 §6.6): the answers come
	// back in order, and the server sends them in one write.
	var cmds strings.Builder
	cmds.WriteString("USER " + testUser + "\r\nPASS " + testPass + "\r\n")
	for range 10 {
		cmds.WriteString("STAT\r\nNOOP\r\nLIST 2\r\n")
	}
	cmds.WriteString("RETR 1\r\nUIDL 1\r\n")
	c.write(cmds.String())
	c.run(`
S: +OK
S: +OK Logged in, 2 messages*
`)
	for range 10 {
		c.run(`
S: +OK 2 ` + itoa(len(msg1)+len(msg2)) + `
S: +OK
S: +OK 2 ` + itoa(len(msg2)) + `
`)
	}
	c.expect("+OK " + itoa(len(msg1)) + " octets")
	if got := c.multiline(); got != msg1 {
		t.Fatalf("pipelined RETR = %q", got)
	}
	c.expect("+OK 1 *")
	// The login in the middle flushes nothing by itself; the whole
	// pipeline is answered in one write (two if TCP split the request).
	if n := writes.Load() - greetingWrites; n > 2 {
		t.Errorf("a pipeline of %d commands took %d writes", 34, n)
	}
}

func TestFailedLoginIsThrottledAndCoded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.dial()
	c.run(`
C: PASS x
S: -ERR No username given
C: USER nobody@example.com
S: +OK
C: PASS whatever
S: -ERR [AUTH] Authentication failed
C: PASS whatever
S: -ERR No username given
C: USER ` + testUser + `
S: +OK
C: PASS wrong password with spaces
S: -ERR [AUTH] Authentication failed
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: ` + loggedIn0 + `
`)
}

func TestPasswordWithSpaces(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.addUser("spacey@example.com", " two  spaces ", false)
	c := e.dial()
	c.run(`
C: USER spacey@example.com
S: +OK
C: PASS  two  spaces 
S: ` + loggedIn0 + `
`)
}

func TestLoginNormalisation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, login := range []string{"ALICE@Example.COM", "alice+example.com", "alice%example.com", "alice"} {
		c := e.waitAndDial()
		c.run(`
C: USER ` + login + `
S: +OK
C: PASS ` + testPass + `
S: ` + loggedIn0 + `
`)
	}
}

func TestLoginDelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.LoginDelay = time.Hour })
	c := e.login()
	c.run(`
C: QUIT
S: +OK Logging out
`)
	e.waitIdle()
	e.clock.Advance(59 * time.Minute)
	c = e.dial()
	c.run(`
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: -ERR [LOGIN-DELAY] Minimum time between logins has not passed
C: AUTH PLAIN ` + b64("\x00"+testUser+"\x00"+testPass) + `
S: -ERR [LOGIN-DELAY] Minimum time between logins has not passed
`)
	e.clock.Advance(time.Minute)
	c.run(`
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: ` + loggedIn0 + `
`)
}

func TestExpire(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.Expire = 24 * time.Hour })
	e.deliver(testUser, msg1, msg2, msg1)
	c := e.login()
	c.send("RETR 1")
	c.expect("+OK " + itoa(len(msg1)) + " octets")
	c.multiline()
	c.send("TOP 2 0") // only part of message 2: not a retrieval
	c.expect("+OK Top of message follows")
	c.multiline()
	c.send("TOP 3 1000") // all of message 3: a retrieval
	c.expect("+OK Top of message follows")
	c.multiline()
	c.run(`
C: CAPA
S: +OK Capability list follows
S: TOP
S: UIDL
S: USER
S: SASL PLAIN LOGIN SCRAM-SHA-256
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: EXPIRE 1
S: UTF8 USER
S: LANG
S: IMPLEMENTATION Pochta
S: .
C: QUIT
S: +OK Logging out
`)
	e.waitIdle()
	e.clock.Advance(23 * time.Hour)
	c = e.login()
	c.run(`
C: STAT
S~ \+OK 3 \d+
`)
	c.conn.Close()
	e.waitIdle()
	e.clock.Advance(2 * time.Hour)
	c = e.login()
	c.run(`
C: STAT
S: +OK 1 ` + itoa(len(msg2)) + `
`)
}

// failingDeletes is the real store with Delete failing, to test that a
// failed UPDATE deletes nothing and says so.
type failingDeletes struct{ store.Maildrops }

func (f failingDeletes) OpenMaildrop(ctx context.Context, id int64) (store.Maildrop, error) {
	md, err := f.Maildrops.OpenMaildrop(ctx, id)
	if err != nil {
		return nil, err
	}
	return failingDelete{md}, nil
}

type failingDelete struct{ store.Maildrop }

func (failingDelete) Delete(context.Context, []int64) error {
	return fmt.Errorf("disk on fire: %w", store.ErrTemporary)
}

func TestUpdateFailureDeletesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{maildrops: func(m store.Maildrops) store.Maildrops { return failingDeletes{m} }})
	e.deliver(testUser, msg1, msg2)
	c := e.login()
	c.run(`
C: DELE 1
S: +OK Message 1 deleted
C: QUIT
S: -ERR [SYS/TEMP] Some deleted messages were not removed, try again later
`)
	c.expectClosed()
	e.waitIdle()
	c = e.login()
	c.run(`
C: STAT
S~ \+OK 2 \d+
`)
}

// panicky makes OpenMaildrop panic, to prove panics are contained,
// counted and reported.
type panicky struct{ store.Maildrops }

func (panicky) OpenMaildrop(context.Context, int64) (store.Maildrop, error) {
	panic("test panic")
}

func TestPanicIsRecoveredAndCounted(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	e := newEnv(t, envOptions{maildrops: func(m store.Maildrops) store.Maildrops { return panicky{m} }},
		func(s *Server) { s.Metrics = m })
	e.expectPanics = 1
	c := e.dial()
	c.run(`
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
`)
	c.expectClosed()
	e.waitIdle()
	if n := e.srv.RecoveredPanics(); n != 1 {
		t.Fatalf("RecoveredPanics = %d, want 1", n)
	}
	// The operator sees it too: pochta_panics_total, as for panics
	// internal/server recovers.
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `pochta_panics_total{listener="pop3"} 1`) {
		t.Errorf("pochta_panics_total does not count the panic:\n%s", rec.Body.String())
	}
}

// bodyErrors is the real store with Body failing for the first message:
// gone (ErrNotFound) or failing (ErrTemporary).
type bodyErrors struct{ store.Maildrops }

func (b bodyErrors) OpenMaildrop(ctx context.Context, id int64) (store.Maildrop, error) {
	md, err := b.Maildrops.OpenMaildrop(ctx, id)
	if err != nil {
		return nil, err
	}
	return bodyError{md}, nil
}

type bodyError struct{ store.Maildrop }

func (b bodyError) Body(ctx context.Context, id int64) (io.ReadCloser, error) {
	switch id {
	case b.Messages()[0].ID:
		return nil, fmt.Errorf("message %d vanished: %w", id, store.ErrNotFound)
	case b.Messages()[1].ID:
		return nil, fmt.Errorf("database is locked: %w", store.ErrTemporary)
	}
	return b.Maildrop.Body(ctx, id)
}

func TestBackendErrorsGetCodesNotDetails(t *testing.T) {
	e := newEnv(t, envOptions{maildrops: func(m store.Maildrops) store.Maildrops { return bodyErrors{m} }})
	e.deliver(testUser, msg1, msg2, msg1)
	c := e.login()
	c.run(`
C: RETR 1
S: -ERR Message 1 expunged
C: TOP 2 0
S: -ERR [SYS/TEMP] Temporary server failure, try again later
C: RETR 3
S: +OK ` + itoa(len(msg1)) + ` octets
`)
	c.multiline()
}

func TestWireTraceRedactsSecrets(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	e := newEnv(t, envOptions{}, func(s *Server) {
		s.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: LevelTrace}))
	})
	c := e.dial()
	c.run(`
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: ` + loggedIn0 + `
C: QUIT
S: +OK Logging out
`)
	c.expectClosed()
	e.waitIdle()
	mu.Lock()
	defer mu.Unlock()
	out := logs.String()
	if strings.Contains(out, "horse") {
		t.Fatalf("the password is in the log:\n%s", out)
	}
	for _, want := range []string{"cmd=USER", "cmd=PASS", "[redacted]", "how=quit", "user=" + testUser} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestPartialLineDoesNotHoldAnswers: answers wait for buffered complete
// commands only; half a command behind them must not delay them.
func TestPartialLineDoesNotHoldAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.deliver(testUser, msg1)
	c := e.login()
	c.write("STAT\r\nNOOP\r\nNO")
	c.expect("+OK 1 " + itoa(len(msg1)))
	c.expect("+OK")
	c.write("OP\r\n")
	c.expect("+OK")
}

// A session ended for too many bad commands reads and drops what a
// pipelining client still sent before it closes: closing a socket with
// unread input sends a reset, and the client got ECONNRESET instead of
// the final -ERR and the end of the stream.
func TestTooManyBadCommandsEndsWithoutReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.MaxBadCommands = 3 })
	c := e.dial()
	c.write(strings.Repeat("FOO\r\n", 4000)) // all of it before reading
	for range 3 {
		c.expect("-ERR Unknown command")
	}
	c.expect("-ERR Too many bad commands, closing connection")
	if l, err := c.readLine(); err != io.EOF {
		t.Fatalf("after the last reply: %q, %v; want the end of the stream", l, err)
	}
}

// The drain after a refusal waits for what the client is still sending,
// not for a client that went silent without closing: the session ends
// after the line timeout while the client's socket stays open.
func TestLingerEndsForSilentClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) {
		s.MaxBadCommands = 1
		s.IdleTimeout, s.AuthIdleTimeout = time.Hour, time.Hour
		s.Pacing = server.Pacing{LineTimeout: 200 * time.Millisecond, MaxSession: 2 * time.Hour}
	})
	c := e.dial()
	c.send("FOO")
	c.expect("-ERR Unknown command")
	c.expect("-ERR Too many bad commands, closing connection")
	if l, err := c.readLine(); err != io.EOF {
		t.Fatalf("after the last reply: %q, %v; want the end of the stream", l, err)
	}
	e.waitIdle() // the client's socket is still open
}

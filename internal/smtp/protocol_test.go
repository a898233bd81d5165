package smtp

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/server"
)

// RFC 5321 section 4.2.4: a command the server does not recognise is 500,
// whatever its length or shape; 501 is for a recognised command with bad
// arguments (issue 10: go-smtp answered FOO and MAILX with 501).
func TestUnknownCommandIs500(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(ModeMX)
	for _, cmd := range []string{"FOO", "MAILX FROM:<a@remote.example>", "MAI", "XYZZY plugh", "STARTTLSX", "RCPT_TO:<x>"} {
		r.send(cmd + "\r\n")
		r.expect("500 5.5.2 ")
	}
	// A known command with bad arguments is 501.
	r.send("EHLO\r\n")
	r.expect("501 5.5.4 ")
	r.send("EHLO x\r\nMAIL TO:<a@remote.example>\r\n")
	r.expect("250 ")
	r.expect("501 5.5.4 ")
}

// Replies are ours: no stock phrases of a library ("Roger, accepting
// mail from", "OK: queued"), and each carries its enhanced code.
func TestReplyTexts(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(ModeMX)
	r.send("EHLO client.example\r\n")
	if got := r.expect("250 "); got != "250 LIMITS RCPTMAX=100" {
		t.Errorf("last EHLO line %q", got)
	}
	steps := []struct{ send, want string }{
		{"NOOP\r\n", "250 2.0.0 OK"},
		{"MAIL FROM:<a@remote.example>\r\n", "250 2.1.0 Sender <a@remote.example> OK"},
		{"RCPT TO:<alice@example.org>\r\n", "250 2.1.5 Recipient <alice@example.org> OK"},
		{"RSET\r\n", "250 2.0.0 Reset"},
		{"VRFY alice\r\n", "252 2.5.0 Cannot VRFY user, but will take a message for it and attempt delivery"},
		{"EXPN list\r\n", "502 5.5.1 EXPN is not available"},
		{"HELP\r\n", "214 2.0.0 See RFC 5321"},
		{"DATA\r\n", "503 5.5.1 Bad sequence of commands: MAIL and RCPT first"},
		{"MAIL FROM:<a@remote.example>\r\n", "250 2.1.0 Sender <a@remote.example> OK"},
		{"MAIL FROM:<b@remote.example>\r\n", "503 5.5.1 Bad sequence of commands: a transaction is already open (RSET first)"},
		{"DATA\r\n", "554 5.5.1 No valid recipients"},
		{"QUIT\r\n", "221 2.0.0 " + testHost + " closing connection"},
	}
	for _, s := range steps {
		r.send(s.send)
		if got := r.reply(); !strings.HasPrefix(got, s.want) {
			t.Errorf("%q: %q, want %q", strings.TrimSpace(s.send), got, s.want)
		}
	}
}

// The state matrix: every command of the table, sent in every state in
// which the table says it is not legal, gets the table's refusal (503
// 5.5.1, or 554 for DATA after a MAIL whose recipients were all refused)
// and changes nothing (the session goes on).
func TestCommandStates(t *testing.T) {
	e := newEnv(t, envOptions{})
	// How to reach each state on a fresh MX connection.
	reach := map[state]string{
		stateGreet: "",
		stateReady: "EHLO x\r\n",
		stateMail:  "EHLO x\r\nMAIL FROM:<a@remote.example>\r\n",
		stateRcpt:  "EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\n",
	}
	args := map[string]string{
		"MAIL": " FROM:<b@remote.example>", "RCPT": " TO:<bob@example.org>", "BDAT": " 0 LAST",
		"EHLO": " x", "HELO": " x", "VRFY": " x", "AUTH": " PLAIN",
	}
	for name, cmd := range commands {
		for st := stateGreet; st <= stateRcpt; st++ {
			if cmd.states.has(st) {
				continue
			}
			r := e.raw(ModeMX)
			r.send(reach[st])
			for range strings.Count(reach[st], "\r\n") {
				r.expect("250 ")
			}
			r.send(name + args[name] + "\r\n")
			want := cmd.refusal(st)
			if got := r.reply(); got != want.String() || (want.Code != 503 && want.Code != 554) {
				t.Errorf("%s in state %s: %q, want %q", name, st, got, want)
			}
			r.send("NOOP\r\n")
			r.expect("250 ")
		}
	}
}

// BDAT 0 followed by the client leaving: go-smtp v0.25.1 ran the message
// in a goroutine that found its session already closed and panicked
// (RELIABILITY.md, fuzz finding 2). Nothing may be stored or panic.
func TestBDATThenDisconnect(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, chunk := range []string{"BDAT 0\r\n", "BDAT 0 LAST\r\n", "BDAT 5\r\nab", "BDAT 3\r\nabcBDAT 0\r\n"} {
		r := e.raw(ModeMX)
		r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\n" + chunk)
		r.c.(*net.TCPConn).CloseWrite()
		io.ReadAll(r.r)
	}
	e.wg.Wait()
	if got := e.inbox("alice@example.org"); len(got) != 1 || !strings.HasSuffix(got[0], "\r\n") {
		// BDAT 0 LAST is an empty message: stored (with our trace fields).
		t.Errorf("alice has %d messages, want the empty BDAT 0 LAST one: %q", len(got), got)
	}
}

// A BDAT chunk refused for want of a transaction is still read (RFC 3030
// section 2: the data follows the command whatever the reply), so its
// bytes are never taken for commands.
func TestRefusedBDATChunkIsSkipped(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(ModeMX)
	r.send("EHLO x\r\nBDAT 20\r\nMAIL FROM:<evil@x>\r\nNOOP\r\n")
	r.expect("250 ")
	r.expect("503 5.5.1 ")
	r.expect("250 2.0.0 OK")
	// Inside a chunked transaction only BDAT, RSET, QUIT and NOOP go.
	r.send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nBDAT 3\r\nabc")
	r.expect("250 ")
	r.expect("250 ")
	r.expect("250 2.0.0 3 octets received")
	r.send("DATA\r\nMAIL FROM:<b@remote.example>\r\nNOOP\r\nBDAT 2 LAST\r\nde")
	r.expect("503 5.5.1 ")
	r.expect("503 5.5.1 ")
	r.expect("250 2.0.0 OK")
	r.expect("250 2.0.0 Message accepted for delivery")
	if got := e.inbox("alice@example.org"); len(got) != 1 || !strings.HasSuffix(got[0], "\r\nabcde\r\n") {
		t.Errorf("stored %q", got)
	}
	// RSET in the middle of a chunked message abandons it.
	r.send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nBDAT 3\r\nxyzRSET\r\nBDAT 1 LAST\r\nq")
	r.expect("250 ")
	r.expect("250 ")
	r.expect("250 2.0.0 3 octets received")
	r.expect("250 2.0.0 Reset")
	r.expect("503 5.5.1 ")
	if got := e.inbox("alice@example.org"); len(got) != 1 {
		t.Errorf("alice has %d messages after RSET, want 1", len(got))
	}
}

// A refused BDAT chunk is skipped only up to the message size limit:
// a larger one is not read at all (it would cost what the client
// chooses), so the reply comes at once and the session ends, whether the
// chunk was refused for its size or for want of a transaction. A refused
// chunk within the limit is still skipped and the session goes on.
func TestOversizeBDATChunkEndsSession(t *testing.T) {
	e := newEnv(t, envOptions{configure: func(s *Server) { s.MaxMessageSize = 10000 }})
	txn := "MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\n"
	start := strings.Repeat("x", 32<<10) // the start of the chunk; the rest never comes
	for _, tc := range []struct {
		name, send string
		want       []string
	}{
		{"too big", txn + "BDAT 4611686018427387903 LAST\r\n" + start, []string{"250 ", "250 ", "552 5.3.4 "}},
		{"no transaction", "BDAT 20001 LAST\r\n" + start, []string{"503 5.5.1 "}},
		{"too big after a chunk", txn + "BDAT 6000\r\n" + strings.Repeat("y", 6000) + "BDAT 20000 LAST\r\n" + start,
			[]string{"250 ", "250 ", "250 2.0.0 6000 octets", "552 5.3.4 "}},
	} {
		r := e.raw(ModeMX)
		r.send("EHLO x\r\n")
		r.expect("250 ")
		r.send(tc.send)
		for _, want := range tc.want {
			r.expect(want)
		}
		if line, err := r.r.ReadString('\n'); err == nil {
			t.Errorf("%s: session still open after the refused chunk: %q", tc.name, line)
		}
	}
	// Within the limit, a refused chunk is read and dropped: the
	// session goes on (the total outgrew the limit, this chunk did not).
	r := e.raw(ModeMX)
	r.send("EHLO x\r\n" + txn + "BDAT 6000\r\n" + strings.Repeat("y", 6000) + "BDAT 6000 LAST\r\n" + strings.Repeat("z", 6000) + "NOOP\r\n")
	for _, want := range []string{"250 ", "250 ", "250 ", "250 2.0.0 6000 octets", "552 5.3.4 ", "250 2.0.0 OK"} {
		r.expect(want)
	}
	if got := e.inbox("alice@example.org"); len(got) != 0 {
		t.Errorf("stored %d messages, want none", len(got))
	}
}

// SMTP smuggling: only CRLF "." CRLF ends message data. Every other
// spelling of an end of data is text of the one message, so the commands
// after it never run (no second transaction for bob).
func TestSmugglingSequences(t *testing.T) {
	for _, reject := range []bool{false, true} {
		e := newEnv(t, envOptions{configure: func(s *Server) { s.RejectBareLF = reject }})
		for _, seq := range []string{"\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r\n", "\r\n.\r", "\r\n\x00.\r\n", "\n..\r\n"} {
			r := e.raw(ModeMX)
			r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
			for _, want := range []string{"250 ", "250 ", "250 ", "354 "} {
				r.expect(want)
			}
			r.send("Subject: s\r\n\r\nA" + seq + "MAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n")
			got := r.reply()
			if !strings.HasPrefix(got, "250 2.0.0 ") && !(reject && strings.HasPrefix(got, "550 5.5.2 ")) {
				t.Errorf("reject=%v %q: end of data answered %q", reject, seq, got)
			}
			r.expect("221 ")
		}
		if n := len(e.inbox("bob@example.org")); n != 0 {
			t.Errorf("reject=%v: %d smuggled messages reached bob", reject, n)
		}
	}
}

// A command line over smtp.max_line_length is answered 500 5.4.0 and the
// session ends: the rest of such a line is not taken for a command. The
// line is bounded before it is buffered: the client sends a line that
// never ends (no CRLF, ever), so a server that waited for the end of the
// line would never answer, and the server side counts what it read, which
// must stay within the limit plus one read buffer (and, after the reply,
// the 64 KiB linger drops so the client reads the 500, not a reset).
func TestCommandLineTooLong(t *testing.T) {
	const limit = 1000
	e := newEnv(t, envOptions{configure: func(s *Server) { s.MaxLineLength = limit }})
	var read atomic.Int64
	r, served := e.serveOne(func(c net.Conn) net.Conn { return &countingConn{Conn: c, n: &read} })
	c := r.c
	r.send("EHLO x\r\n")
	r.expect("250 ")
	stop := make(chan struct{})
	var wrote sync.WaitGroup
	wrote.Go(func() { // an endless line, until the server closes
		chunk := []byte("NOOP " + strings.Repeat("x", 4091))
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Write(chunk); err != nil {
				return
			}
			chunk = bytes.Repeat([]byte("x"), 4096)
		}
	})
	r.expect("500 5.4.0 ")
	if line, err := r.r.ReadString('\n'); err == nil {
		t.Errorf("session still open after the long line: %q", line)
	}
	close(stop)
	served.Wait() // ServeConn returned: the server read all it ever will
	c.Close()
	wrote.Wait()
	// The line up to the limit and one read buffer, then what linger
	// drops after the reply.
	if n, max := read.Load(), int64(len("EHLO x\r\n")+limit+readerSize+server.LingerAfterRefusal); n > max {
		t.Errorf("server read %d octets of a line limited to %d, want at most %d", n, limit, max)
	}
}

// serveOne serves one MX connection, wrapped by wrap, from a listener of
// its own (so the test sees ServeConn return: served), and dials it: the
// client, greeted.
func (e *env) serveOne(wrap func(net.Conn) net.Conn) (r *raw, served *sync.WaitGroup) {
	e.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { l.Close() })
	served = new(sync.WaitGroup)
	served.Go(func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		e.srv.Handler(ModeMX).ServeConn(e.ctx, wrap(c))
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r = &raw{t: e.t, c: c, r: bufio.NewReader(c)}
	r.expect("220 ")
	return r, served
}

// countingConn counts the octets the server reads.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// A client that writes its whole chunk before reading (as most do) must
// read the refusal of an oversize BDAT chunk, not a connection reset: a
// reset is a temporary failure, so the sender would retry for days what
// the 552 refuses for good. The server answers, then reads and drops what
// the client is still sending before it closes. In clear text and after
// STARTTLS (where the end is a close_notify, then the FIN).
func TestOversizeBDATChunkReplyIsRead(t *testing.T) {
	const limit = 4 << 20
	e := newEnv(t, envOptions{configure: func(s *Server) { s.MaxMessageSize = limit }})
	for _, starttls := range []bool{false, true} {
		for _, size := range []int{limit + 1, limit * 3 / 2, 2 * limit} {
			name := fmt.Sprintf("STARTTLS=%v, %d octets", starttls, size)
			r := e.raw(ModeMX)
			var c io.Writer = r.c
			br := r.r
			if starttls {
				r.send("EHLO x\r\nSTARTTLS\r\n")
				r.expect("250 ")
				r.expect("220 ")
				tc := tls.Client(r.c, e.cli)
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				c, br = tc, bufio.NewReader(tc)
			}
			io.WriteString(c, "EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\n")
			for range 3 {
				if l, err := readReply(br); err != nil || !strings.HasPrefix(l, "250 ") {
					t.Fatalf("%s: reply %q %v", name, l, err)
				}
			}
			chunk := "BDAT " + itoa(size) + " LAST\r\n" + strings.Repeat("x", size)
			if _, err := io.WriteString(c, chunk); err != nil {
				t.Fatalf("%s: writing the chunk: %v", name, err)
			}
			line, err := br.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "552 5.3.4 ") {
				t.Fatalf("%s: reply %q, %v; want 552 5.3.4", name, line, err)
			}
			if line, err := br.ReadString('\n'); err != io.EOF {
				t.Errorf("%s: after the 552: %q, %v; want the end of the session", name, line, err)
			}
		}
	}
	if got := e.inbox("alice@example.org"); len(got) != 0 {
		t.Errorf("stored %d messages, want none", len(got))
	}
}

// A session the server ends with a refusal while the client is still
// sending (a pipelined group past the error limit, the rest of an
// over-long line) ends with a FIN after the reply, not a reset: the client
// reads every reply, then the end.
func TestRefusalEndsWithoutReset(t *testing.T) {
	e := newEnv(t, envOptions{configure: func(s *Server) { s.MaxErrors = 3; s.MaxLineLength = 1000 }})
	for _, tc := range []struct {
		name, send string
		want       []string
	}{
		{"too many errors", "EHLO x\r\n" + strings.Repeat("FOO\r\n", 4000),
			[]string{"250 ", "500 ", "500 ", "500 ", "421 4.7.0 "}},
		{"line too long", "EHLO x\r\nNOOP " + strings.Repeat("x", 40<<10) + "\r\nNOOP\r\n",
			[]string{"250 ", "500 5.4.0 "}},
	} {
		r := e.raw(ModeMX)
		r.send(tc.send) // all of it before reading, as a pipelining client may
		for _, want := range tc.want {
			r.expect(want)
		}
		if line, err := r.r.ReadString('\n'); err != io.EOF {
			t.Errorf("%s: after the last reply: %q, %v; want the end of the session", tc.name, line, err)
		}
	}
}

// The drain after a refusal waits for what the client is still sending,
// not for a client that went silent without closing: a client that sends
// BDAT over the size limit and then nothing more reads the 552 and the
// end, and the server lets go of the connection after the line timeout
// (limits.line_timeout), not after the data or command timeout (an hour
// here), while the client's socket stays open.
func TestLingerEndsForSilentClient(t *testing.T) {
	const limit = 1 << 20
	e := newEnv(t, envOptions{configure: func(s *Server) {
		s.MaxMessageSize = limit
		s.CommandTimeout, s.DataTimeout = time.Hour, time.Hour
		s.Pacing = server.Pacing{LineTimeout: 200 * time.Millisecond, MaxSession: 2 * time.Hour}
	}})
	r, served := e.serveOne(func(c net.Conn) net.Conn { return c })
	r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\n")
	for _, want := range []string{"250 ", "250 ", "250 "} {
		r.expect(want)
	}
	r.send("BDAT " + itoa(limit+1) + " LAST\r\n") // and not one octet of it
	r.expect("552 5.3.4 ")
	if line, err := r.r.ReadString('\n'); err != io.EOF {
		t.Errorf("after the 552: %q, %v; want the end of the session", line, err)
	}
	served.Wait() // the client's socket is still open
}

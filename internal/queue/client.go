package queue

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Our own small SMTP client rather than go-smtp's: go-smtp's client has
// no PIPELINING (RFC 2920), and it cannot greet with our name, look at
// the EHLO keywords and then decide on STARTTLS on one connection.
//
// CHUNKING (RFC 3030, BDAT) is not used even when offered, a decision:
// with the envelope and DATA pipelined in one write (send), BDAT would
// save one round trip per message and the dot-stuffing scan, at the price
// of a second body path to keep right against every peer; BINARYMIME, the
// one thing only BDAT carries, never applies to mail that arrived as
// 7bit or 8BITMIME. Sessions are reused (pool.go), so the round trip is
// paid per message, not per handshake. Revisit when delivery to distant
// hosts shows that round trip.

// Reply limits: RFC 5321 4.5.3.1.5 caps a reply line at 512 octets; a
// sloppy peer gets eight times that, and a bounded number of lines.
const (
	maxReplyLine  = 4096
	maxReplyLines = 100
)

// writeBuffer is the size of a connection's write buffer: a message of
// up to this size leaves in one write with its final ".", instead of one
// per 4 KiB. (A connection's buffers live as long as it is pooled.)
const writeBuffer = 32 << 10

// client is one SMTP connection to a remote server.
type client struct {
	raw     net.Conn // the TCP connection, under TLS when there is TLS
	nc      net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	ext     map[string]string // EHLO keywords, upper-case -> parameters
	tls     bool
	timeout time.Duration // for each reply (RFC 5321 4.5.3.2: minutes)
	ctx     context.Context
	stop    func() bool // ends the context watch
	used    int         // transactions started on this connection
}

// newClient reads the greeting on an established connection, bound to
// ctx (see bind).
func newClient(ctx context.Context, nc net.Conn, timeout time.Duration) (*client, error) {
	c := &client{raw: nc, nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriterSize(nc, writeBuffer), timeout: timeout}
	c.bind(ctx)
	rep, err := c.readReply()
	if err != nil {
		c.close()
		return nil, err
	}
	if rep.Code != 220 {
		c.close()
		return nil, &ReplyError{Command: "greeting", Reply: rep}
	}
	return c, nil
}

// bind ties the connection to the context of the attempt using it: when
// ctx ends, the deadline moves to the past so any read or write in
// progress fails at once. A pooled connection is bound to each attempt
// in turn.
func (c *client) bind(ctx context.Context) {
	raw := c.raw
	c.ctx = ctx
	c.stop = context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
}

// unbind ends the context watch; false means the context ended first and
// the connection's deadline is in the past.
func (c *client) unbind() bool { return c.stop() }

func (c *client) close() error {
	c.stop()
	return c.nc.Close()
}

// quit ends the session politely; errors do not matter any more.
func (c *client) quit() {
	c.cmd("QUIT")
	c.close()
}

// quitTimeout bounds the QUIT of a session leaving the pool.
const quitTimeout = 10 * time.Second

// quitIdle ends an unbound (pooled) session politely.
func (c *client) quitIdle() {
	c.timeout = min(c.timeout, quitTimeout)
	c.ctx, c.stop = context.Background(), func() bool { return true }
	c.quit()
}

// readReply reads one (possibly multi-line) reply.
func (c *client) readReply() (Reply, error) {
	// Once ctx has ended, no new deadline may replace the one in the
	// past that the context watch set.
	if err := c.ctx.Err(); err != nil {
		return Reply{}, err
	}
	c.nc.SetReadDeadline(time.Now().Add(c.timeout))
	var rep Reply
	for {
		line, err := c.readLine()
		if err != nil {
			return Reply{}, err
		}
		if len(line) < 3 {
			return Reply{}, fmt.Errorf("smtp: malformed reply %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 200 || code > 599 || (rep.Code != 0 && code != rep.Code) {
			return Reply{}, fmt.Errorf("smtp: malformed reply %q", line)
		}
		rep.Code = code
		more := len(line) > 3 && line[3] == '-'
		if len(line) > 4 {
			rep.Lines = append(rep.Lines, line[4:])
		}
		if !more {
			return rep, nil
		}
		if len(rep.Lines) >= maxReplyLines {
			return Reply{}, errors.New("smtp: reply too long")
		}
	}
}

// readLine reads a CRLF (or LF) terminated line, refusing long ones
// before buffering them.
func (c *client) readLine() (string, error) {
	var b []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxReplyLine {
			return "", errors.New("smtp: reply line too long")
		}
		if err == nil {
			return strings.TrimRight(string(b), "\r\n"), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
}

// writeLine buffers one command line.
func (c *client) writeLine(format string, a ...any) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := fmt.Fprintf(c.w, format+"\r\n", a...)
	return err
}

func (c *client) flush() error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.w.Flush()
}

// cmd sends one command and reads its reply.
func (c *client) cmd(format string, a ...any) (Reply, error) {
	if err := c.writeLine(format, a...); err != nil {
		return Reply{}, err
	}
	if err := c.flush(); err != nil {
		return Reply{}, err
	}
	return c.readReply()
}

// expect sends a command and turns a reply other than code into a
// ReplyError naming the command.
func (c *client) expect(code int, name, format string, a ...any) error {
	rep, err := c.cmd(format, a...)
	if err != nil {
		return err
	}
	if rep.Code != code {
		return &ReplyError{Command: name, Reply: rep}
	}
	return nil
}

// hello sends EHLO, falling back to HELO for servers that refuse it, and
// records the extensions offered.
func (c *client) hello(name string) error {
	rep, err := c.cmd("EHLO %s", name)
	if err != nil {
		return err
	}
	c.ext = map[string]string{}
	if rep.Code == 250 {
		for _, l := range rep.Lines[min(1, len(rep.Lines)):] {
			k, v, _ := strings.Cut(l, " ")
			c.ext[strings.ToUpper(k)] = v
		}
		return nil
	}
	return c.expect(250, "HELO", "HELO %s", name)
}

func (c *client) has(ext string) bool {
	_, ok := c.ext[ext]
	return ok
}

// peerCertificates are the certificates the server presented under TLS.
func (c *client) peerCertificates() []*x509.Certificate {
	if tc, ok := c.nc.(*tls.Conn); ok {
		return tc.ConnectionState().PeerCertificates
	}
	return nil
}

// startTLS upgrades the connection; the caller must send EHLO again
// (RFC 3207 4.2: the server forgets everything it learnt).
func (c *client) startTLS(cfg *tls.Config) error {
	if err := c.expect(220, "STARTTLS", "STARTTLS"); err != nil {
		return err
	}
	tc := tls.Client(c.nc, cfg)
	tc.SetDeadline(time.Now().Add(c.timeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("smtp: TLS handshake: %w", err)
	}
	tc.SetDeadline(time.Time{})
	c.nc, c.tls = tc, true
	c.r.Reset(tc)
	c.w.Reset(tc)
	return nil
}

// auth authenticates with PLAIN, or LOGIN for servers offering only that
// (RFC 4954, RFC 4616; LOGIN is the de facto draft mechanism).
func (c *client) auth(user, password string) error {
	mechs := strings.Fields(strings.ToUpper(c.ext["AUTH"]))
	has := func(m string) bool {
		for _, x := range mechs {
			if x == m {
				return true
			}
		}
		return false
	}
	enc := base64.StdEncoding.EncodeToString
	switch {
	case has("PLAIN"):
		return c.expect(235, "AUTH", "AUTH PLAIN %s", enc([]byte("\x00"+user+"\x00"+password)))
	case has("LOGIN"):
		if err := c.expect(334, "AUTH", "AUTH LOGIN"); err != nil {
			return err
		}
		if err := c.expect(334, "AUTH", "%s", enc([]byte(user))); err != nil {
			return err
		}
		return c.expect(235, "AUTH", "%s", enc([]byte(password)))
	}
	return temporaryf("4.7.0", "smarthost offers neither AUTH PLAIN nor AUTH LOGIN")
}

// transaction is one message for some recipients, as sent on the wire.
type transaction struct {
	from       string
	mailParams []string
	rcpts      []string
	rcptParams [][]string
	body       io.Reader // CRLF lines, not dot-stuffed
}

// send runs MAIL, RCPT... and DATA. With PIPELINING the MAIL, RCPT and
// DATA commands (and RSET on a reused session) go in one write and their
// replies are read afterwards. It
// returns each recipient's RCPT reply and, when at least one recipient
// was accepted, the reply to the end of data; err is a failure of the
// whole transaction (connection, MAIL or DATA refused).
func (c *client) send(tx transaction) (rcpt []Reply, data Reply, err error) {
	pipelined := c.has("PIPELINING")
	params := func(p []string) string {
		if len(p) == 0 {
			return ""
		}
		return " " + strings.Join(p, " ")
	}
	// A reused connection starts with RSET, pipelined with the rest when
	// the peer allows: a session the peer has dropped meanwhile fails
	// here, before anything of this message was sent.
	reset := c.used > 0
	c.used++
	if reset {
		if err := c.writeLine("RSET"); err != nil {
			return nil, Reply{}, &staleError{err}
		}
		if !pipelined {
			if err := c.expectFlushed(250, "RSET"); err != nil {
				return nil, Reply{}, &staleError{err}
			}
		}
	}
	if err := c.writeLine("MAIL FROM:<%s>%s", tx.from, params(tx.mailParams)); err != nil {
		return nil, Reply{}, err
	}
	var mail Reply
	if !pipelined {
		if mail, err = c.flushRead(); err != nil {
			return nil, Reply{}, err
		}
		if mail.Code != 250 {
			return nil, Reply{}, &ReplyError{Command: "MAIL", Reply: mail}
		}
	}
	for i, r := range tx.rcpts {
		if err := c.writeLine("RCPT TO:<%s>%s", r, params(tx.rcptParams[i])); err != nil {
			return nil, Reply{}, err
		}
		if !pipelined {
			rep, err := c.flushRead()
			if err != nil {
				return nil, Reply{}, err
			}
			rcpt = append(rcpt, rep)
		}
	}
	accepted := func() bool {
		for _, r := range rcpt {
			if r.Code == 250 || r.Code == 251 {
				return true
			}
		}
		return false
	}
	if !pipelined {
		if !accepted() {
			c.cmd("RSET")
			return rcpt, Reply{}, nil
		}
		if err := c.expect(354, "DATA", "DATA"); err != nil {
			return rcpt, Reply{}, err
		}
	} else {
		// RFC 2920 3.1: DATA may end the group, so the whole envelope
		// costs one round trip; a peer refuses it when no RCPT passed.
		if err := c.writeLine("DATA"); err != nil {
			return nil, Reply{}, err
		}
		if err := c.flush(); err != nil {
			if reset {
				err = &staleError{err}
			}
			return nil, Reply{}, err
		}
		if reset {
			if rep, err := c.readReply(); err != nil || rep.Code != 250 {
				if err == nil {
					err = &ReplyError{Command: "RSET", Reply: rep}
				}
				return nil, Reply{}, &staleError{err}
			}
		}
		if mail, err = c.readReply(); err != nil {
			return nil, Reply{}, err
		}
		for range tx.rcpts {
			rep, err := c.readReply()
			if err != nil {
				return nil, Reply{}, err
			}
			rcpt = append(rcpt, rep)
		}
		dataRep, err := c.readReply()
		if err != nil {
			return rcpt, Reply{}, err
		}
		if dataRep.Code == 354 && (mail.Code != 250 || !accepted()) {
			// A peer that takes DATA without a recipient: end the empty
			// message (nobody can receive it) and forget its answer.
			c.writeLine(".")
			c.flushRead()
		}
		if mail.Code != 250 {
			return nil, Reply{}, &ReplyError{Command: "MAIL", Reply: mail}
		}
		if !accepted() {
			return rcpt, Reply{}, nil
		}
		if dataRep.Code != 354 {
			return rcpt, Reply{}, &ReplyError{Command: "DATA", Reply: dataRep}
		}
	}
	dw := &dotWriter{w: c.w}
	if _, err := io.Copy(dw, &deadlineReader{r: tx.body, c: c}); err != nil {
		return rcpt, Reply{}, err
	}
	if err := dw.Close(); err != nil {
		return rcpt, Reply{}, err
	}
	if data, err = c.flushRead(); err != nil {
		return rcpt, Reply{}, err
	}
	if data.Code != 250 {
		return rcpt, Reply{}, &ReplyError{Command: "DATA", Reply: data}
	}
	return rcpt, data, nil
}

// dotWriter writes a body as DATA's content (RFC 5321 4.5.2): a "." that
// starts a line is doubled, and Close ends the data with CRLF "." CRLF.
// Queued bodies have CRLF line endings already (store contract), so unlike
// net/textproto's DotWriter, which looks at every byte one by one (8% of
// the queue's CPU), it only looks for a line feed followed by a dot, with
// the vectorised bytes.Index, and writes the runs between whole.
type dotWriter struct {
	w     *bufio.Writer
	mid   bool // the last octet written did not end a line
	wrote bool // anything at all was written
}

var lfDot = []byte("\n.")

func (d *dotWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if !d.mid && p[0] == '.' {
			if err := d.w.WriteByte('.'); err != nil {
				return n, err
			}
		}
		run := p
		if i := bytes.Index(p, lfDot); i >= 0 {
			run = p[:i+1] // up to the line feed; the dot starts the next run
		}
		m, err := d.w.Write(run)
		n += m
		if err != nil {
			return n, err
		}
		d.mid, d.wrote = run[len(run)-1] != '\n', true
		p = p[len(run):]
	}
	return n, nil
}

// Close ends the data: a last line without its line end gets one (and
// an empty body is one empty line, as net/textproto sends it).
func (d *dotWriter) Close() error {
	if d.mid || !d.wrote {
		if _, err := d.w.WriteString("\r\n"); err != nil {
			return err
		}
	}
	_, err := d.w.WriteString(".\r\n")
	return err
}

// expectFlushed flushes what is buffered and turns a reply other than
// code into a ReplyError.
func (c *client) expectFlushed(code int, name string) error {
	rep, err := c.flushRead()
	if err != nil {
		return err
	}
	if rep.Code != code {
		return &ReplyError{Command: name, Reply: rep}
	}
	return nil
}

// staleError is a reused session that failed its RSET: the peer closed
// it while it was idle. Nothing of the transaction was accepted; the
// caller dials afresh.
type staleError struct{ err error }

func (e *staleError) Error() string { return "reused session: " + e.err.Error() }
func (e *staleError) Unwrap() error { return e.err }

func (c *client) flushRead() (Reply, error) {
	if err := c.flush(); err != nil {
		return Reply{}, err
	}
	return c.readReply()
}

// deadlineReader moves the write deadline on as the body is copied, so
// a big message to a slow but live server is not cut off while a stalled
// one is (RFC 5321 4.5.3.2.5: 3 minutes per data block).
type deadlineReader struct {
	r io.Reader
	c *client
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if err := d.c.ctx.Err(); err != nil {
		return 0, err
	}
	d.c.nc.SetWriteDeadline(time.Now().Add(d.c.timeout))
	return d.r.Read(p)
}

// xtext encodes a DSN parameter value (RFC 3461 4): "+", "=" and
// characters outside "!".."~" become "+XX".
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < '!' || ch > '~' || ch == '+' || ch == '=' {
			fmt.Fprintf(&b, "+%02X", ch)
		} else {
			b.WriteByte(ch)
		}
	}
	return b.String()
}

package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/pochta-mail/pochta/internal/server"
	"github.com/pochta-mail/pochta/internal/store"
)

// Handler returns the connection handler for a listener of the given
// mode. An implicit-TLS listener (submissions, port 465) is registered
// with server.TLSImplicit: its connections arrive as TLS connections,
// handshaken by internal/server (or here, if not yet).
func (s *Server) Handler(mode Mode) *Handler {
	return &Handler{s: s, mode: mode}
}

// Handler serves one listener's connections; see Server.Handler.
type Handler struct {
	s    *Server
	mode Mode
}

var _ server.Handler = (*Handler)(nil)

// readerSize is the session's read buffer: a command line (MaxLineLength)
// is collected from ReadSlice fragments of this size, never more.
const readerSize = 4096

// ServeConn serves one SMTP connection until it ends and closes it.
func (h *Handler) ServeConn(ctx context.Context, c net.Conn) {
	s := h.s
	defer c.Close()
	ss := newSession(ctx, s, h.mode, c)
	// A panic is not recovered here: internal/server's per-connection
	// recover logs it with its stack, counts it (pochta_panics_total) and
	// ends only this connection; in tests it fails the run.
	defer func() {
		if s.Metrics != nil {
			s.Metrics.BytesSent("smtp", ss.out.n)
		}
		ss.log.Info("smtp: session ended", "messages", ss.messages, "errors", ss.errs, "reason", ss.endReason,
			"duration", time.Since(ss.start).Round(time.Millisecond))
	}()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	if tc, ok := c.(server.TLSConn); ok {
		// Implicit TLS: a no-op when internal/server did the handshake.
		if err := server.Handshake(ctx, tc, handshakeTimeout); err != nil {
			ss.endReason = "TLS handshake failed"
			ss.log.Debug("smtp: TLS handshake failed", "err", err)
			return
		}
		st := tc.ConnectionState()
		ss.tls = &st
	}
	ss.log.Debug("smtp: session started")
	ss.serve()
	ss.linger()
}

// session is one SMTP connection: the transport, the protocol state, the
// authenticated account (submission) and the transaction in progress.
type session struct {
	srv  *Server
	mode Mode
	ctx  context.Context
	raw  net.Conn   // the accepted connection
	in   *pacedConn // raw with the pacing deadlines; what TLS runs over
	conn net.Conn   // the current transport: in, or TLS over it
	r    *bufio.Reader
	w    *bufio.Writer // replies not written yet; nil while idle (pooled)
	out  countingWriter
	ip   netip.Addr
	log  *slog.Logger
	tls  *tls.ConnectionState // nil without TLS

	start     time.Time
	state     state
	helo      string // the EHLO/HELO argument
	esmtp     bool   // greeted with EHLO
	account   *store.Account
	errs      int // refused commands (5xx)
	messages  int // accepted messages
	endReason string
	closing   bool   // end the session after this reply
	lingerFor int64  // octets to drop after the last reply (see linger)
	line      []byte // command line buffer

	txn transaction
}

func newSession(ctx context.Context, s *Server, mode Mode, c net.Conn) *session {
	now := time.Now()
	ss := &session{srv: s, mode: mode, ctx: ctx, raw: c, start: now, endReason: "disconnected"}
	ss.in = &pacedConn{Conn: c, ss: ss, pace: s.Pacing.Start(now)}
	ss.conn = ss.in
	ss.r = bufio.NewReaderSize(ss.conn, readerSize)
	ss.out.ss = ss
	ss.ip = server.RemoteIP(c)
	ss.log = s.logger().With("proto", mode.String(), "cid", s.nextID.Add(1), "remote", c.RemoteAddr().String())
	return ss
}

// startTLS makes tc the transport: what was buffered before it is dropped
// (RFC 3207 section 6: anything pipelined after STARTTLS came in clear
// text and may have been injected).
func (ss *session) startTLS(tc *tls.Conn) {
	ss.conn = tc
	ss.r.Reset(tc)
	st := tc.ConnectionState()
	ss.tls = &st
}

// serve greets, then runs one command per line until QUIT, an error, a
// timeout, the client leaving or the server shutting down.
func (ss *session) serve() {
	ss.writeReply(&Reply{Code: 220, Message: ss.srv.hostname() + " ESMTP Pochta"})
	for {
		if ss.r.Buffered() == 0 {
			// RFC 2920 section 3.2: replies to a pipelined group leave
			// together, when the server would wait for more input.
			if err := ss.flush(); err != nil {
				ss.endReason = "write failed"
				return
			}
			// An idle session holds no write buffer.
			ss.releaseWriter()
		}
		line, err := ss.readLine(ss.srv.maxLine())
		if err != nil {
			ss.readFailed(err)
			return
		}
		if ss.dispatch(line) {
			ss.flush()
			ss.releaseWriter()
			return
		}
	}
}

// readFailed ends the session after a failed read: a timeout, the end of
// the session's lifetime or a shutdown get their 421 (RFC 5321 section
// 4.5.3.2: the server should say why); a line too long its 500.
func (ss *session) readFailed(err error) {
	var r *Reply
	switch {
	case errors.Is(err, errLineTooLongRead):
		ss.endReason = "line too long"
		r = errLineTooLong
		ss.lingerFor = server.LingerAfterRefusal // the rest of the line
	case ss.ctx.Err() != nil:
		ss.endReason = "server shutdown"
		r = errShuttingDown
	case isTimeout(err) && ss.in.expired():
		ss.endReason = "session lifetime"
		r = errSessionTooLong
	case isTimeout(err):
		ss.endReason = "timeout"
		r = errTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return
	default:
		ss.endReason = "read failed"
		ss.log.Debug("smtp: read failed", "err", err)
		return
	}
	if r != errLineTooLong {
		ss.log.Info("smtp: closing slow or expired session", "reply", r.Message,
			"duration", time.Since(ss.start).Round(time.Millisecond))
	}
	ss.writeReply(r)
	ss.flush()
}

// linger ends a session the server ends while the client may still be
// sending (a refused BDAT chunk it did not read, the rest of a pipelined
// group or of an over-long line): see server.Linger.
func (ss *session) linger() {
	if ss.lingerFor <= 0 {
		return
	}
	n, err := server.Linger(ss.ctx, ss.conn, ss.raw, ss.in.pace, ss.lingerFor)
	ss.log.Debug("smtp: dropped the input after the last reply", "octets", n, "err", err)
}

// isTimeout reports a read deadline's error, however wrapped.
func isTimeout(err error) bool {
	return os.IsTimeout(err) || errors.Is(err, os.ErrDeadlineExceeded)
}

// writer is the session's write buffer, taken from the server's pool
// when needed: an idle session holds none (10,000 idle connections would
// hold 40 MiB).
func (ss *session) writer() *bufio.Writer {
	if ss.w == nil {
		if w, ok := ss.srv.writers.Get().(*bufio.Writer); ok {
			w.Reset(&ss.out)
			ss.w = w
		} else {
			ss.w = bufio.NewWriterSize(&ss.out, 4096)
		}
	}
	return ss.w
}

// flush writes the queued replies.
func (ss *session) flush() error {
	if ss.w == nil {
		return nil
	}
	return ss.w.Flush()
}

// releaseWriter returns an empty write buffer to the pool.
func (ss *session) releaseWriter() {
	if ss.w != nil && ss.w.Buffered() == 0 {
		ss.w.Reset(nil)
		ss.srv.writers.Put(ss.w)
		ss.w = nil
	}
}

// writeReply queues a reply; serve flushes it.
func (ss *session) writeReply(r *Reply) {
	w := ss.writer()
	w.WriteString(r.String())
	w.WriteString("\r\n")
}

// writeMulti queues a multi-line reply (EHLO).
func (ss *session) writeMulti(code int, lines []string) {
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		ss.writer().WriteString(itoa3(code) + sep + l + "\r\n")
	}
}

func itoa3(code int) string {
	return string([]byte{byte('0' + code/100), byte('0' + code/10%10), byte('0' + code%10)})
}

// countingWriter writes to the session's current transport with a write
// deadline per call, and counts the bytes for the metrics.
type countingWriter struct {
	ss *session
	n  int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	ss := w.ss
	_ = ss.raw.SetWriteDeadline(ss.in.pace.CapWrite(time.Now().Add(ss.srv.writeTimeout())))
	n, err := ss.conn.Write(p)
	w.n += int64(n)
	return n, err
}

// pacedConn gives every read of the connection the deadline of the
// session's phase (internal/server's Pacing: the idle wait for a command,
// RFC 5321 section 4.5.3.2, or for message data, then the rest of the
// client's burst at a minimum rate, within the session's lifetime), and
// marks each write as a reply. It sits below TLS, so it counts what the
// client really sends. Only the session's goroutine uses it.
type pacedConn struct {
	net.Conn
	ss     *session
	pace   *server.Pace
	inData bool // reading message data: DataTimeout is the idle wait
}

func (c *pacedConn) Read(p []byte) (int, error) {
	if c.ss.ctx.Err() != nil {
		return 0, os.ErrDeadlineExceeded
	}
	idle := c.ss.srv.commandTimeout()
	if c.inData {
		idle = c.ss.srv.dataTimeout()
	}
	_ = c.Conn.SetReadDeadline(c.pace.ReadDeadline(time.Now(), idle))
	if c.ss.ctx.Err() != nil {
		// Cancelled between the check and the new deadline, which
		// overwrote the one the cancellation set.
		return 0, os.ErrDeadlineExceeded
	}
	n, err := c.Conn.Read(p)
	c.pace.Received(time.Now(), n)
	return n, err
}

func (c *pacedConn) Write(p []byte) (int, error) {
	c.pace.Replied()
	return c.Conn.Write(p)
}

func (c *pacedConn) expired() bool { return c.pace.Expired(time.Now()) }

package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/pochta-mail/pochta/internal/server"
	"github.com/pochta-mail/pochta/internal/store"
)

// state is the RFC 1939 session state.
type state uint8

const (
	stateAuthorization state = iota
	stateTransaction
	stateUpdate
)

func (st state) String() string {
	switch st {
	case stateAuthorization:
		return "AUTHORIZATION"
	case stateTransaction:
		return "TRANSACTION"
	case stateUpdate:
		return "UPDATE"
	}
	return "state(" + strconv.Itoa(int(st)) + ")"
}

const (
	// readerSize is the per-connection input buffer. Command lines are at
	// most 255 octets; 1 KiB holds a few pipelined commands and keeps an
	// idle connection small.
	readerSize = 1024
	// writerSize is the output buffer, taken from a pool only while a
	// response is being written, so idle connections hold none.
	writerSize = 64 << 10
)

// session is one POP3 connection.
type session struct {
	srv  *Server
	ctx  context.Context
	conn net.Conn // current transport: the accepted conn, or TLS over it after STLS
	r    *bufio.Reader
	w    *bufio.Writer // nil while idle; see writer and flush
	cw   connWriter
	log  *slog.Logger
	line []byte // accumulates lines longer than the reader's buffer

	state    state
	isTLS    bool
	loopback bool
	ip       netip.Addr
	remote   string
	start    time.Time
	pace     *server.Pace // lifetime (limits.max_session); line.go keeps its own phases
	// readDL and writeDL are the deadlines last set on conn, zero when
	// unknown; see keepDeadline.
	readDL, writeDL time.Time
	raw             net.Conn // the accepted connection, below STLS
	// lingerFor is what finish drops of the client's input before it
	// closes (server.Linger), after a refusal that ends the session.
	lingerFor int64

	// AUTHORIZATION state; reset by STLS.
	apopStamp string // greeting timestamp, "" when APOP is off
	user      string // from USER, waiting for PASS
	utf8      bool   // RFC 6856 UTF8 mode
	bad       int    // erroneous commands so far

	// TRANSACTION state.
	account     store.Account
	drop        store.Maildrop
	msgs        []store.MaildropMessage
	deleted     []bool // by message index; DELE marks, RSET clears
	nDeleted    int
	sizeDeleted int64
	totalSize   int64
	retrieved   []bool // fully sent by RETR/TOP this session, for MarkRetrieved
	last        int    // RFC 1725 LAST: highest message number retrieved
	// expungedUpTo is the highest message number RETR/TOP found expunged
	// by another session; asking again at or below it is a bad command.
	expungedUpTo int
	// aheadFrom is where readAhead looks for the next message after a
	// RETR (its index + 1), -1 when there is nothing to do; ahead is the
	// body it opened, of message aheadIdx (see readAhead).
	aheadFrom int
	ahead     io.ReadCloser
	aheadIdx  int

	// Statistics for the end-of-session log line.
	nRetr      int
	retrBytes  int64
	nExpunged  int
	endReason  string
	loginLogin string // the login as typed, for the throttle
}

// connWriter writes to the session's current transport with a write
// deadline per call (see setWriteDeadline) and counts the bytes.
type connWriter struct {
	s *session
	n int64
}

func (cw *connWriter) Write(p []byte) (int, error) {
	cw.s.setWriteDeadline()
	n, err := cw.s.conn.Write(p)
	cw.n += int64(n)
	return n, err
}

// setWriteDeadline gives the next write the write timeout, capped by the
// session's lifetime, or keeps the deadline set if it is as good
// (keepDeadline).
func (s *session) setWriteDeadline() {
	d := s.srv.writeTimeout()
	if want := s.pace.CapWrite(time.Now().Add(d)); !keepDeadline(s.writeDL, want, d) {
		_ = s.conn.SetWriteDeadline(want)
		s.writeDL = want
	}
}

func newSession(ctx context.Context, srv *Server, c net.Conn) *session {
	now := time.Now()
	s := &session{srv: srv, ctx: ctx, conn: c, raw: c, start: now, pace: srv.Pacing.Start(now), aheadFrom: -1}
	s.cw.s = s
	s.r = bufio.NewReaderSize(c, readerSize)
	s.remote = c.RemoteAddr().String()
	s.ip = remoteIP(c.RemoteAddr())
	s.loopback = s.ip.IsLoopback()
	_, s.isTLS = c.(server.TLSConn)
	s.log = srv.logger().With("proto", "pop3", "cid", srv.nextID.Add(1), "remote", s.remote)
	return s
}

func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// serve runs the session: greeting, then one command per line until QUIT,
// an error, a timeout, the client leaving or ctx being cancelled.
func (s *session) serve() {
	// Cancelling ctx interrupts a blocked read; the read loop re-checks
	// ctx after setting each deadline so it cannot be overwritten.
	// The accepted conn is captured: STLS replaces s.conn, and a TLS
	// conn's deadlines are its underlying conn's anyway.
	raw := s.conn
	stop := context.AfterFunc(s.ctx, func() { _ = raw.SetReadDeadline(time.Now()) })
	defer stop()

	if tc, ok := s.conn.(server.TLSConn); ok {
		if err := s.handshake(tc); err != nil {
			s.endReason = "TLS handshake failed"
			s.log.Info("pop3: TLS handshake failed", "err", err)
			return
		}
	}
	s.greet()
	for {
		if err := s.flushIfIdle(); err != nil {
			s.endReason = "write failed"
			return
		}
		s.readAhead()
		line, err := s.readCommandLine()
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				if s.fail(badCommand("Line too long")) {
					return
				}
				continue
			}
			_ = s.readFailed(err)
			return
		}
		if s.dispatch(line) {
			_ = s.flush()
			return
		}
	}
}

func (s *session) handshake(tc server.TLSConn) error {
	// The handshake may set deadlines of its own: forget the ones set.
	s.readDL, s.writeDL = time.Time{}, time.Time{}
	err := server.Handshake(s.ctx, tc, s.srv.lineTimeout())
	s.readDL, s.writeDL = time.Time{}, time.Time{}
	return err
}

func (s *session) greet() {
	host := s.srv.hostname()
	if s.srv.Auth != nil && s.srv.Auth.LegacyEnabled() {
		// RFC 1939 §7: the APOP timestamp is unique per greeting.
		var b [8]byte
		_, _ = rand.Read(b[:])
		s.apopStamp = fmt.Sprintf("<%d.%d@%s>", binary.BigEndian.Uint64(b[:])>>1, time.Now().Unix(), host)
		s.okf("%s POP3 ready %s", host, s.apopStamp)
		return
	}
	s.okf("%s POP3 ready", host)
}

// readFailed ends the session after a failed read, saying goodbye when the
// connection is still usable.
func (s *session) readFailed(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, errShutdown) || s.ctx.Err() != nil:
		s.endReason = "server shutdown"
		s.bestEffort("-ERR [SYS/TEMP] Server shutting down")
	case (errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)) && s.pace.Expired(time.Now()):
		s.endReason = "session lifetime"
		s.bestEffort("-ERR [SYS/TEMP] Session lasted too long; reconnect to go on")
	case errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
		s.endReason = "autologout"
		s.bestEffort("-ERR Autologout; idle for too long")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		s.endReason = "disconnected"
	default:
		s.endReason = "read failed"
		s.log.Debug("pop3: read failed", "err", err)
	}
	return &endSession{reason: s.endReason}
}

// bestEffort sends a last line without caring whether it arrives.
func (s *session) bestEffort(line string) {
	w := s.writer()
	_, _ = w.WriteString(line)
	_, _ = w.WriteString("\r\n")
	_ = s.flush()
}

// dispatch runs one command line and reports whether the session ends.
func (s *session) dispatch(line []byte) bool {
	name, rest, err := splitCommand(line)
	if err != nil {
		return s.fail(err)
	}
	cmd := lookupCommand(name, s.srv)
	if cmd == nil {
		s.countCommand("unknown", time.Now())
		return s.fail(badCommand("Unknown command"))
	}
	if !cmd.states.has(s.state) {
		return s.fail(badCommand("%s not valid in %s state", cmd.name, s.state))
	}
	args, err := cmd.parseArgs(rest)
	if err != nil {
		return s.fail(err)
	}
	s.trace(cmd, args)
	start := time.Now()
	err = cmd.run(s, args)
	s.countCommand(cmd.name, start)
	return s.fail(err)
}

// countCommand reports a command (named from the command table, never
// from client input) and its latency.
func (s *session) countCommand(name string, start time.Time) {
	if s.srv.Metrics != nil {
		s.srv.Metrics.Command("pop3", name, time.Since(start))
	}
}

// LevelTrace is the slog level of the wire trace: one record per command,
// with the arguments of PASS, APOP and AUTH redacted.
const LevelTrace = slog.LevelDebug - 4

func (s *session) trace(cmd *command, args []string) {
	if !s.log.Enabled(s.ctx, LevelTrace) {
		return
	}
	if cmd.secret && len(args) > 0 {
		// AUTH's mechanism name is harmless; the rest is not.
		if cmd.name == "AUTH" {
			args = append([]string{args[0]}, "[redacted]")[:len(args)]
		} else {
			args = []string{"[redacted]"}
		}
	}
	s.log.Log(s.ctx, LevelTrace, "pop3: command", "cmd", cmd.name, "args", args, "state", s.state.String())
}

// fail writes the reply for a handler's error and reports whether the
// session ends. nil is no failure.
func (s *session) fail(err error) bool {
	if err == nil {
		return false
	}
	var end *endSession
	if errors.As(err, &end) {
		if s.endReason == "" {
			s.endReason = end.reason
		}
		if end.cause != nil {
			s.log.Warn("pop3: session ended by error", "err", end.cause)
		}
		return true
	}
	pe := replyFor(err)
	if pe.cause != nil {
		// Internal details go to the log, never to the wire.
		s.log.Warn("pop3: command failed", "code", pe.code, "err", pe.cause)
	}
	s.errReply(pe.code, pe.text)
	if pe.bad {
		s.bad++
		if s.bad >= s.srv.maxBadCommands() {
			s.errReply("", "Too many bad commands, closing connection")
			s.endReason = "too many bad commands"
			s.lingerFor = server.LingerAfterRefusal // what a pipelining client still sent
			return true
		}
	}
	return false
}

// writer returns the output buffer, taking one from the pool if the
// session holds none.
func (s *session) writer() *bufio.Writer {
	if s.w == nil {
		if w, ok := s.srv.writers.Get().(*bufio.Writer); ok {
			w.Reset(&s.cw)
			s.w = w
		} else {
			s.w = bufio.NewWriterSize(&s.cw, writerSize)
		}
	}
	return s.w
}

// flush sends buffered output and returns the buffer to the pool.
func (s *session) flush() error {
	if s.w == nil {
		return nil
	}
	err := s.w.Flush()
	s.w.Reset(nil)
	s.srv.writers.Put(s.w)
	s.w = nil
	return err
}

// flushIfIdle flushes unless a complete command line is already buffered:
// answers to a pipeline go out in one write (RFC 2449 PIPELINING), like
// Dovecot's corked output.
func (s *session) flushIfIdle() error {
	if s.w == nil {
		return nil
	}
	if n := s.r.Buffered(); n > 0 {
		if buf, _ := s.r.Peek(n); containsLF(buf) {
			return nil // the bufio.Writer still flushes itself when full
		}
	}
	return s.flush()
}

func containsLF(b []byte) bool { return bytes.IndexByte(b, '\n') >= 0 }

func (s *session) okf(format string, args ...any) {
	w := s.writer()
	_, _ = w.WriteString("+OK ")
	_, _ = fmt.Fprintf(w, format, args...)
	_, _ = w.WriteString("\r\n")
}

func (s *session) ok(text string) {
	w := s.writer()
	_, _ = w.WriteString("+OK")
	if text != "" {
		_ = w.WriteByte(' ')
		_, _ = w.WriteString(text)
	}
	_, _ = w.WriteString("\r\n")
}

func (s *session) errReply(code, text string) {
	w := s.writer()
	_, _ = w.WriteString("-ERR ")
	if code != "" {
		_ = w.WriteByte('[')
		_, _ = w.WriteString(code)
		_, _ = w.WriteString("] ")
	}
	_, _ = w.WriteString(text)
	_, _ = w.WriteString("\r\n")
}

// finish ends the session: no UPDATE unless QUIT ran it, the first
// retrievals recorded, the maildrop unlocked, the connection closed and one
// log line written.
func (s *session) finish() {
	_ = s.flush()
	s.dropAhead()
	if s.drop != nil {
		s.markRetrieved()
		if err := s.drop.Close(); err != nil {
			s.log.Warn("pop3: closing maildrop", "err", err)
		}
		s.drop = nil
	}
	if s.lingerFor > 0 {
		n, err := server.Linger(s.ctx, s.conn, s.raw, s.pace, s.lingerFor)
		s.log.Debug("pop3: dropped the input after the last reply", "octets", n, "err", err)
	}
	_ = s.conn.Close()
	if s.endReason == "" {
		s.endReason = "closed"
	}
	if s.srv.Metrics != nil {
		s.srv.Metrics.BytesSent("pop3", s.cw.n)
	}
	// The logger carries "user" once logged in.
	s.log.Info("pop3: session end",
		"how", s.endReason,
		"retrieved", s.nRetr,
		"retrieved_bytes", s.retrBytes,
		"deleted", s.nExpunged,
		"bytes_out", s.cw.n,
		"duration", time.Since(s.start).Round(time.Millisecond))
}

func stack() string { return string(debug.Stack()) }

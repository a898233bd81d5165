package imap

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
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/imap/wire"
	"github.com/pochta-mail/pochta/internal/server"
	"github.com/pochta-mail/pochta/internal/store"
)

// readerSize is the per-connection input buffer. Longer command segments
// accumulate in the parser (bounded by its MaxLine) and large literals
// are read past it, so 1 KiB costs nothing in speed and keeps an idle
// (IDLE) connection small: at 3,000 IDLE connections the server's RSS
// grew by about 17 KiB each with 2 KiB here.
const readerSize = 1 << 10

// Limits before and after login: before, nothing may make the server hold
// much (a LOGIN literal, an AUTHENTICATE initial response).
var (
	// MaxLine holds an ID command at RFC 2971's maxima (30 pairs, values
	// of 1024 octets) on one line.
	preAuthLimits = wire.Limits{MaxLine: 40 << 10, MaxLiteral: 8 << 10, MaxTokens: 100, MaxDepth: 4, MaxCommand: 64 << 10, MaxSkip: 8 << 10}
	authLimits    = wire.DefaultLimits
)

// session is one IMAP connection.
type session struct {
	srv  *Server
	ctx  context.Context
	conn net.Conn // current transport: the accepted conn, or TLS over it after STARTTLS
	raw  net.Conn // the accepted conn
	// lingerFor is what finish drops of the client's input before it
	// closes (server.Linger), after a refusal that ends the session.
	lingerFor int64
	cr        connReader
	cw        connWriter
	r         *bufio.Reader
	p         *wire.Parser
	w         *wire.Writer
	// wmu serialises writing while IDLE pushes updates from another
	// goroutine; outside IDLE only the session goroutine writes.
	wmu  sync.Mutex
	idle idleState
	log  *slog.Logger
	// pace bounds slow clients and the session's life (limits.*);
	// paceMu guards it: an IDLE push writes while the session reads.
	paceMu sync.Mutex
	pace   *server.Pace

	state    state
	isTLS    bool
	loopback bool
	ip       netip.Addr
	remote   string
	start    time.Time
	bad      int // erroneous commands in a row

	account *store.Account
	sel     *view // nil unless a mailbox is selected
	// ENABLEd extensions (RFC 5161).
	rev2 bool // IMAP4rev2
	utf8 bool // UTF8=ACCEPT (RFC 6855)
	// compress is the output transport once COMPRESS is active (compress.go).
	compress *deflateWriter
	// condstore: a CONDSTORE enabling command ran (RFC 7162 §3.1), so
	// every FETCH response carries MODSEQ; qresync: ENABLE QRESYNC
	// (§3.2.3), so removals are VANISHED, not EXPUNGE.
	condstore bool
	qresync   bool

	// The tagged OK of the running command; see ok. okModSeq asks for
	// [HIGHESTMODSEQ] in it, with the mailbox's mod-sequence once the
	// command's updates are sent (RFC 7162 §3.2.7).
	okCode, okText string
	okModSeq       bool

	nCommands int
	endReason string
}

// connReader reads from the session's current transport under the
// session's Pace (internal/server): timeout is the wait for the first
// byte of the client's next burst (the idle timeout between commands, the
// line timeout inside one, after a literal's "+"); once a burst started
// it must go on at limits.min_data_rate, and nothing outlives
// limits.max_session. A slow but moving APPEND literal is not cut off.
type connReader struct {
	s       *session
	timeout time.Duration
}

func (cr *connReader) Read(p []byte) (int, error) {
	s := cr.s
	s.paceMu.Lock()
	d := s.pace.ReadDeadline(time.Now(), cr.timeout)
	s.paceMu.Unlock()
	_ = s.conn.SetReadDeadline(d)
	// A cancellation that happened before cannot be undone by the new
	// deadline; one that happens after sets its own (see serve).
	if s.ctx.Err() != nil {
		return 0, errShutdown
	}
	n, err := s.conn.Read(p)
	s.paceMu.Lock()
	s.pace.Received(time.Now(), n)
	s.paceMu.Unlock()
	return n, err
}

// connWriter writes to the current transport with a deadline per write,
// capped by the session's lifetime; each write is a reply, so the
// client's next byte starts a new burst.
type connWriter struct {
	s *session
	n int64
}

func (cw *connWriter) Write(p []byte) (int, error) {
	s := cw.s
	s.paceMu.Lock()
	d := s.pace.CapWrite(time.Now().Add(s.srv.writeTimeout()))
	s.paceMu.Unlock()
	_ = s.conn.SetWriteDeadline(d)
	n, err := s.conn.Write(p)
	cw.n += int64(n)
	s.paceMu.Lock()
	s.pace.Replied()
	s.paceMu.Unlock()
	return n, err
}

var errShutdown = errors.New("imap: server shutting down")

func newSession(ctx context.Context, srv *Server, c net.Conn) *session {
	now := time.Now()
	s := &session{srv: srv, ctx: ctx, conn: c, raw: c, start: now, pace: srv.Pacing.Start(now)}
	s.cr.s, s.cw.s = s, s
	s.cr.timeout = srv.authIdleTimeout()
	s.r = bufio.NewReaderSize(&s.cr, readerSize)
	s.p = wire.NewParser(s.r, preAuthLimits)
	s.p.Continue = s.continueLiteral
	s.w = wire.NewWriter(&s.cw)
	s.remote = c.RemoteAddr().String()
	s.ip = server.RemoteIP(c)
	s.loopback = s.ip.IsLoopback()
	_, s.isTLS = c.(server.TLSConn)
	s.log = srv.logger().With("proto", "imap", "cid", srv.nextID.Add(1), "remote", s.remote)
	return s
}

func (s *session) handshake(tc server.TLSConn) error {
	return server.Handshake(s.ctx, tc, s.srv.lineTimeout())
}

// serve runs the session: greeting, then one command at a time until
// LOGOUT, an error, a timeout, the client leaving or ctx being cancelled.
func (s *session) serve() {
	// Cancelling ctx interrupts a blocked read or write. The accepted
	// conn is captured: a TLS conn's deadlines are its underlying conn's.
	raw := s.conn
	stop := context.AfterFunc(s.ctx, func() {
		_ = raw.SetReadDeadline(time.Now())
	})
	defer stop()

	ended := s.detached(s.greet)
	for !ended && s.state != stateLogout {
		if err := s.flushIfIdle(); err != nil {
			s.endReason = "write failed"
			return
		}
		if !s.p.CommandBuffered() {
			s.cr.timeout = s.idleTimeout()
			if err := s.p.Wait(); err != nil {
				s.readFailed(err)
				return
			}
		}
		s.cr.timeout = s.srv.lineTimeout()
		if s.idle.tag != "" {
			// IDLE's DONE is read here, on the session's goroutine.
			line, err := s.p.ReadLine()
			ended = s.detached(func() bool { return s.idleDone(line, err) })
			continue
		}
		ended = s.detached(func() bool {
			if err := s.p.Begin(); err != nil {
				return s.fail("", err)
			}
			return s.command()
		})
	}
}

// greet runs the TLS handshake of an implicit-TLS connection and sends
// the greeting. It reports whether the session ends.
func (s *session) greet() bool {
	if tc, ok := s.conn.(server.TLSConn); ok {
		if err := s.handshake(tc); err != nil {
			s.endReason = "TLS handshake failed"
			s.log.Info("imap: TLS handshake failed", "err", err)
			return true
		}
	}
	s.w.Raw("* OK [CAPABILITY ")
	s.writeCaps()
	s.w.Raw("] " + s.srv.hostname() + " Pochta IMAP4rev2 ready\r\n")
	return false
}

// detached runs fn, the work of one command, on a goroutine of its own
// and waits for it; it reports fn's result (whether the session ends).
//
// Why: a goroutine's stack only grows, and shrinks at best by half per GC
// (one every two minutes on an idle server). Store work runs deep (the
// pure-Go SQLite engine has large frames), so if it ran on the session's
// goroutine, every connection parked between commands or in IDLE would
// keep a stack sized for SQL. The session goroutine only ever waits for
// input; each command's goroutine exits when the command is done.
//
// A panic in fn is contained here (recover works only on the panicking
// goroutine): logged, counted (tests fail on it), and the session ends.
func (s *session) detached(fn func() bool) bool {
	done := make(chan bool, 1)
	go func() {
		ended := true
		defer func() {
			if v := recover(); v != nil {
				s.srv.countPanic()
				s.endReason = "panic"
				s.log.Error("imap: panic in command", "panic", v, "stack", string(debug.Stack()))
			}
			done <- ended
		}()
		ended = fn()
	}()
	return <-done
}

// expired reports whether the session outlived limits.max_session.
func (s *session) expired() bool {
	s.paceMu.Lock()
	defer s.paceMu.Unlock()
	return s.pace.Expired(time.Now())
}

func (s *session) idleTimeout() time.Duration {
	if s.state == stateNotAuthenticated {
		return s.srv.authIdleTimeout()
	}
	return s.srv.idleTimeout()
}

// readFailed notes why the session ends after a failed read, saying
// goodbye when the connection is still usable.
func (s *session) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errShutdown) || s.ctx.Err() != nil:
		s.endReason = "server shutdown"
		s.bestEffort("* BYE [UNAVAILABLE] Server shutting down\r\n")
	case (errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)) && s.expired():
		s.endReason = "session lifetime"
		s.bestEffort("* BYE [UNAVAILABLE] Session lasted too long; reconnect to go on\r\n")
	case (errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)) && s.p.InCommand():
		s.endReason = "slow client"
		s.bestEffort("* BYE Command not completed in time\r\n")
	case errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
		s.endReason = "autologout"
		s.bestEffort("* BYE Autologout; idle for too long\r\n")
	case errors.Is(err, errBadCompression):
		s.endReason = "corrupt compressed input"
		s.bestEffort("* BYE Corrupt compressed data\r\n")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		s.endReason = "disconnected"
	default:
		s.endReason = "read failed"
		s.log.Debug("imap: read failed", "err", err)
	}
}

// bestEffort sends a last line without caring whether it arrives.
func (s *session) bestEffort(line string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.w.Raw(line)
	_ = s.w.Release()
}

func isProtoErr(err error) bool {
	var we *wire.Error
	var pe *protoError
	return errors.As(err, &we) || errors.As(err, &pe)
}

// command reads a command's tag and name, checks the table and runs the
// handler. It reports whether the session ends.
func (s *session) command() bool {
	tag, err := s.p.Tag()
	if err != nil {
		return s.fail("", err)
	}
	if err := s.p.SP(); err != nil {
		return s.fail(tag, bad("Missing command"))
	}
	name, err := s.p.Atom()
	if err != nil {
		return s.fail(tag, bad("Missing command"))
	}
	uid := false
	if strings.EqualFold(name, "UID") {
		uid = true
		if s.p.SP() != nil {
			return s.fail(tag, bad("UID needs a command"))
		}
		if name, err = s.p.Atom(); err != nil {
			return s.fail(tag, bad("UID needs a command"))
		}
	}
	cmd := lookupCommand(name)
	switch {
	case cmd == nil || (uid && !cmd.uid):
		s.countCommand("unknown", time.Now())
		return s.fail(tag, bad("Unknown command"))
	case !cmd.states.has(s.state):
		if uid {
			return s.fail(tag, bad("UID %s not valid in %s state", cmd.name, s.state))
		}
		return s.fail(tag, bad("%s not valid in %s state", cmd.name, s.state))
	}
	s.trace(tag, cmd, uid)
	s.nCommands++
	s.okCode, s.okText, s.okModSeq = "", "", false
	if s.srv.Metrics != nil {
		// Counted once the tagged reply is written (IDLE: once idling).
		label := cmd.name
		if uid {
			label = "UID " + cmd.name
		}
		defer s.countCommand(label, time.Now())
	}
	err = cmd.run(s, tag, uid)
	if err == errIdling {
		return false // the session loop reads DONE, idleDone answers
	}
	if err == nil && s.p.InCommand() {
		// A handler that forgot End: its arguments were not all checked.
		err = s.p.End()
	}
	if s.sel != nil && s.state == stateSelected && !isFatal(err) {
		if perr := s.sel.poll(s, !(cmd.seqSensitive && !uid)); perr != nil && err == nil {
			err = perr
		}
	}
	if err == nil && s.okModSeq && s.okCode == "" && s.sel != nil {
		s.okCode = "HIGHESTMODSEQ " + strconv.FormatUint(s.sel.safe, 10)
	}
	if errors.Is(err, errTaggedAlready) {
		return s.state == stateLogout
	}
	if err != nil {
		return s.fail(tag, err)
	}
	text := s.okText
	if text == "" {
		if uid {
			text = "UID " + cmd.name + " completed"
		} else {
			text = cmd.name + " completed"
		}
	}
	s.tagged(tag, "OK", s.okCode, text)
	// Only consecutive errors count, as in Dovecot: a client that gets
	// things right again is not closed for old mistakes.
	s.bad = 0
	return s.state == stateLogout
}

// countCommand reports a command (named from the command table, never
// from client input) and its latency.
func (s *session) countCommand(name string, start time.Time) {
	if s.srv.Metrics != nil {
		s.srv.Metrics.Command("imap", name, time.Since(start))
	}
}

// ok sets the tagged OK the running command ends with; without it, the
// reply is "tag OK NAME completed".
func (s *session) ok(code, text string) { s.okCode, s.okText = code, text }

func isFatal(err error) bool {
	var end *endSession
	return err != nil && (errors.As(err, &end) || wire.IsFatal(err))
}

// tagged writes a tagged status response.
func (s *session) tagged(tag, status, code, text string) {
	if tag == "" {
		tag = "*"
	}
	s.w.Raw(tag)
	s.w.SP()
	s.w.Raw(status)
	s.w.SP()
	if code != "" {
		s.w.Byte('[')
		s.w.Raw(code)
		s.w.Raw("] ")
	}
	s.w.Raw(text)
	s.w.CRLF()
}

// fail writes the reply for an error and reports whether the session
// ends. The rest of a failed command is skipped.
func (s *session) fail(tag string, err error) bool {
	var end *endSession
	if errors.As(err, &end) {
		if s.endReason == "" {
			s.endReason = end.reason
		}
		if end.cause != nil {
			s.log.Warn("imap: session ended by error", "err", end.cause)
		}
		if end.bye != "" {
			s.bestEffort("* BYE " + end.bye + "\r\n")
		}
		return true
	}
	var we *wire.Error
	if errors.As(err, &we) && we.Fatal {
		s.endReason = "protocol violation"
		s.bestEffort("* BYE [" + we.Code + "] " + we.Text + "\r\n")
		s.lingerFor = server.LingerAfterRefusal // the rest of the line or literal
		return true
	}
	if !isProtoErr(err) && isReadError(err) {
		s.readFailed(err)
		return true
	}
	pe := replyFor(err)
	if pe.cause != nil {
		// Internal details go to the log, never to the wire.
		s.log.Warn("imap: command failed", "code", pe.code, "err", pe.cause)
	}
	status := "NO"
	if pe.bad {
		status = "BAD"
	}
	s.tagged(tag, status, pe.code, pe.text)
	if err := s.p.SkipCommand(); err != nil {
		if wire.IsFatal(err) {
			s.endReason = "protocol violation"
			s.bestEffort("* BYE [TOOBIG] Literal too large\r\n")
			s.lingerFor = server.LingerAfterRefusal
		} else {
			s.readFailed(err)
		}
		return true
	}
	if pe.counted {
		s.bad++
		if s.bad >= s.srv.maxBadCommands() {
			s.endReason = "too many bad commands"
			s.bestEffort("* BYE Too many invalid commands\r\n")
			s.lingerFor = server.LingerAfterRefusal // what a pipelining client still sent
			return true
		}
	}
	return false
}

// isReadError: the connection failed under the parser (EOF, timeout).
func isReadError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errShutdown) ||
		errors.Is(err, errBadCompression) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed)
}

// LevelTrace is the slog level of the wire trace: one record per command,
// without arguments of LOGIN and AUTHENTICATE.
const LevelTrace = slog.LevelDebug - 4

func (s *session) trace(tag string, cmd *command, uid bool) {
	if !s.log.Enabled(s.ctx, LevelTrace) {
		return
	}
	args := "[redacted]"
	if !cmd.secret {
		args = s.p.Rest()
	}
	s.log.Log(s.ctx, LevelTrace, "imap: command", "tag", tag, "cmd", cmd.name, "uid", uid, "args", args, "state", s.state.String())
}

// continueLiteral sends the continuation request of a synchronising
// literal.
func (s *session) continueLiteral() error {
	s.w.Raw("+ Ready for literal data\r\n")
	return s.w.Flush()
}

// flushIfIdle flushes unless a complete command line is already buffered:
// answers to a pipeline go out in one write. While idle the session holds
// no output buffer.
func (s *session) flushIfIdle() error {
	if s.p.CommandBuffered() {
		return s.w.Err()
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.w.Release()
}

// finish ends the session: the view closed, the connection closed, one log
// line written.
func (s *session) finish() {
	// An IDLE push may be starting: it checks idle.active under wmu
	// before it looks at the view.
	s.wmu.Lock()
	s.idle.active = false
	_ = s.w.Release()
	s.wmu.Unlock()
	if s.sel != nil {
		s.sel.sub.OnChange(nil)
		s.sel.close()
		s.sel = nil
	}
	if s.lingerFor > 0 {
		// Nothing else writes now: IDLE is off and the view closed.
		s.paceMu.Lock()
		n, err := server.Linger(s.ctx, s.conn, s.raw, s.pace, s.lingerFor)
		s.paceMu.Unlock()
		s.log.Debug("imap: dropped the input after the last reply", "octets", n, "err", err)
	}
	if s.srv.Metrics != nil {
		s.srv.Metrics.BytesSent("imap", s.cw.n)
	}
	_ = s.conn.Close()
	if s.endReason == "" {
		s.endReason = "closed"
	}
	s.log.Info("imap: session end",
		"how", s.endReason,
		"commands", s.nCommands,
		"bytes_out", s.cw.n,
		"duration", time.Since(s.start).Round(time.Millisecond))
}

// cmdStartTLS: STARTTLS (RFC 9051 §6.2.1).
func (s *session) cmdStartTLS(tag string, _ bool) error {
	if err := s.p.End(); err != nil {
		return err
	}
	if s.isTLS {
		return bad("TLS is already active")
	}
	if s.compress != nil {
		// RFC 4978 §3 puts TLS below compression whatever the order of
		// the commands; sliding TLS under an active DEFLATE stream is
		// not offered.
		return bad("STARTTLS after COMPRESS is not supported")
	}
	if s.srv.TLSConfig == nil {
		return bad("TLS support isn't enabled")
	}
	s.tagged(tag, "OK", "", "Begin TLS negotiation now")
	if err := s.w.Flush(); err != nil {
		return &endSession{reason: "write failed"}
	}
	// Whatever the client pipelined after STARTTLS was sent in cleartext
	// and could have been injected by a man in the middle: drop it
	// (RFC 9051 §11.1), then read only from TLS.
	tc := tls.Server(s.conn, s.srv.TLSConfig)
	s.conn = tc
	s.r.Reset(&s.cr)
	s.p.Reset(s.r)
	if err := s.handshake(tc); err != nil {
		s.log.Info("imap: STARTTLS handshake failed", "err", err)
		return &endSession{reason: "TLS handshake failed"}
	}
	s.isTLS = true
	s.state = stateNotAuthenticated
	return errTaggedAlready
}

// errTaggedAlready: the handler wrote its own tagged response.
var errTaggedAlready = errors.New("imap: tagged response already sent")

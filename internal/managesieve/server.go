// Package managesieve is the ManageSieve server (RFC 5804): users upload,
// check, activate and fetch their Sieve scripts. The script rules and
// limits live in Scripts, which `pochta sieve` shares.
package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/server"
	"github.com/pochta-mail/pochta/internal/sieve"
	"github.com/pochta-mail/pochta/internal/store"
)

// Authenticator is the login service (auth.Service), the same as IMAP's
// and POP3's.
type Authenticator interface {
	Mechanisms(plaintextOK bool) []string
	NewSASL(ctx context.Context, mech string, host string) (auth.SASLSession, error)
	LoginFailed(ctx context.Context, login string, ip netip.Addr) time.Duration
	LoginSucceeded(login string, ip netip.Addr)
}

var _ Authenticator = (*auth.Service)(nil)

// Server serves ManageSieve connections (a server.Handler). Set the
// fields before the first connection.
type Server struct {
	Auth    Authenticator
	Scripts *Scripts
	// TLSConfig enables STARTTLS; nil = none.
	TLSConfig *tls.Config
	// AllowPlaintext offers PLAIN without TLS to non-loopback clients.
	AllowPlaintext bool
	Hostname       string
	Logger         *slog.Logger
	// IdleTimeout is how long an authenticated session may wait between
	// commands (0 = 30m); AuthIdleTimeout the same before login (0 =
	// 1m); LineTimeout bounds the rest of a command, literals included,
	// once its first byte came, and each response (0 = 1m).
	IdleTimeout, AuthIdleTimeout, LineTimeout time.Duration
	// MaxBadCommands is how many refused or malformed commands end a
	// session (0 = 10).
	MaxBadCommands int
	// MaxSession bounds a session's whole lifetime (limits.max_session;
	// 0 = server.DefaultMaxSession): a client sending a command now and
	// then cannot hold a connection forever.
	MaxSession time.Duration
}

var _ server.Handler = (*Server)(nil)

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// state is where a session stands (RFC 5804 section 1.2).
type state uint8

const (
	stateNonAuth state = 1 << iota
	stateAuth
	stateAny = stateNonAuth | stateAuth
)

type session struct {
	srv      *Server
	ctx      context.Context
	conn     net.Conn
	br       *bufio.Reader
	r        *commandReader
	w        *bufio.Writer
	log      *slog.Logger
	ip       netip.Addr
	isTLS    bool
	loopback bool
	state    state
	account  store.Account
	bad      int
	pace     *server.Pace // the session's lifetime
}

// ServeConn runs one session.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	ss := &session{srv: s, ctx: ctx, conn: c, state: stateNonAuth,
		pace: server.Pacing{MaxSession: s.MaxSession}.Start(time.Now())}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		ss.ip = ap.Addr().Unmap()
	}
	ss.loopback = ss.ip.IsLoopback()
	_, ss.isTLS = c.(*tls.Conn)
	ss.log = s.logger().With("proto", "managesieve", "remote", c.RemoteAddr().String())
	ss.setConn(c)
	defer c.Close()
	ss.capabilities()
	if err := ss.respond(okReply("")); err != nil {
		return
	}
	for {
		if err := ss.serveCommand(); err != nil {
			var end *endSession
			if errors.As(err, &end) {
				if end.bye != "" {
					_ = ss.respond(byeReply(end.bye))
				}
				ss.log.Debug("managesieve: session ended", "reason", end.reason)
			}
			return
		}
	}
}

func (ss *session) setConn(c net.Conn) {
	ss.conn = c
	ss.br = bufio.NewReaderSize(c, 4096)
	ss.r = &commandReader{br: ss.br, maxLiteral: int64(ss.srv.Scripts.maxSize())}
	ss.w = bufio.NewWriterSize(c, 4096)
}

// endSession ends the session, with a BYE when bye is set.
type endSession struct {
	reason, bye string
}

func (e *endSession) Error() string { return "managesieve: " + e.reason }

// readCommand waits for a command: a long deadline for its first byte,
// then LineTimeout for the rest.
func (ss *session) readCommand() ([]arg, error) {
	idle := orDefault(ss.srv.AuthIdleTimeout, time.Minute)
	if ss.state == stateAuth {
		idle = orDefault(ss.srv.IdleTimeout, 30*time.Minute)
	}
	if ss.br.Buffered() == 0 {
		_ = ss.conn.SetReadDeadline(ss.pace.Cap(time.Now().Add(idle)))
		if ss.ctx.Err() != nil {
			return nil, &endSession{reason: "shutdown", bye: "Server shutting down"}
		}
		if _, err := ss.br.Peek(1); err != nil {
			return nil, ss.readFailed(err)
		}
	}
	_ = ss.conn.SetReadDeadline(ss.pace.Cap(time.Now().Add(orDefault(ss.srv.LineTimeout, time.Minute))))
	args, err := ss.r.readCommand()
	if err != nil {
		return nil, ss.readFailed(err)
	}
	return args, nil
}

// readFailed turns a read error into the session's end, or into a NO for
// a malformed command the stream survived.
func (ss *session) readFailed(err error) error {
	switch {
	case errors.Is(err, errLiteralTooLarge) && !errors.Is(err, errLiteralUnreadable):
		return refuse(CodeQuotaSize, "Script over the limit of %d octets", ss.srv.Scripts.maxSize())
	case errors.Is(err, errLineTooLong), errors.Is(err, errSyntax), errors.Is(err, errTooManyArgs):
		return &protoError{msg: "Syntax error", bad: true}
	case ss.ctx.Err() != nil:
		return &endSession{reason: "shutdown", bye: "Server shutting down"}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && ss.pace.Expired(time.Now()) {
		return &endSession{reason: "session lifetime", bye: "Session lasted too long; reconnect to go on"}
	}
	if errors.As(err, &ne) && ne.Timeout() {
		return &endSession{reason: "timeout", bye: "Timed out"}
	}
	if errors.Is(err, errLiteralTooLarge) {
		return &endSession{reason: "literal too large", bye: "Literal too large"}
	}
	return &endSession{reason: "read: " + err.Error()}
}

func (ss *session) serveCommand() error {
	args, err := ss.readCommand()
	if err != nil {
		var end *endSession
		if errors.As(err, &end) {
			return err
		}
		return ss.fail(err)
	}
	name := strings.ToUpper(args[0].s)
	cmd, ok := commands[name]
	switch {
	case !ok:
		return ss.fail(&protoError{msg: "Unknown command", bad: true})
	case cmd.states&ss.state == 0:
		if ss.state == stateNonAuth {
			return ss.fail(&protoError{msg: "Authenticate first", bad: true})
		}
		return ss.fail(&protoError{msg: "Already authenticated", bad: true})
	}
	if err := cmd.check(args[1:]); err != nil {
		return ss.fail(err)
	}
	if err := cmd.run(ss, args[1:]); err != nil {
		var end *endSession
		if errors.As(err, &end) {
			return err
		}
		return ss.fail(err)
	}
	return nil
}

// fail answers a refused command and counts the malformed ones.
func (ss *session) fail(err error) error {
	r := ss.replyFor(err)
	if pe, ok := err.(*protoError); ok && pe.bad {
		ss.bad++
		limit := ss.srv.MaxBadCommands
		if limit <= 0 {
			limit = 10
		}
		if ss.bad >= limit {
			return &endSession{reason: "too many bad commands", bye: "Too many errors"}
		}
	}
	if werr := ss.respond(r); werr != nil {
		return &endSession{reason: "write failed"}
	}
	return nil
}

// capabilities writes the capability lines (RFC 5804 section 1.7).
func (ss *session) capabilities() {
	w := ss.w
	line := func(name, value string) {
		w.WriteString(quote(name))
		if value != "\x00" {
			w.WriteString(" ")
			w.WriteString(quote(value))
		}
		w.WriteString("\r\n")
	}
	line("IMPLEMENTATION", "Pochta")
	line("SIEVE", strings.Join(sieve.Extensions, " "))
	if ss.state == stateNonAuth {
		line("SASL", strings.Join(ss.srv.Auth.Mechanisms(ss.plaintextOK()), " "))
		if ss.srv.TLSConfig != nil && !ss.isTLS {
			line("STARTTLS", "\x00")
		}
	} else {
		line("OWNER", ss.account.Address)
	}
	line("VERSION", "1.0")
}

func (ss *session) plaintextOK() bool {
	return ss.isTLS || ss.loopback || ss.srv.AllowPlaintext
}

// respond writes a reply and flushes: the client waits for it.
func (ss *session) respond(r string) error {
	ss.w.WriteString(r)
	_ = ss.conn.SetWriteDeadline(ss.pace.CapWrite(time.Now().Add(orDefault(ss.srv.LineTimeout, time.Minute))))
	return ss.w.Flush()
}

// starttls switches the session to TLS (RFC 5804 section 2.2).
func (ss *session) starttls() error {
	if err := ss.respond(okReply("Begin TLS negotiation now")); err != nil {
		return &endSession{reason: "write failed"}
	}
	if ss.br.Buffered() > 0 {
		// Sent in cleartext after STARTTLS: possibly injected.
		return &endSession{reason: "data pipelined after STARTTLS"}
	}
	_ = ss.conn.SetDeadline(time.Time{})
	tc := tls.Server(ss.conn, ss.srv.TLSConfig)
	if err := server.Handshake(ss.ctx, tc, orDefault(ss.srv.LineTimeout, time.Minute)); err != nil {
		ss.log.Info("managesieve: STARTTLS handshake failed", "err", err)
		return &endSession{reason: "TLS handshake failed"}
	}
	ss.isTLS = true
	ss.setConn(tc)
	// The capabilities again, now over TLS, then OK (RFC 5804 2.2).
	ss.capabilities()
	if err := ss.respond(okReply("")); err != nil {
		return &endSession{reason: "write failed"}
	}
	return nil
}

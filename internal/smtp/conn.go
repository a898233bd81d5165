package smtp

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/pochta-mail/pochta/internal/server"
)

// conn wraps the accepted connection, under TLS when there is TLS, and is
// what go-smtp reads and writes. It gives every read the deadline of the
// session's phase (internal/server's Pacing: the idle wait for a command
// or for data, RFC 5321 section 4.5.3.2, then the rest of the client's
// burst at a minimum rate, within the session's lifetime), ends reads at
// once when the server shuts down, counts refused commands, and can close
// the connection right after the next reply is written (the 421 of too
// many errors).
//
// A read that times out ends the session here, with our 421: go-smtp
// (through bufio.Reader.ReadLine) would hand the partial line it holds to
// its dispatcher as a complete command and then read on. The error stays,
// and whatever go-smtp writes afterwards is dropped.
//
// It also holds replies back until the server next reads (or closes):
// go-smtp flushes every reply line, so a pipelined MAIL, RCPT, DATA group
// would cost a write per reply; here the replies of a group leave in one
// write when the server starts waiting for more input (RFC 2920 section
// 3.2's flush rule). Nothing can wait forever on a held reply: the server
// only ever stops to read.
type conn struct {
	net.Conn
	ctx  context.Context
	srv  *Server
	mode Mode
	ip   netip.Addr
	log  *slog.Logger

	start    time.Time
	pace     *server.Pace // used by the reading goroutine only
	inData   atomic.Bool  // reading message data: DataTimeout applies
	readErr  atomic.Bool  // a read from the client failed (EOF included)
	dead     atomic.Bool  // timed out: our 421 is written, the rest dropped
	underTLS atomic.Bool  // the client started TLS: we see only records
	closeNow atomic.Bool  // close after the next write
	helo     atomic.Bool  // the client greeted with HELO, not EHLO
	errs     atomic.Int32
	messages int // accepted messages, for the session log line

	wmu       sync.Mutex // out is written by go-smtp's goroutine and by BDAT's Data goroutine
	out       []byte     // replies not yet written
	replied   bool       // bytes went out since the last read
	closeOnce sync.Once
	closed    chan struct{}
}

func newConn(ctx context.Context, c net.Conn, s *Server, mode Mode) *conn {
	now := time.Now()
	wc := &conn{Conn: c, ctx: ctx, srv: s, mode: mode, start: now, pace: s.Pacing.Start(now), closed: make(chan struct{})}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		wc.ip = a.AddrPort().Addr().Unmap()
	}
	wc.log = s.logger().With("proto", mode.String(), "cid", s.nextID.Add(1), "remote", c.RemoteAddr().String())
	return wc
}

// connOf finds our wrapper below go-smtp's view of the connection (which
// is a *tls.Conn over it after STARTTLS or on the implicit-TLS port).
func connOf(c net.Conn) *conn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	wc, _ := c.(*conn)
	return wc
}

func (c *conn) Read(p []byte) (int, error) {
	if c.dead.Load() {
		return 0, os.ErrDeadlineExceeded
	}
	replied, err := c.flushReplied()
	if err != nil {
		return 0, err
	}
	if c.ctx.Err() != nil {
		c.timeout(errShuttingDown)
		return 0, os.ErrDeadlineExceeded
	}
	if replied {
		c.pace.Replied()
	}
	idle := c.srv.commandTimeout()
	data := c.inData.Load()
	if data {
		idle = c.srv.dataTimeout()
	}
	now := time.Now()
	if c.pace.Expired(now) {
		c.timeout(errSessionTooLong)
		return 0, os.ErrDeadlineExceeded
	}
	c.Conn.SetReadDeadline(c.pace.ReadDeadline(now, idle))
	n, err := c.Conn.Read(p)
	c.pace.Received(time.Now(), n)
	if err != nil {
		c.readErr.Store(true)
		if os.IsTimeout(err) {
			if c.ctx.Err() != nil {
				c.timeout(errShuttingDown)
			} else if c.pace.Expired(time.Now()) {
				c.timeout(errSessionTooLong)
			} else {
				c.timeout(errTimeout)
			}
			// Data before the deadline still counts; the next read fails.
			if n > 0 {
				return n, nil
			}
			return 0, os.ErrDeadlineExceeded
		}
	}
	if n > 0 && p[0] == tlsHandshakeRecord && !data {
		// A TLS ClientHello (implicit TLS or after STARTTLS): no SMTP
		// command starts with this byte.
		c.underTLS.Store(true)
	}
	if !data && n >= 5 {
		// Remember HELO versus EHLO for the Received field's protocol;
		// go-smtp does not tell. The greeting command comes alone (the
		// client waits for its reply), so it starts the buffer.
		switch strings.ToUpper(string(p[:5])) {
		case "HELO ":
			c.helo.Store(true)
		case "EHLO ":
			c.helo.Store(false)
		}
	}
	return n, err
}

// timeout ends the session with reply e (421): written at once, after
// any held replies, and then the connection is closed.
func (c *conn) timeout(e *gosmtp.SMTPError) {
	if c.dead.Swap(true) {
		return
	}
	c.log.Info("smtp: closing slow or expired session", "reply", e.Message,
		"duration", time.Since(c.start).Round(time.Millisecond))
	if !c.underTLS.Load() {
		// Under TLS the reply would have to go through the TLS
		// connection above us, whose state we must not touch from
		// below: the session is closed without it.
		c.wmu.Lock()
		c.out = fmt.Appendf(c.out, "%d %d.%d.%d %s\r\n", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
		c.wmu.Unlock()
	}
	c.Close()
}

// readFailed reports whether a read from the client failed: the client
// closed its side or the session timed out. Message data that ends after
// that did not end because the client said so (see Data).
func (c *conn) readFailed() bool { return c.readErr.Load() }

// tlsHandshakeRecord is the first byte of a TLS handshake record.
const tlsHandshakeRecord = 0x16

// maxHeld bounds the replies held back before a write is forced.
const maxHeld = 16 << 10

func (c *conn) Write(p []byte) (int, error) {
	if c.dead.Load() {
		return len(p), nil
	}
	c.wmu.Lock()
	c.out = append(c.out, p...)
	held := len(c.out)
	c.wmu.Unlock()
	// go-smtp writes each reply line with one Write (textproto flushes
	// per line), so closing after it drops nothing the client should see.
	if c.closeNow.Load() && len(p) > 0 && p[len(p)-1] == '\n' {
		c.Close()
		return len(p), nil
	}
	if held > maxHeld {
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush writes the held replies.
func (c *conn) flush() error {
	_, err := c.flushReplied()
	return err
}

// flushReplied writes the held replies and reports whether anything was
// written since the last call: the client then starts a new burst.
func (c *conn) flushReplied() (bool, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.out) > 0 {
		c.Conn.SetWriteDeadline(c.pace.CapWrite(time.Now().Add(c.srv.writeTimeout())))
		_, err := c.Conn.Write(c.out)
		c.out = c.out[:0]
		c.replied = true
		if err != nil {
			return false, err
		}
	}
	r := c.replied
	c.replied = false
	return r, nil
}

func (c *conn) Close() error {
	c.flush()
	err := c.Conn.Close()
	c.closeOnce.Do(func() { close(c.closed) })
	return err
}

// refused counts a refused command and reports whether the session has
// now collected too many (it is then closed after the reply).
func (c *conn) refused() bool {
	if int(c.errs.Add(1)) > c.srv.maxErrors() {
		c.closeNow.Store(true)
		return true
	}
	return false
}

func (c *conn) errorCount() int { return int(c.errs.Load()) }

// isTLS reports whether the client's connection is encrypted, as go-smtp
// sees it.
func isTLS(nc net.Conn) (*tls.ConnectionState, bool) {
	if tc, ok := nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return &st, true
	}
	return nil, false
}

// slogWriter lets go-smtp's log.Logger write to our slog (it only logs
// unexpected internal errors, such as a panic it recovered).
type slogWriter struct {
	l      *slog.Logger
	panics *atomic.Int64
}

func (w slogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.HasPrefix(msg, "panic ") {
		// go-smtp recovered a panic of ours: a bug, counted so tests fail.
		w.panics.Add(1)
	}
	w.l.Error("go-smtp: " + msg)
	return len(p), nil
}

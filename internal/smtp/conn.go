package smtp

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// conn wraps the accepted connection, under TLS when there is TLS, and is
// what go-smtp reads and writes. It gives every read a deadline for the
// session's phase (command or data: RFC 5321 section 4.5.3.2), ends reads
// at once when the server shuts down, counts refused commands, and can
// close the connection right after the next reply is written (the 421 of
// too many errors).
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
	inData   atomic.Bool // reading message data: DataTimeout applies
	closeNow atomic.Bool // close after the next write
	helo     atomic.Bool // the client greeted with HELO, not EHLO
	errs     atomic.Int32
	messages int // accepted messages, for the session log line

	wmu       sync.Mutex // out is written by go-smtp's goroutine and by BDAT's Data goroutine
	out       []byte     // replies not yet written
	closeOnce sync.Once
	closed    chan struct{}
}

func newConn(ctx context.Context, c net.Conn, s *Server, mode Mode) *conn {
	wc := &conn{Conn: c, ctx: ctx, srv: s, mode: mode, start: time.Now(), closed: make(chan struct{})}
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
	if err := c.flush(); err != nil {
		return 0, err
	}
	if c.ctx.Err() != nil {
		// Shutting down: a timeout makes go-smtp answer 421 and stop.
		return 0, os.ErrDeadlineExceeded
	}
	d := c.srv.commandTimeout()
	data := c.inData.Load()
	if data {
		d = c.srv.dataTimeout()
	}
	c.Conn.SetReadDeadline(time.Now().Add(d))
	n, err := c.Conn.Read(p)
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

// maxHeld bounds the replies held back before a write is forced.
const maxHeld = 16 << 10

func (c *conn) Write(p []byte) (int, error) {
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
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.out) == 0 {
		return nil
	}
	c.Conn.SetWriteDeadline(time.Now().Add(c.srv.writeTimeout()))
	_, err := c.Conn.Write(c.out)
	c.out = c.out[:0]
	return err
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

// Package imap is Pochta's IMAP server: IMAP4rev2 (RFC 9051) and
// IMAP4rev1 (RFC 3501) over the same store the POP3 server uses.
//
// The wire protocol is emersion/go-imap/v2's imapserver; this package is
// the glue: a session per connection (session.go) that answers its calls
// from store.Mailboxes, and a thin front (front.go) between the socket and
// imapserver for what the library lacks: STARTTLS under our policy (so
// LOGINDISABLED also respects loopback clients), ID (RFC 2971), QUOTA
// (RFC 9208), and the capability words for them.
//
// A selected mailbox is a view (view.go): the UIDs the client knows, in
// sequence order. Changes from anywhere (this process's other sessions,
// POP3, deliveries, other processes) arrive as store events; the view
// turns them into EXISTS, EXPUNGE and FETCH FLAGS by comparing with the
// store, so no change is lost when events are coalesced.
package imap

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

// Authenticator is what the IMAP server needs from internal/auth.
type Authenticator interface {
	CheckPassword(ctx context.Context, login, password string) (store.Account, error)
	Mechanisms(plaintextOK bool) []string
	NewSASL(ctx context.Context, mech string, host string) (auth.SASLSession, error)
	LoginFailed(ctx context.Context, login string, ip netip.Addr) time.Duration
	LoginSucceeded(login string, ip netip.Addr)
}

var _ Authenticator = (*auth.Service)(nil)

// Defaults for zero-valued Server fields.
const (
	// DefaultAppendLimit is the largest APPEND accepted (APPENDLIMIT).
	DefaultAppendLimit = 50 << 20
	// DefaultMaxFetchBatch bounds how many messages a FETCH reads from the
	// store per query, so a huge mailbox streams in steps.
	DefaultMaxFetchBatch = 500
)

// Server is an IMAP server. Set the fields before the first ServeConn; Auth
// and Store are required. A Server must not be copied after first use.
type Server struct {
	Hostname string // "" = "localhost"
	Auth     Authenticator
	Store    store.Mailboxes
	Logger   *slog.Logger // nil = discard
	// TLSConfig enables STARTTLS on plain connections; nil = none.
	TLSConfig *tls.Config
	// AllowPlaintext allows LOGIN and AUTHENTICATE PLAIN on unencrypted
	// non-loopback connections; otherwise they get LOGINDISABLED.
	AllowPlaintext bool
	// AppendLimit is the largest message APPEND accepts; 0 = 50 MiB.
	AppendLimit int64
	// Version is announced by ID; "" = "dev".
	Version string

	once    sync.Once
	lib     *imapserver.Server
	ln      *connListener
	nextID  atomic.Uint64
	panics  atomic.Int64
	discard *slog.Logger
}

// RecoveredPanics reports how many sessions ended in a recovered panic.
func (s *Server) RecoveredPanics() int64 { return s.panics.Load() }

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return s.discard
}

func (s *Server) hostname() string {
	if s.Hostname == "" {
		return "localhost"
	}
	return s.Hostname
}

func (s *Server) appendLimit() int64 {
	if s.AppendLimit <= 0 {
		return DefaultAppendLimit
	}
	return min(s.AppendLimit, 1<<32-1)
}

// caps are the capabilities imapserver announces; front.go adds the ones
// it implements itself (STARTTLS, LOGINDISABLED, ID, QUOTA).
func caps() goimap.CapSet {
	return goimap.CapSet{
		goimap.CapIMAP4rev1: {}, goimap.CapIMAP4rev2: {},
		goimap.CapNamespace: {}, goimap.CapUIDPlus: {}, goimap.CapESearch: {}, goimap.CapSearchRes: {},
		goimap.CapListExtended: {}, goimap.CapListStatus: {}, goimap.CapMove: {}, goimap.CapStatusSize: {},
		goimap.CapBinary: {}, goimap.CapChildren: {}, goimap.CapSpecialUse: {}, goimap.CapCreateSpecialUse: {},
		goimap.CapLiteralPlus: {},
	}
}

// init builds the imapserver.Server once. It serves connections handed
// over by ServeConn through an in-memory listener.
func (s *Server) init() {
	s.once.Do(func() {
		s.discard = slog.New(slog.NewTextHandler(io.Discard, nil))
		s.ln = newConnListener()
		s.lib = imapserver.New(&imapserver.Options{
			NewSession: s.newSession,
			Caps:       caps(),
			Logger:     libLogger{s},
			// Our front decides who may send passwords (front.plaintextOK)
			// and terminates TLS itself, so the library must not refuse
			// authentication for lack of a *tls.Conn it never sees.
			InsecureAuth: true,
		})
		go s.lib.Serve(s.ln)
	})
}

// libLogger routes imapserver's messages into our log.
type libLogger struct{ s *Server }

func (l libLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > 6 && msg[:6] == "panic " {
		l.s.panics.Add(1)
		l.s.logger().Error("imap: recovered panic", "detail", msg)
		return
	}
	l.s.logger().Info("imap: " + msg)
}

// ServeConn serves one IMAP connection until it ends, and closes c. c may
// be a *tls.Conn (IMAPS). When ctx is cancelled the session is told BYE
// and ends at its next read.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	s.init()
	f := newFront(s, c, s.nextID.Add(1))
	defer f.Close()
	if tc, ok := c.(*tls.Conn); ok {
		hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			f.logger().Info("imap: TLS handshake failed", "err", err)
			return
		}
	}
	stop := context.AfterFunc(ctx, f.shutdown)
	defer stop()
	if !s.ln.hand(f) {
		return
	}
	<-f.done
	f.logger().Info("imap: session ended", "duration", time.Since(f.start).Round(time.Millisecond))
}

// connListener is a net.Listener fed by ServeConn, so imapserver.Serve
// runs the library's per-connection loop on connections accepted by
// internal/server (with its limits and TLS) instead of its own socket.
type connListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *connListener) hand(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

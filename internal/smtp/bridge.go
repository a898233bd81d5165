package smtp

import (
	"context"
	"crypto/tls"
	"log"
	"net"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// go-smtp serves connections it accepts from a net.Listener, while
// internal/server hands each accepted connection to a handler. A bridge
// joins them: a go-smtp Server per mode serving a listener that "accepts"
// the connections ServeConn hands over, and ServeConn waits until go-smtp
// closes the connection, so internal/server's limits and shutdown keep
// working.

type bridgeKey struct{ mode Mode }

type bridge struct {
	gs *gosmtp.Server
	ln *chanListener
}

// Handler returns the connection handler for a listener of the given mode.
// implicitTLS makes it handshake first (submissions, port 465); register
// such a listener with server.TLSNone so the handshake happens here, under
// the connection wrapper that enforces timeouts and closes abusive
// sessions.
func (s *Server) Handler(mode Mode, implicitTLS bool) *Handler {
	return &Handler{s: s, mode: mode, implicitTLS: implicitTLS}
}

// Handler serves one listener's connections; see Server.Handler.
type Handler struct {
	s           *Server
	mode        Mode
	implicitTLS bool
}

// ServeConn serves one SMTP connection until it ends and closes it.
func (h *Handler) ServeConn(ctx context.Context, c net.Conn) {
	s := h.s
	b, err := s.bridge(h.mode)
	if err != nil {
		c.Close()
		return
	}
	wc := newConn(ctx, c, s, h.mode)
	var nc net.Conn = wc
	if h.implicitTLS {
		tc := tls.Server(wc, s.TLSConfig)
		hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			wc.log.Debug("smtp: TLS handshake failed", "err", err)
			wc.Close()
			return
		}
		nc = tc
	}
	// Logged before the hand-over: from then on the session goroutine
	// may replace wc.log (AUTH adds the user).
	wc.log.Debug("smtp: session started")
	select {
	case b.ln.conns <- nc:
	case <-b.ln.done:
		c.Close()
		return
	}
	<-wc.closed
	if s.Metrics != nil {
		s.Metrics.BytesSent("smtp", wc.bytesSent())
	}
	wc.log.Info("smtp: session ended", "messages", wc.messages, "errors", wc.errorCount(),
		"duration", time.Since(wc.start).Round(time.Millisecond))
}

// bridge returns (starting it on first use) the go-smtp server of a mode.
func (s *Server) bridge(mode Mode) (*bridge, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, net.ErrClosed
	}
	k := bridgeKey{mode}
	if b, ok := s.bridges[k]; ok {
		return b, nil
	}
	gs := gosmtp.NewServer(&backend{s: s, mode: mode})
	gs.Domain = s.hostname()
	gs.TLSConfig = s.TLSConfig
	gs.MaxMessageBytes = s.maxSize()
	gs.MaxRecipients = orDefault(s.MaxRecipients, DefaultMaxRecipients)
	gs.MaxLineLength = orDefault(s.MaxLineLength, DefaultMaxLineLength)
	// Whether PLAIN/LOGIN may run without TLS is decided per connection
	// in AuthMechanisms/Auth (loopback, auth.allow_plaintext); SCRAM may
	// always run, so go-smtp must let AUTH through.
	gs.AllowInsecureAuth = true
	gs.EnableSMTPUTF8 = true
	gs.EnableDSN = true
	// Deadlines are set by conn.Read per phase (command or data); go-smtp's
	// single ReadTimeout would override them.
	gs.ReadTimeout = 0
	// Writes only fill conn's buffer; conn.flush has the write deadline.
	gs.WriteTimeout = 0
	gs.ErrorLog = log.New(slogWriter{l: s.logger(), panics: &s.panics}, "", 0)
	b := &bridge{gs: gs, ln: newChanListener()}
	go gs.Serve(b.ln)
	if s.bridges == nil {
		s.bridges = map[bridgeKey]*bridge{}
	}
	s.bridges[k] = b
	return b, nil
}

// chanListener is a net.Listener whose connections come from a channel.
type chanListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }

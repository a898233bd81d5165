// Package server runs Pochta's listeners: binding, accepting with backoff,
// implicit TLS, global and per-IP connection limits, a recover per
// connection, and a graceful shutdown. Protocols plug in as a Handler that
// serves one connection.
//
// The lifecycle follows net/http's Server (golang/go: src/net/http/server.go):
// a tracked set of connections, temporary accept errors retried with a
// doubling delay, Shutdown that stops accepting and waits for the
// connections, Close that does not wait.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Handler serves one connection until it ends. The context is cancelled
// when the server shuts down; the handler should then end at its next read
// (the server interrupts blocked reads) but finish work it must not abandon,
// such as a POP3 UPDATE transaction.
type Handler interface {
	ServeConn(ctx context.Context, c net.Conn)
}

// TLSMode says how a listener uses TLS.
type TLSMode uint8

const (
	// TLSNone serves plain TCP; the protocol may offer STARTTLS/STLS itself.
	TLSNone TLSMode = iota
	// TLSImplicit handshakes before the handler sees the connection
	// (RFC 8314), so the handler gets a *tls.Conn.
	TLSImplicit
)

// Listener is one listening socket and the protocol served on it.
type Listener struct {
	Name    string // "pop3", "pop3s": used in logs
	Key     string // config key of the address, "pop3.listen": named in errors
	Addr    string // host:port; port 0 picks a free port
	TLS     TLSMode
	Handler Handler
	// Refusal is written to a plain connection refused by a connection
	// limit, before it is closed, e.g. "-ERR [SYS/TEMP] Too many
	// connections\r\n". Empty closes silently. On implicit-TLS listeners
	// the refusal is written after a handshake; at most
	// MaxTLSRefusals such handshakes run at once, connections refused
	// beyond that are closed silently.
	Refusal string
	// RefuseOverTLS marks a TLSNone listener whose handler does the
	// implicit-TLS handshake itself (SMTP submissions): its refusal, too,
	// needs a handshake first.
	RefuseOverTLS bool
}

// Server runs a set of listeners. Set the fields, then Start; a Server is
// not reusable after Shutdown or Close.
type Server struct {
	Listeners []Listener
	// TLSConfig is used by TLSImplicit listeners; typically it serves a
	// tlsutil.CertStore through GetCertificate so certificates reload.
	TLSConfig *tls.Config
	// MaxConnections bounds simultaneous connections over all listeners;
	// 0 = unlimited.
	MaxConnections int
	// MaxConnectionsPerIP bounds simultaneous connections per client IP
	// address; 0 = unlimited.
	MaxConnectionsPerIP int
	// HandshakeTimeout bounds an implicit-TLS handshake; 0 = 30s.
	HandshakeTimeout time.Duration
	// RefusalTimeout bounds answering a refused connection, TLS handshake
	// included; 0 = 5s.
	RefusalTimeout time.Duration
	// CloseGrace is how long Shutdown still waits for handlers after its
	// context ended and it closed their connections: their I/O then fails
	// at once, and a store operation in flight may finish before the
	// caller closes the store. 0 = 5s.
	CloseGrace time.Duration
	Logger     *slog.Logger // nil = discard
	// Observer is told about connections and panics (metrics); nil =
	// nobody.
	Observer Observer

	mu       sync.Mutex
	bound    []boundListener
	conns    map[net.Conn]struct{} // live connections handed to handlers
	perIP    map[netip.Addr]int
	started  bool
	closing  atomic.Bool
	ctx      context.Context // handlers' context, cancelled by Shutdown/Close
	cancel   context.CancelFunc
	accepts  sync.WaitGroup // accept loops
	handlers sync.WaitGroup // connection goroutines, refused ones included
	panics   atomic.Int64

	tlsRefusals chan struct{} // semaphore of refusal handshakes
	refusals    refusalLog
}

// MaxTLSRefusals bounds the TLS handshakes run at once only to tell a
// client it is over a connection limit.
const MaxTLSRefusals = 16

type boundListener struct {
	spec *Listener
	ln   net.Listener
}

// Observer watches the connections of a Server; implementations must be
// safe for concurrent use. metrics.Metrics is one.
type Observer interface {
	ConnOpened(listener string)
	ConnClosed(listener string, d time.Duration)
	ConnRefused(listener string)
	Panicked(listener string)
}

type nopObserver struct{}

func (nopObserver) ConnOpened(string)                {}
func (nopObserver) ConnClosed(string, time.Duration) {}
func (nopObserver) ConnRefused(string)               {}
func (nopObserver) Panicked(string)                  {}

func (s *Server) observer() Observer {
	if s.Observer == nil {
		return nopObserver{}
	}
	return s.Observer
}

// ErrServerClosed is returned by Start after Shutdown or Close.
var ErrServerClosed = errors.New("server: closed")

// Start binds every listener and starts accepting. If any listener cannot
// be bound, none stays open and the error names the listener and its
// config key.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() || s.started {
		return ErrServerClosed
	}
	var bound []boundListener
	for i := range s.Listeners {
		l := &s.Listeners[i]
		if l.TLS == TLSImplicit && s.TLSConfig == nil {
			closeAll(bound)
			return fmt.Errorf("server: %s (%s): implicit TLS needs a certificate", l.Name, l.Key)
		}
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			closeAll(bound)
			return fmt.Errorf("server: %s (%s = %q): %w", l.Name, l.Key, l.Addr, err)
		}
		bound = append(bound, boundListener{spec: l, ln: ln})
	}
	s.started = true
	s.bound = bound
	s.conns = map[net.Conn]struct{}{}
	s.perIP = map[netip.Addr]int{}
	s.tlsRefusals = make(chan struct{}, MaxTLSRefusals)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, b := range bound {
		s.logger().Info("listening", "name", b.spec.Name, "addr", b.ln.Addr().String())
		s.accepts.Add(1)
		go s.acceptLoop(b)
	}
	return nil
}

func closeAll(bound []boundListener) {
	for _, b := range bound {
		b.ln.Close()
	}
}

// Addr returns the bound address of the named listener, or nil.
func (s *Server) Addr(name string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.bound {
		if b.spec.Name == name {
			return b.ln.Addr()
		}
	}
	return nil
}

// Panics reports how many handler panics were recovered.
func (s *Server) Panics() int64 { return s.panics.Load() }

// Active reports how many connections are being served.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Shutdown stops accepting, cancels the handlers' context, interrupts
// blocked reads, and waits for every handler to return. If ctx ends first,
// it closes the remaining connections, waits up to CloseGrace for their
// handlers to notice, and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.stopAccepting() {
		return nil
	}
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	// A handler may re-arm its read deadline between our nudge and its
	// next read, so nudge again until everyone is gone, backing off like
	// net/http's Shutdown polling.
	wait := 10 * time.Millisecond
	for {
		s.interruptReads()
		timer := time.NewTimer(wait)
		select {
		case <-done:
			timer.Stop()
			return nil
		case <-ctx.Done():
			timer.Stop()
			s.closeConns()
			grace := time.NewTimer(cmp.Or(s.CloseGrace, 5*time.Second))
			defer grace.Stop()
			select {
			case <-done:
			case <-grace.C:
				s.logger().Error("handlers still running after their connections were closed", "count", s.Active())
			}
			return ctx.Err()
		case <-timer.C:
			wait = min(wait*2, 500*time.Millisecond)
		}
	}
}

// Close stops accepting and closes every connection at once, without
// waiting for handlers.
func (s *Server) Close() error {
	s.stopAccepting()
	s.closeConns()
	return nil
}

// stopAccepting closes the listeners, waits for the accept loops (so no
// handler starts afterwards) and cancels the handlers' context. It reports
// false when the server never started.
func (s *Server) stopAccepting() bool {
	s.closing.Store(true)
	s.mu.Lock()
	started := s.started
	closeAll(s.bound)
	s.mu.Unlock()
	if !started {
		return false
	}
	s.accepts.Wait()
	s.cancel()
	return true
}

func (s *Server) interruptReads() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.SetReadDeadline(time.Now())
	}
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

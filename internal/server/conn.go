package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"
)

// acceptLoop accepts until the listener is closed. Other accept errors
// (EMFILE, ECONNABORTED...) are retried after a delay doubling from 5ms to
// 1s, as net/http does, so a burst of failures cannot spin the CPU.
func (s *Server) acceptLoop(b boundListener) {
	defer s.accepts.Done()
	var delay time.Duration
	for {
		c, err := b.ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = max(5*time.Millisecond, min(delay*2, time.Second))
			s.logger().Error("accept failed; retrying", "name", b.spec.Name, "err", err, "delay", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		ip := RemoteIP(c)
		s.handlers.Add(1)
		if !s.admit(c, ip) {
			s.observer().ConnRefused(b.spec.Name)
			go s.refuse(b.spec, c, ip)
			continue
		}
		go s.serve(b.spec, c, ip)
	}
}

// RemoteIP is the client's address of c, IPv4-mapped addresses unmapped;
// the zero Addr for a non-TCP connection. Protocols use it for the same
// per-IP decisions (loopback, throttling) the limits make.
func RemoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// admit registers the connection unless a limit is reached.
func (s *Server) admit(c net.Conn, ip netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.MaxConnections > 0 && len(s.conns) >= s.MaxConnections {
		return false
	}
	if s.MaxConnectionsPerIP > 0 && ip.IsValid() && s.perIP[ip] >= s.MaxConnectionsPerIP {
		return false
	}
	s.conns[c] = struct{}{}
	if ip.IsValid() {
		s.perIP[ip]++
	}
	return true
}

func (s *Server) release(c net.Conn, ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if ip.IsValid() {
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
	}
}

func (s *Server) refuse(l *Listener, c net.Conn, ip netip.Addr) {
	defer s.handlers.Done()
	defer c.Close()
	s.refusals.note(s.logger(), l.Name, ip)
	if l.Refusal == "" {
		return
	}
	timeout := cmp.Or(s.RefusalTimeout, 5*time.Second)
	c.SetDeadline(time.Now().Add(timeout))
	var w net.Conn = c
	if l.TLS == TLSImplicit || l.RefuseOverTLS {
		// The client expects TLS first: a refusal in clear would look like
		// a broken server. The handshakes are bounded in number, so a
		// flood over the limit cannot spend the CPU the limit protects:
		// past that the connection is closed without a word.
		if s.TLSConfig == nil {
			return
		}
		select {
		case s.tlsRefusals <- struct{}{}:
			defer func() { <-s.tlsRefusals }()
		default:
			return
		}
		tc := tls.Server(c, s.TLSConfig)
		if err := tc.HandshakeContext(s.ctx); err != nil {
			return
		}
		w = tc
	}
	w.Write([]byte(l.Refusal))
}

// refusalLog rate-limits the log of refused connections: the first one
// of an interval is logged, the others counted and reported with the next
// line, so a flood cannot fill the disk with log lines.
type refusalLog struct {
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// refusalLogInterval is the shortest time between two refusal log lines.
const refusalLogInterval = 10 * time.Second

func (r *refusalLog) note(log *slog.Logger, name string, ip netip.Addr) {
	r.mu.Lock()
	now := time.Now()
	if now.Before(r.next) {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.suppressed, r.next = 0, now.Add(refusalLogInterval)
	r.mu.Unlock()
	log.Warn("connection refused: too many connections", "name", name, "remote", ip.String(),
		"refused_unlogged", n)
}

// serve runs the handler for one admitted connection. A panic in the
// handler is a bug: it is logged with its stack and counted (tests fail on
// it), and only this connection is lost.
func (s *Server) serve(l *Listener, c net.Conn, ip netip.Addr) {
	defer s.handlers.Done()
	defer s.release(c, ip)
	defer c.Close()
	obs := s.observer()
	obs.ConnOpened(l.Name)
	start := time.Now()
	defer func() { obs.ConnClosed(l.Name, time.Since(start)) }()
	defer func() {
		if r := recover(); r != nil {
			s.panics.Add(1)
			obs.Panicked(l.Name)
			s.logger().Error("panic serving connection", "name", l.Name, "remote", c.RemoteAddr().String(),
				"panic", r, "stack", string(debug.Stack()))
		}
	}()
	conn := c
	if l.TLS == TLSImplicit {
		tc, ok := s.handshake(l, c)
		if !ok {
			return
		}
		conn = tc
	}
	l.Handler.ServeConn(s.ctx, conn)
}

func (s *Server) handshake(l *Listener, c net.Conn) (*tls.Conn, bool) {
	c.SetDeadline(time.Now().Add(cmp.Or(s.HandshakeTimeout, 30*time.Second)))
	tc := tls.Server(c, s.TLSConfig)
	if err := tc.HandshakeContext(s.ctx); err != nil {
		s.logger().Debug("TLS handshake failed", "name", l.Name, "remote", c.RemoteAddr().String(), "err", err)
		return nil, false
	}
	c.SetDeadline(time.Time{})
	return tc, true
}

// TLSConn is a *tls.Conn, or a wrapper of one that keeps its methods
// (the protocol servers recognise implicit-TLS connections by it).
type TLSConn interface {
	net.Conn
	ConnectionState() tls.ConnectionState
	HandshakeContext(ctx context.Context) error
}

// Handshake runs a server-side TLS handshake bounded by timeout (and ctx):
// the one rule for implicit TLS and STARTTLS/STLS alike.
func Handshake(ctx context.Context, tc TLSConn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return tc.HandshakeContext(ctx)
}

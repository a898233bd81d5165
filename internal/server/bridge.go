package server

import (
	"context"
	"net"
	"sync"
)

// Bridge joins internal/server to a library that serves connections it
// accepts from a net.Listener (net/http, go-smtp): register the Bridge as a
// listener's Handler and give it to the library as its net.Listener.
// ServeConn hands the connection over and returns only when the library
// closes it, so the connection limits, the per-connection recover and the
// graceful shutdown keep counting it.
type Bridge struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewBridge returns a Bridge ready to accept.
func NewBridge() *Bridge {
	return &Bridge{conns: make(chan net.Conn), done: make(chan struct{})}
}

var _ Handler = (*Bridge)(nil)
var _ net.Listener = (*Bridge)(nil)

// ServeConn implements Handler.
func (b *Bridge) ServeConn(ctx context.Context, c net.Conn) {
	bc := &bridgedConn{Conn: c, closed: make(chan struct{})}
	select {
	case b.conns <- bc:
	case <-b.done:
		c.Close()
		return
	case <-ctx.Done():
		c.Close()
		return
	}
	<-bc.closed
}

// Accept implements net.Listener: it returns the connections ServeConn
// hands over, until Close.
func (b *Bridge) Accept() (net.Conn, error) {
	select {
	case c := <-b.conns:
		return c, nil
	case <-b.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; connections already handed over stay open.
func (b *Bridge) Close() error {
	b.once.Do(func() { close(b.done) })
	return nil
}

// Addr implements net.Listener with a placeholder: the real addresses are
// internal/server's.
func (b *Bridge) Addr() net.Addr { return bridgeAddr{} }

type bridgeAddr struct{}

func (bridgeAddr) Network() string { return "bridge" }
func (bridgeAddr) String() string  { return "bridge" }

// bridgedConn tells ServeConn when the library closed the connection.
type bridgedConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *bridgedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

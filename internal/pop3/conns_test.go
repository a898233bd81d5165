package pop3

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync/atomic"
	"testing"

	"github.com/pochta-mail/pochta/internal/tlsutil/tlstest"
)

// remoteConn poses as a connection from another address: the server's
// plaintext policy looks at RemoteAddr, so wrapping the accepted loopback
// conn is enough to test the non-loopback rules without leaving loopback.
type remoteConn struct {
	net.Conn
	addr net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.addr }

// asRemote makes every accepted conn look like it comes from 192.0.2.7
// (TEST-NET-1).
func asRemote(c net.Conn) net.Conn {
	return remoteConn{c, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}}
}

// writeCounter counts the server's writes to one conn.
type writeCounter struct {
	net.Conn
	writes *atomic.Int64
}

func (c writeCounter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// testTLS returns a server config with a fresh self-signed certificate for
// testHost, and a client config that trusts it.
func testTLS(t testing.TB) (server, client *tls.Config) {
	return tlstest.Configs(t, testHost)
}

// remoteTLSConn is remoteConn for implicit-TLS connections: it keeps the
// *tls.Conn methods the server looks for.
type remoteTLSConn struct {
	*tls.Conn
	addr net.Addr
}

func (c remoteTLSConn) RemoteAddr() net.Addr { return c.addr }

func tlsServerConn(c net.Conn, cfg *tls.Config) net.Conn {
	return remoteTLSConn{tls.Server(c, cfg), &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}}
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

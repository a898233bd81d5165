package pop3

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"
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
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: testHost},
		DNSNames:     []string{testHost},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	client = &tls.Config{RootCAs: pool, ServerName: testHost}
	return server, client
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

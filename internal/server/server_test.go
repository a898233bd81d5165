package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/tlsutil"
)

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c net.Conn)

func (f HandlerFunc) ServeConn(ctx context.Context, c net.Conn) { f(ctx, c) }

const refusal = "-ERR [SYS/TEMP] Too many connections\r\n"

// start runs a server with one plain listener on loopback and returns its
// address; the server is closed at the end of the test.
func start(t *testing.T, s *Server, h Handler) string {
	t.Helper()
	s.Listeners = append(s.Listeners, Listener{Name: "test", Key: "test.listen", Addr: "127.0.0.1:0", Handler: h, Refusal: refusal})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Addr("test").String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readLine(t *testing.T, c net.Conn) string {
	t.Helper()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && line == "" {
		t.Fatalf("read: %v", err)
	}
	return line
}

// greeter writes a greeting, then echoes lines until the connection or the
// server ends.
func greeter(started chan<- struct{}) Handler {
	return HandlerFunc(func(ctx context.Context, c net.Conn) {
		io.WriteString(c, "+OK hello\r\n")
		if started != nil {
			started <- struct{}{}
		}
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil || ctx.Err() != nil {
				return
			}
			io.WriteString(c, line)
		}
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 2000 {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPerIPLimit(t *testing.T) {
	s := &Server{MaxConnectionsPerIP: 2}
	var served atomic.Int32
	addr := start(t, s, HandlerFunc(func(ctx context.Context, c net.Conn) {
		served.Add(1)
		greeter(nil).ServeConn(ctx, c)
	}))
	a, b := dial(t, addr), dial(t, addr)
	for _, c := range []net.Conn{a, b} {
		if got := readLine(t, c); got != "+OK hello\r\n" {
			t.Fatalf("greeting %q", got)
		}
	}
	third := dial(t, addr)
	if got := readLine(t, third); got != refusal {
		t.Fatalf("third connection got %q, want the refusal", got)
	}
	if _, err := third.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("refused connection not closed: %v", err)
	}
	if served.Load() != 2 {
		t.Fatalf("handler ran %d times, want 2", served.Load())
	}
	a.Close()
	eventually(t, "slot released", func() bool { return s.Active() == 1 })
	if got := readLine(t, dial(t, addr)); got != "+OK hello\r\n" {
		t.Fatalf("after release got %q", got)
	}
}

func TestGlobalLimit(t *testing.T) {
	s := &Server{MaxConnections: 1}
	addr := start(t, s, greeter(nil))
	readLine(t, dial(t, addr))
	if got := readLine(t, dial(t, addr)); got != refusal {
		t.Fatalf("got %q, want the refusal", got)
	}
}

func TestShutdownWaitsForInFlightHandler(t *testing.T) {
	s := &Server{}
	inUpdate := make(chan struct{})
	finish := make(chan struct{})
	addr := start(t, s, HandlerFunc(func(ctx context.Context, c net.Conn) {
		io.WriteString(c, "+OK hello\r\n")
		bufio.NewReader(c).ReadString('\n') // the client's QUIT
		close(inUpdate)
		<-finish // a transaction that must complete despite the shutdown
		io.WriteString(c, "+OK bye\r\n")
	}))
	c := dial(t, addr)
	r := bufio.NewReader(c)
	r.ReadString('\n')
	io.WriteString(c, "QUIT\r\n")
	<-inUpdate

	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- s.Shutdown(context.Background()) }()
	eventually(t, "listener closed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned (%v) while a handler was running", err)
	default:
	}
	close(finish)
	if err := <-shutdownErr; err != nil {
		t.Fatal(err)
	}
	if line, _ := r.ReadString('\n'); line != "+OK bye\r\n" {
		t.Fatalf("client got %q, want the handler's final reply", line)
	}
}

func TestShutdownInterruptsIdleReads(t *testing.T) {
	s := &Server{}
	started := make(chan struct{}, 2)
	addr := start(t, s, greeter(started))
	dial(t, addr)
	dial(t, addr)
	<-started
	<-started
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Active() != 0 {
		t.Fatalf("%d connections left", s.Active())
	}
}

func TestShutdownDeadlineClosesConnections(t *testing.T) {
	s := &Server{CloseGrace: time.Millisecond}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	started := make(chan struct{})
	addr := start(t, s, HandlerFunc(func(ctx context.Context, c net.Conn) {
		close(started)
		<-release // ignores ctx: a stuck handler
	}))
	c := dial(t, addr)
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection still open after forced shutdown: %v", err)
	}
}

func TestPanicIsContained(t *testing.T) {
	s := &Server{}
	addr := start(t, s, HandlerFunc(func(ctx context.Context, c net.Conn) {
		if line, _ := bufio.NewReader(c).ReadString('\n'); line == "boom\r\n" {
			panic("handler bug")
		}
		io.WriteString(c, "+OK fine\r\n")
	}))
	c := dial(t, addr)
	io.WriteString(c, "boom\r\n")
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("panicking connection not closed: %v", err)
	}
	eventually(t, "panic counted", func() bool { return s.Panics() == 1 })
	c2 := dial(t, addr)
	io.WriteString(c2, "hi\r\n")
	if got := readLine(t, c2); got != "+OK fine\r\n" {
		t.Fatalf("server broken after a panic: %q", got)
	}
}

func TestStartErrorNamesListener(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s := &Server{Listeners: []Listener{
		{Name: "ok", Key: "ok.listen", Addr: "127.0.0.1:0", Handler: greeter(nil)},
		{Name: "pop3", Key: "pop3.listen", Addr: busy.Addr().String(), Handler: greeter(nil)},
	}}
	err = s.Start()
	if err == nil || !strings.Contains(err.Error(), "pop3 (pop3.listen") {
		t.Fatalf("Start = %v, want it to name pop3.listen", err)
	}
	s2 := &Server{Listeners: []Listener{{Name: "pop3s", Key: "pop3s.listen", Addr: "127.0.0.1:0", TLS: TLSImplicit, Handler: greeter(nil)}}}
	if err := s2.Start(); err == nil || !strings.Contains(err.Error(), "pop3s.listen") {
		t.Fatalf("implicit TLS without config: %v", err)
	}
}

func certPair(t *testing.T, dir, host string) (string, string) {
	t.Helper()
	cert, key := filepath.Join(dir, host+".crt"), filepath.Join(dir, host+".key")
	if err := tlsutil.WriteSelfSigned(tlsutil.SelfSigned{Hostname: host}, cert, key); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// servedName dials the TLS listener and returns the certificate's CN and
// the greeting.
func servedName(t *testing.T, addr string) (string, string) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, readLine(t, c)
}

func TestImplicitTLSAndCertReload(t *testing.T) {
	dir := t.TempDir()
	cert, key := certPair(t, dir, "one.example")
	store, err := tlsutil.NewCertStore(cert, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	var gotTLS atomic.Bool
	s := &Server{TLSConfig: store.TLSConfig(), HandshakeTimeout: 200 * time.Millisecond}
	s.Listeners = []Listener{{Name: "pop3s", Key: "pop3s.listen", Addr: "127.0.0.1:0", TLS: TLSImplicit,
		Handler: HandlerFunc(func(ctx context.Context, c net.Conn) {
			_, ok := c.(*tls.Conn)
			gotTLS.Store(ok)
			io.WriteString(c, "+OK secure\r\n")
		})}}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addr := s.Addr("pop3s").String()

	name, greeting := servedName(t, addr)
	if name != "one.example" || greeting != "+OK secure\r\n" || !gotTLS.Load() {
		t.Fatalf("got %q %q tls=%v", name, greeting, gotTLS.Load())
	}
	newCert, newKey := certPair(t, dir, "two.example")
	if err := os.Rename(newCert, cert); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(newKey, key); err != nil {
		t.Fatal(err)
	}
	if err := store.Reload(); err != nil {
		t.Fatal(err)
	}
	if name, _ := servedName(t, addr); name != "two.example" {
		t.Fatalf("after reload served %q", name)
	}
	// A client that never starts the handshake is dropped and the handler
	// never sees it.
	c := dial(t, addr)
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("silent TLS client not dropped: %v", err)
	}
}

// The certificate must chain to what init wrote: a client trusting it
// verifies the hostname.
func TestImplicitTLSVerifies(t *testing.T) {
	dir := t.TempDir()
	cert, key := certPair(t, dir, "localhost")
	store, err := tlsutil.NewCertStore(cert, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{TLSConfig: store.TLSConfig()}
	s.Listeners = []Listener{{Name: "pop3s", Addr: "127.0.0.1:0", TLS: TLSImplicit, Handler: greeter(nil)}}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pemBytes, _ := os.ReadFile(cert)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	c, err := tls.Dial("tcp", s.Addr("pop3s").String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := readLine(t, c); got != "+OK hello\r\n" {
		t.Fatalf("got %q", got)
	}
}

package server

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/tlsutil"
)

// An implicit-TLS client over the limit is told why, under TLS, as a
// plain client is (issue 10: POP3S, IMAPS and SMTPS closed silently).
func TestImplicitTLSRefusalIsAnswered(t *testing.T) {
	dir := t.TempDir()
	cert, key := certPair(t, dir, "localhost")
	store, err := tlsutil.NewCertStore(cert, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{TLSConfig: store.TLSConfig(), MaxConnections: 1}
	s.Listeners = []Listener{
		{Name: "pop3s", Addr: "127.0.0.1:0", TLS: TLSImplicit, Handler: greeter(nil), Refusal: refusal},
		// A handler that handshakes itself (SMTP submissions).
		{Name: "own", Addr: "127.0.0.1:0", Handler: greeter(nil), Refusal: "421 busy\r\n", RefuseOverTLS: true},
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	first, err := tls.Dial("tcp", s.Addr("pop3s").String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if got := readLine(t, first); got != "+OK hello\r\n" {
		t.Fatalf("first: %q", got)
	}
	for name, want := range map[string]string{"pop3s": refusal, "own": "421 busy\r\n"} {
		c, err := tls.Dial("tcp", s.Addr(name).String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("%s: refused client got no handshake: %v", name, err)
		}
		if got := readLine(t, c); got != want {
			t.Fatalf("%s: got %q, want %q", name, got, want)
		}
		c.Close()
	}
}

// A flood of refused connections makes a bounded number of log lines.
func TestRefusalLogIsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	s := &Server{MaxConnections: 1, Logger: log}
	addr := start(t, s, greeter(nil))
	readLine(t, dial(t, addr))
	for range 50 {
		c := dial(t, addr)
		if got := readLine(t, c); got != refusal {
			t.Fatalf("got %q", got)
		}
		c.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(buf.String(), "connection refused"); n != 1 {
		t.Fatalf("%d refusal log lines for 50 refusals in one interval, want 1:\n%s", n, buf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

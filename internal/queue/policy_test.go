package queue

import (
	"bufio"
	"context"
	"crypto/x509"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

func TestOpportunisticTLS(t *testing.T) {
	s := newSink(t, true)
	f := newFixture(t, s)
	f.submit(t, "alice@a.test", "bob@remote.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if len(s.tls) != 1 || !s.tls[0] {
		t.Errorf("sessions over TLS: %v; want the one session upgraded with STARTTLS", s.tls)
	}
}

func TestRequireTLSDefersWithoutSTARTTLS(t *testing.T) {
	s := newSink(t, false)
	f := newFixture(t, s)
	f.w.RequireTLS = map[string]bool{"remote.test": true}
	f.submit(t, "alice@a.test", "bob@remote.test")
	f.start(t)
	waitFor(t, "two deferred attempts", func() bool {
		m, err := f.st.QueuedMessages(context.Background())
		return err == nil && len(m) == 1 && m[0].Attempts >= 2
	})
	m, _ := f.st.QueuedMessages(context.Background())
	if !strings.Contains(m[0].LastError, "4.7.4") || len(s.messages()) != 0 {
		t.Errorf("last error %q, sink got %d messages; want 4.7.4 and nothing sent in clear", m[0].LastError, len(s.messages()))
	}
}

func TestRequireTLSVerifiesCertificate(t *testing.T) {
	s := newSink(t, true)
	f := newFixture(t, s)
	f.w.RequireTLS = map[string]bool{"remote.test": true}
	f.submit(t, "alice@a.test", "bob@remote.test")
	f.start(t)
	// The sink's self-signed certificate is not trusted: deferred.
	waitFor(t, "a deferred attempt", func() bool {
		m, err := f.st.QueuedMessages(context.Background())
		return err == nil && len(m) == 1 && m[0].Attempts >= 1
	})
	if m, _ := f.st.QueuedMessages(context.Background()); !strings.Contains(m[0].LastError, "4.7.5") {
		t.Errorf("last error %q, want a 4.7.5 TLS failure", m[0].LastError)
	}
	if len(s.messages()) != 0 {
		t.Errorf("sent despite an untrusted certificate")
	}
}

func TestSmarthostAuthOverTLS(t *testing.T) {
	s := newSink(t, true)
	s.password = "s3cret"
	f := newFixture(t, s)
	f.w.RootCAs = sinkRoots(t, s)
	f.w.Smarthost = &Smarthost{Hop: Hop{Host: "mx.remote.test", Port: s.addr.Port, Literal: netip.MustParseAddr("127.0.0.1")},
		User: "relay-user", Password: "s3cret"}
	// Domains that have no MX at all still go through the smarthost.
	f.submit(t, "alice@a.test", "x@unresolvable.test", "bob@remote.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if n := s.count("x@unresolvable.test") + s.count("bob@remote.test"); n != 2 {
		t.Errorf("smarthost got %d recipients, want 2", n)
	}
	if len(s.auths) == 0 || s.auths[0] != "relay-user" || !s.tls[0] {
		t.Errorf("auths %v tls %v; want relay-user authenticated over TLS", s.auths, s.tls)
	}
}

// sinkRoots trusts the sink's self-signed certificate.
func sinkRoots(t *testing.T, s *sink) *x509.CertPool {
	t.Helper()
	cert := s.srv.TLSConfig.Certificates[0].Certificate[0]
	pool := x509.NewCertPool()
	c, err := x509.ParseCertificate(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(c)
	return pool
}

func TestRouteOverridesMX(t *testing.T) {
	s := newSink(t, false)
	f := newFixture(t, s)
	f.w.RemotePort = closedPort(t) // the MX would fail
	routes, err := ParseRoutes("remote.test=127.0.0.1:"+s.port()+", other.test=[10.0.0.1]:25", 25)
	if err != nil {
		t.Fatal(err)
	}
	f.w.Routes = routes
	f.submit(t, "alice@a.test", "bob@remote.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if s.count("bob@remote.test") != 1 {
		t.Errorf("routed message not delivered to the route's host")
	}
}

func TestImplicitMX(t *testing.T) {
	s := newSink(t, false)
	f := newFixture(t, s)
	f.res.Add("bare.test", "A", "127.0.0.1") // no MX: RFC 5321 5.1 implicit MX
	f.submit(t, "alice@a.test", "x@bare.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if s.count("x@bare.test") != 1 {
		t.Errorf("not delivered to the domain's A record")
	}
}

func TestHopsOrder(t *testing.T) {
	f := newFixture(t, nil)
	f.res.Add("multi.test", "MX", "20 backup.multi.test")
	f.res.Add("multi.test", "MX", "5 primary.multi.test")
	hops, err := f.w.hops(context.Background(), "multi.test")
	if err != nil || len(hops) != 2 || hops[0].Host != "primary.multi.test" || hops[1].Host != "backup.multi.test" || hops[0].Port != 25 {
		t.Errorf("hops = %v, %v; want primary then backup on port 25", hops, err)
	}
}

func TestMXFallbackToSecondHost(t *testing.T) {
	s := newSink(t, false)
	f := newFixture(t, s)
	// The preferred MX has an address nothing listens on... at the
	// sink's port on another loopback address.
	f.res.Add("two.test", "MX", "5 dead.two.test")
	f.res.Add("two.test", "MX", "10 mx.remote.test")
	f.res.Add("dead.two.test", "A", "127.0.0.2")
	ln, err := net.Listen("tcp", "127.0.0.2:"+s.port())
	if err != nil {
		t.Skipf("127.0.0.2 unusable here: %v", err)
	}
	ln.Close()
	f.submit(t, "alice@a.test", "x@two.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if s.count("x@two.test") != 1 {
		t.Errorf("not delivered through the second MX")
	}
}

func TestPerDomainConcurrency(t *testing.T) {
	s := newSink(t, false)
	release := make(chan struct{})
	var once sync.Once
	s.data = func(n int) error {
		if n == 1 {
			<-release // hold the first delivery so others pile up
		}
		return nil
	}
	f := newFixture(t, s)
	f.w.PerDomain, f.w.Workers = 2, 8
	for range 6 {
		f.submit(t, "alice@a.test", "bob@remote.test")
	}
	f.start(t)
	waitFor(t, "a second session", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.peak >= 2
	})
	time.Sleep(50 * time.Millisecond) // give a third session the chance to (wrongly) open
	once.Do(func() { close(release) })
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if s.peak > 2 {
		t.Errorf("%d sessions at once to one domain, limit 2", s.peak)
	}
}

func TestShutdownResumes(t *testing.T) {
	s := newSink(t, false)
	hold := make(chan struct{})
	s.data = func(n int) error {
		if n == 1 {
			<-hold
		}
		return nil
	}
	t.Cleanup(func() { close(hold) })
	f := newFixture(t, s)
	f.w.RetryBase = time.Hour // a counted failure would wait an hour
	f.submit(t, "alice@a.test", "bob@remote.test")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.w.Run(ctx) }()
	waitFor(t, "DATA to start", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.dataN == 1 })
	cancel()
	<-done
	m, err := f.st.QueuedMessages(context.Background())
	if err != nil || len(m) != 1 {
		t.Fatalf("queue after shutdown = %v, %v; want the message kept", m, err)
	}
	if m[0].NextAttempt.After(time.Now()) {
		t.Errorf("interrupted message due at %s; want at once", m[0].NextAttempt)
	}
	if m[0].Envelope.Recipients[0].Status != store.RecipientPending {
		t.Errorf("interrupted recipient recorded as %q", m[0].Envelope.Recipients[0].Status)
	}
}

// pipelineServer is a scripted peer with PIPELINING that reads n
// command lines before it answers them all with replies (one write);
// then, when body is set, it reads a message up to "." and answers 250.
func pipelineServer(t *testing.T, n int, replies string, body bool) *client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		c.Write([]byte("220 fake\r\n"))
		r.ReadString('\n')
		c.Write([]byte("250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n"))
		for range n {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
		}
		c.Write([]byte(replies))
		if body {
			for {
				l, err := r.ReadString('\n')
				if err != nil || l == ".\r\n" {
					break
				}
			}
			c.Write([]byte("250 2.0.0 done\r\n"))
		}
		r.ReadString('\n') // QUIT or EOF
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	c, err := newClient(ctx, nc, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.close() })
	if err := c.hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPipelining: a server that answers only after it has read MAIL,
// every RCPT and DATA proves the client sent them in one go (RFC 2920:
// DATA may end a pipelined group); a client waiting for any reply would
// hang here.
func TestPipelining(t *testing.T) {
	c := pipelineServer(t, 4, "250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n", true)
	rcpt, data, err := c.send(transaction{from: "a@a.test", rcpts: []string{"x@b.test", "y@b.test"},
		rcptParams: [][]string{nil, nil}, body: strings.NewReader("Subject: x\r\n\r\n.hi\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	if len(rcpt) != 2 || rcpt[0].Code != 250 || rcpt[1].Code != 550 || rcpt[1].Enhanced() != "5.1.1" || data.Code != 250 {
		t.Errorf("replies %v, data %v", rcpt, data)
	}
}

// TestPipelinedDataRefused: every RCPT refused, the pipelined DATA is
// refused too, and no message data is sent.
func TestPipelinedDataRefused(t *testing.T) {
	c := pipelineServer(t, 3, "250 ok\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n", false)
	rcpt, data, err := c.send(transaction{from: "a@a.test", rcpts: []string{"x@b.test"},
		rcptParams: [][]string{nil}, body: strings.NewReader("Subject: x\r\n\r\nhi\r\n")})
	if err != nil || len(rcpt) != 1 || rcpt[0].Code != 550 || data.Code != 0 {
		t.Errorf("replies %v, data %v, err %v; want the RCPT refusal only", rcpt, data, err)
	}
}

func TestParseRoutes(t *testing.T) {
	r, err := ParseRoutes(" a.test = mx.a.test:2525 ,b.test=[10.0.0.1], c.test=[::1]:26", 25)
	if err != nil {
		t.Fatal(err)
	}
	if r["a.test"].Host != "mx.a.test" || r["a.test"].Port != 2525 || r["a.test"].Literal.IsValid() {
		t.Errorf("a.test = %+v", r["a.test"])
	}
	if r["b.test"].Literal != netip.MustParseAddr("10.0.0.1") || r["b.test"].Port != 25 {
		t.Errorf("b.test = %+v", r["b.test"])
	}
	if r["c.test"].Literal != netip.MustParseAddr("::1") || r["c.test"].Port != 26 {
		t.Errorf("c.test = %+v", r["c.test"])
	}
	for _, bad := range []string{"a.test", "=x:25", "a.test=x:0", "a.test=x:port", "a b=x:25", "a.test=:25"} {
		if _, err := ParseRoutes(bad, 25); err == nil {
			t.Errorf("ParseRoutes(%q) accepted it", bad)
		}
	}
}

package tlsutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// These tests get certificates from Pebble, Let's Encrypt's test CA, run
// in-process on loopback: its validator resolves every name to 127.0.0.1
// through a loopback DNS server and connects to the listeners under test,
// so TLS-ALPN-01 and HTTP-01 are answered for real.

// loopbackDNS answers A 127.0.0.1 for every name and nothing else.
func loopbackDNS(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: l, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return l.Addr().String()
}

// lateHandler lets the CA's HTTP server start (its URL is needed first)
// before the handler exists.
type lateHandler struct{ h atomic.Pointer[http.Handler] }

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*l.h.Load()).ServeHTTP(w, r)
}

// pebble is the test CA.
type pebble struct {
	dir   *httptest.Server // the ACME directory (WFE)
	roots *x509.CertPool   // Pebble's root, for checking issued chains
}

// startPebble runs Pebble's WFE, CA and VA; the VA validates challenges on
// httpPort and tlsPort of 127.0.0.1. validity is the certificates'
// lifetime in seconds (0 = Pebble's default).
func startPebble(t *testing.T, httpPort, tlsPort int, validity uint64) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logger := log.New(io.Discard, "", 0)
	if testing.Verbose() {
		logger = log.New(testWriter{t}, "pebble ", 0)
	}
	mem := db.NewMemoryStore()
	authority := ca.New(logger, mem, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {ValidityPeriod: validity}})
	validator := va.New(logger, httpPort, tlsPort, false, loopbackDNS(t), mem)
	front := wfe.New(logger, mem, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	late := &lateHandler{}
	p := &pebble{dir: httptest.NewUnstartedServer(late)}
	h := front.Handler()
	late.h.Store(&h)
	p.dir.StartTLS()
	t.Cleanup(p.dir.Close)
	mgmt := httptest.NewTLSServer(front.ManagementHandler())
	defer mgmt.Close()
	resp, err := mgmt.Client().Get(mgmt.URL + wfe.RootCertPath + "0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	pemRoot, _ := io.ReadAll(resp.Body)
	p.roots = x509.NewCertPool()
	if !p.roots.AppendCertsFromPEM(pemRoot) {
		t.Fatalf("Pebble root: %q", pemRoot)
	}
	return p
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// site is the server side under test: an HTTPS listener serving the ACME
// TLS config and an HTTP listener with the HTTP-01 handler, as serve wires
// them.
type site struct {
	acme      *ACME
	httpsAddr string
	httpPort  int
	tlsPort   int
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func port(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }

// newSite binds the listeners; start serves them once the CA is known.
func newSite(t *testing.T) (httpL, httpsL net.Listener) {
	return listen(t), listen(t)
}

func startSite(t *testing.T, p *pebble, httpL, httpsL net.Listener, renewBefore time.Duration) *ACME {
	t.Helper()
	a := NewACME(ACMEOptions{
		CacheDir:     t.TempDir(),
		Email:        "postmaster@example.test",
		DirectoryURL: p.dir.URL + wfe.DirectoryPath,
		Hostname:     "mail.example.test",
		Allowed: func(_ context.Context, host string) error {
			switch host {
			case "mail.example.test", "autoconfig.example.test", "mta-sts.example.test":
				return nil
			}
			return errors.New("not a name of this server")
		},
		RenewBefore: renewBefore,
		HTTPClient:  p.dir.Client(),
	})
	hs := &http.Server{Handler: a.HTTPHandler(nil)}
	go hs.Serve(httpL)
	t.Cleanup(func() { hs.Close() })
	go func() {
		for {
			c, err := httpsL.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, a.TLSConfig())
				tc.SetDeadline(time.Now().Add(time.Minute))
				if tc.Handshake() == nil {
					io.WriteString(tc, "hello\n")
				}
			}()
		}
	}()
	return a
}

// served handshakes with the HTTPS listener as a client checking the
// chain against Pebble's root, and returns the leaf.
func served(t *testing.T, addr, name string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Minute}, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		t.Fatalf("handshake for %s: %v", name, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

func TestACMEIssuesWithTLSALPN01(t *testing.T) {
	httpL, httpsL := newSite(t)
	// The validator reaches only the HTTPS listener: TLS-ALPN-01.
	p := startPebble(t, port(listen(t)), port(httpsL), 0)
	a := startSite(t, p, httpL, httpsL, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := a.Prefetch(ctx); err != nil {
		t.Fatalf("prefetch: %v", err)
	}
	leaf := served(t, httpsL.Addr().String(), "mail.example.test", p.roots)
	if leaf.DNSNames[0] != "mail.example.test" {
		t.Fatalf("certificate for %v", leaf.DNSNames)
	}
	// A client without SNI (or with a foreign name) gets the hostname's.
	c, err := tls.Dial("tcp", httpsL.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("no-SNI client got another certificate")
	}
	c.Close()
	c, err = tls.Dial("tcp", httpsL.Addr().String(), &tls.Config{ServerName: "www.elsewhere.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ConnectionState().PeerCertificates[0].DNSNames; got[0] != "mail.example.test" {
		t.Errorf("foreign name got a certificate for %v", got)
	}
	c.Close()
	// A mail client offering an ALPN protocol we do not speak still
	// connects (acme-tls/1 is offered only to the validator).
	c, err = tls.Dial("tcp", httpsL.Addr().String(), &tls.Config{ServerName: "mail.example.test", RootCAs: p.roots, NextProtos: []string{"imap"}})
	if err != nil {
		t.Fatalf("client with ALPN imap: %v", err)
	}
	c.Close()
	// Another allowed name is issued on its first handshake.
	if leaf := served(t, httpsL.Addr().String(), "mta-sts.example.test", p.roots); leaf.DNSNames[0] != "mta-sts.example.test" {
		t.Fatalf("mta-sts certificate for %v", leaf.DNSNames)
	}
}

func TestACMEIssuesWithHTTP01(t *testing.T) {
	httpL, httpsL := newSite(t)
	// The validator's TLS port is closed: TLS-ALPN-01 fails, and the
	// manager falls back to HTTP-01 on the HTTP listener.
	closed := listen(t)
	closedPort := port(closed)
	closed.Close()
	p := startPebble(t, port(httpL), closedPort, 0)
	a := startSite(t, p, httpL, httpsL, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := a.Prefetch(ctx); err != nil {
		t.Fatalf("prefetch: %v", err)
	}
	served(t, httpsL.Addr().String(), "mail.example.test", p.roots)
}

// TestACMERenewsAndSwaps: a certificate inside its renewal window is
// renewed in the background and the new one is served from the next
// handshake, without a restart.
func TestACMERenewsAndSwaps(t *testing.T) {
	httpL, httpsL := newSite(t)
	// One-hour certificates renewed two hours before expiry: renewal is
	// due as soon as one is issued.
	p := startPebble(t, port(listen(t)), port(httpsL), 3600)
	a := startSite(t, p, httpL, httpsL, 2*time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := a.Prefetch(ctx); err != nil {
		t.Fatalf("prefetch: %v", err)
	}
	first := served(t, httpsL.Addr().String(), "mail.example.test", p.roots)
	deadline := time.Now().Add(time.Minute)
	for {
		next := served(t, httpsL.Addr().String(), "mail.example.test", p.roots)
		if next.SerialNumber.Cmp(first.SerialNumber) != 0 {
			if !next.NotAfter.After(first.NotAfter) && !next.NotAfter.Equal(first.NotAfter) {
				t.Fatalf("renewed certificate expires earlier: %v < %v", next.NotAfter, first.NotAfter)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("certificate never renewed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Stop the renewal loop this test's short validity causes.
	p.dir.Close()
}

package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
	"github.com/pochta-mail/pochta/internal/tlsutil"
)

// The harness: a Server on the real SQLite store and the real auth
// service, on loopback sockets: plain (STARTTLS offered) and implicit TLS.

const (
	testUser = "alice@example.com"
	testPass = "correct horse"
	bobUser  = "bob@example.com"
	bobPass  = "tr0ub4dor"
)

type env struct {
	t       testing.TB
	store   *sqlite.Store
	auth    *auth.Service
	srv     *Server
	addr    string // plain
	tlsAddr string // implicit TLS
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	legacy  bool // envOptions.legacyAuth
}

type envOptions struct {
	// remote, when set, makes the server see clients at this address
	// (a non-loopback client for the plaintext policy).
	remote string
	// server, when set, adjusts the Server before it serves anything
	// (setting fields afterwards would race with the sessions).
	server func(*Server)
	// keepExpunged is the store's sqlite.Options.KeepExpunged.
	keepExpunged int
	// legacyAuth turns on CRAM-MD5 (auth.Options.Legacy) and gives the
	// test users a legacy secret.
	legacyAuth bool
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{PollInterval: 50 * time.Millisecond, KeepExpunged: o.keepExpunged})
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := tlsutil.WriteSelfSigned(tlsutil.SelfSigned{Hostname: "imap.example.com"}, cert, key); err != nil {
		t.Fatal(err)
	}
	certs, err := tlsutil.NewCertStore(cert, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, ctx: ctx, cancel: cancel, legacy: o.legacyAuth}
	e.auth = auth.New(auth.Options{Directory: st, DefaultDomain: "example.com", Argon2: auth.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, Legacy: o.legacyAuth})
	e.srv = &Server{
		Hostname:  "imap.example.com",
		Auth:      e.auth,
		Store:     st,
		TLSConfig: certs.TLSConfig(),
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:   "test",
	}
	if err := st.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	e.addUser(testUser, testPass)
	e.addUser(bobUser, bobPass)
	if o.server != nil {
		o.server(e.srv)
	}
	e.addr = e.listen(o, nil)
	e.tlsAddr = e.listen(o, certs.TLSConfig())
	t.Cleanup(func() {
		cancel()
		e.wg.Wait()
		if n := e.srv.RecoveredPanics(); n != 0 {
			t.Errorf("%d sessions panicked", n)
		}
		if err := st.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return e
}

func (e *env) listen(o envOptions, tlsConfig *tls.Config) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if o.remote != "" {
				c = remoteConn{c, o.remote}
			}
			if tlsConfig != nil {
				c = tls.Server(c, tlsConfig)
			}
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				e.srv.ServeConn(e.ctx, c)
			}()
		}
	}()
	return l.Addr().String()
}

// remoteConn poses as a connection from another host.
type remoteConn struct {
	net.Conn
	addr string
}

func (c remoteConn) RemoteAddr() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", c.addr)
	return a
}

func (e *env) addUser(address, password string) store.Account {
	e.t.Helper()
	creds, err := e.auth.NewCredentials(password, e.legacy)
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := e.store.CreateAccount(context.Background(), address, creds)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) account(address string) store.Account {
	e.t.Helper()
	a, err := e.store.Account(context.Background(), address)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) deliver(address string, bodies ...string) {
	e.t.Helper()
	a := e.account(address)
	for _, b := range bodies {
		if err := e.store.Deliver(context.Background(), store.Delivery{
			Recipients: []store.Recipient{{AccountID: a.ID}}, Body: strings.NewReader(b),
			InternalDate: testDate,
		}); err != nil {
			e.t.Fatal(err)
		}
	}
}

var testDate = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// testMessage i is a small message with a recognisable subject and body.
func testMessage(i int) string {
	return fmt.Sprintf("From: Sender %d <sender%d@example.org>\r\nTo: alice@example.com\r\n"+
		"Subject: message %d\r\nDate: Mon, 6 May 2024 07:08:09 +0000\r\nMessage-ID: <m%d@example.org>\r\n\r\n"+
		"body of message %d\r\n", i, i, i, i, i)
}

// client logs in with the Go IMAP client over plain TCP.
func (e *env) client(user, pass string, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	e.t.Helper()
	c, err := imapclient.DialInsecure(e.addr, &imapclient.Options{UnilateralDataHandler: h})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		e.t.Fatalf("LOGIN %s: %v", user, err)
	}
	return c
}

func (e *env) selectInbox(c *imapclient.Client) *goimap.SelectData {
	e.t.Helper()
	d, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// raw is a line-level client for exact protocol checks.
type raw struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func (e *env) raw(addr string) (*raw, string) {
	e.t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	r := &raw{t: e.t, conn: c, r: bufio.NewReader(c)}
	return r, r.line()
}

func (r *raw) line() string {
	r.t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := r.r.ReadString('\n')
	if err != nil {
		r.t.Fatalf("reading: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := r.conn.Write([]byte(s + "\r\n")); err != nil {
		r.t.Fatal(err)
	}
}

// cmd sends a tagged command and returns the untagged lines and the
// tagged status line.
func (r *raw) cmd(command string) (untagged []string, status string) {
	r.t.Helper()
	r.n++
	tag := fmt.Sprintf("t%d", r.n)
	r.send(tag + " " + command)
	for {
		l := r.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

// testWriter sends server logs to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// imapclientHandler turns the Go client's unsolicited responses into
// one callback: kind "exists" (with the count), "expunge" (with the
// sequence number) or "fetch" (with the sequence number and flags).
type imapclientHandler struct {
	updates func(kind string, n uint32, flags []goimap.Flag)
}

func (h *imapclientHandler) handler() *imapclient.UnilateralDataHandler {
	return &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { h.updates("expunge", seq, nil) },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				h.updates("exists", *d.NumMessages, nil)
			}
		},
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, err := msg.Collect()
			if err == nil {
				h.updates("fetch", buf.SeqNum, buf.Flags)
			}
		},
	}
}

package smtp

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
	"github.com/pochta-mail/pochta/internal/store/storetest"
	"github.com/pochta-mail/pochta/internal/tlsutil/tlstest"
)

const (
	testHost = "mx.example.org"
	testPass = "secret password"
)

// env is a real SQLite store, the real auth service and an SMTP server
// with three listeners (MX, submission, submissions) on loopback.
type env struct {
	t     testing.TB
	st    *sqlite.Store
	auth  *auth.Service
	srv   *Server
	users map[string]store.Account
	addr  map[Mode]string
	tlsAd string // implicit-TLS submission
	cli   *tls.Config
	ctx   context.Context
	wg    sync.WaitGroup
	stop  func() // ends the server and closes the store; also at cleanup
}

type envOptions struct {
	remote    bool // the server sees clients as 192.0.2.1, not loopback
	configure func(*Server)
	// dir is the store's directory: a stopped env's, to run a server
	// again on its data (a restart); "" = a new one.
	dir string
}

// noDelay removes the failure throttle's wait (tests provoke failures).
type noDelay struct{ *auth.Service }

func (noDelay) LoginFailed(context.Context, string, netip.Addr) time.Duration { return 0 }

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := cmp.Or(o.dir, t.TempDir())
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	as := auth.New(auth.Options{Directory: st, Argon2: auth.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	srvTLS, cliTLS := tlstest.Configs(t, testHost)
	e := &env{t: t, st: st, auth: as, users: map[string]store.Account{}, addr: map[Mode]string{}, cli: cliTLS, ctx: ctx}
	e.srv = &Server{
		Hostname:  testHost,
		Auth:      noDelay{as},
		Resolver:  &delivery.Resolver{Dir: st, Delimiters: "+"},
		Deliverer: &delivery.Deliverer{Store: st, Hostname: testHost},
		SendLog:   st,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		TLSConfig: srvTLS,
	}
	if o.configure != nil {
		o.configure(e.srv)
	}
	for _, d := range []string{"example.org", "other.example"} {
		if err := st.AddDomain(ctx, d); err != nil && (o.dir == "" || !errors.Is(err, store.ErrExists)) {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"alice@example.org", "bob@example.org", "carol@other.example"} {
		e.addUser(u)
	}
	if err := st.AddAlias(ctx, "sales@example.org", []string{"alice@example.org"}); err != nil && o.dir == "" {
		t.Fatal(err)
	}
	var listeners []net.Listener
	// implicit makes the listener hand TLS connections over, as
	// internal/server's implicit-TLS listeners do (not handshaken yet).
	listen := func(h *Handler, implicit bool) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				if o.remote {
					c = remoteConn{c}
				}
				if implicit {
					c = tls.Server(c, srvTLS)
				}
				e.wg.Go(func() { h.ServeConn(ctx, c) })
			}
		}()
		return l.Addr().String()
	}
	e.addr[ModeMX] = listen(e.srv.Handler(ModeMX), false)
	e.addr[ModeSubmission] = listen(e.srv.Handler(ModeSubmission), false)
	e.tlsAd = listen(e.srv.Handler(ModeSubmission), true)
	e.stop = sync.OnceFunc(func() {
		for _, l := range listeners {
			l.Close()
		}
		cancel()
		e.wg.Wait()
		st.Close()
	})
	t.Cleanup(e.stop)
	return e
}

func (e *env) addUser(address string) store.Account {
	e.t.Helper()
	creds, err := e.auth.NewCredentials(testPass, false)
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := e.st.CreateAccount(context.Background(), address, creds)
	if errors.Is(err, store.ErrExists) {
		a, err = e.st.Account(context.Background(), address) // a restart's
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.users[address] = a
	return a
}

// inbox returns the stored messages of a user.
func (e *env) inbox(address string) []string {
	e.t.Helper()
	return storetest.Bodies(e.t, e.st, e.users[address].ID)
}

// dial connects a go-smtp client to a listener and says EHLO.
func (e *env) dial(mode Mode) *gosmtp.Client {
	e.t.Helper()
	c, err := gosmtp.Dial(e.addr[mode])
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example"); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// dialTLS connects with STARTTLS, or implicit TLS, and says EHLO.
func (e *env) dialTLS(addr string, implicit bool) *gosmtp.Client {
	e.t.Helper()
	var c *gosmtp.Client
	var err error
	if implicit {
		c, err = gosmtp.DialTLS(addr, e.cli)
	} else {
		c, err = gosmtp.DialStartTLS(addr, e.cli)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example"); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func itoa(n int) string { return strconv.Itoa(n) }

// submit dials submission, upgrades with STARTTLS and logs in as user.
func (e *env) submit(user string) *gosmtp.Client {
	e.t.Helper()
	c := e.dialTLS(e.addr[ModeSubmission], false)
	if err := c.Auth(sasl.NewPlainClient("", user, testPass)); err != nil {
		e.t.Fatalf("AUTH PLAIN %s: %v", user, err)
	}
	return c
}

// send runs one transaction and returns the server's error, if any.
func send(c *gosmtp.Client, from string, to []string, body string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

// wantCode fails unless err is an SMTP reply with the code and enhanced
// code.
func wantCode(t testing.TB, what string, err error, code int, enhanced string) {
	t.Helper()
	se, ok := err.(*gosmtp.SMTPError)
	if !ok {
		t.Errorf("%s: %v, want %d %s", what, err, code, enhanced)
		return
	}
	got := fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	if se.Code != code || got != enhanced {
		t.Errorf("%s: %d %s %q, want %d %s", what, se.Code, got, se.Message, code, enhanced)
	}
}

// raw is a line client on a plain socket, for what go-smtp's client does
// not do (pipelining by hand, BDAT, broken input).
type raw struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func (e *env) raw(mode Mode) *raw {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr[mode])
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := &raw{t: e.t, c: c, r: bufio.NewReader(c)}
	r.expect("220 ")
	return r
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (r *raw) reply() string {
	r.t.Helper()
	for {
		line, err := r.r.ReadString('\n')
		if err != nil {
			r.t.Fatalf("reading reply: %v (got %q)", err, line)
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

func (r *raw) expect(prefix string) string {
	r.t.Helper()
	got := r.reply()
	if !strings.HasPrefix(got, prefix) {
		r.t.Fatalf("reply %q, want %q...", got, prefix)
	}
	return got
}

// remoteConn makes the server see a non-loopback client.
type remoteConn struct{ net.Conn }

func (remoteConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 4242}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func timeNowPlus(ms int) time.Time { return time.Now().Add(time.Duration(ms) * time.Millisecond) }

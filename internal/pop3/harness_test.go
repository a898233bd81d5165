package pop3

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// The harness: a Server backed by a temp-dir SQLite store and the real
// auth service, listening on a real loopback socket.

const (
	testHost   = "pop.example.com"
	testUser   = "alice@example.com"
	testPass   = "correct horse"
	legacyUser = "bob@example.com"
	legacyPass = "tr0ub4dor"
)

type envOptions struct {
	legacy bool
	// wrap, when set, wraps each accepted conn before ServeConn: tests use
	// it to pose as a non-loopback client or to count writes.
	wrap func(net.Conn) net.Conn
	// maildrops, when set, wraps the real store's Maildrops.
	maildrops func(store.Maildrops) store.Maildrops
	// noDelay replaces the failure throttle's waits by zero (fuzzing).
	noDelay bool
}

type env struct {
	t     testing.TB
	dir   string // the store's directory
	store *sqlite.Store
	auth  *auth.Service
	srv   *Server
	addr  string
	clock *testClock

	ctx      context.Context
	cancel   context.CancelFunc
	sessions sync.WaitGroup
	active   atomic.Int64

	// expectPanics is how many recovered panics the test provokes.
	expectPanics int64

	mu    sync.Mutex
	conns []net.Conn // client conns dialed so far, for openClients
}

// openClients returns the client conns dialed since the last call.
func (e *env) openClients() []net.Conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	cs := e.conns
	e.conns = nil
	return cs
}

// testClock is a settable clock for LOGIN-DELAY and EXPIRE.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// noDelayAuth is the real auth service with the failure throttle's wait
// removed, for fuzzing where thousands of failed logins are expected.
type noDelayAuth struct{ *auth.Service }

func (noDelayAuth) LoginFailed(context.Context, string, netip.Addr) time.Duration { return 0 }

// cheapArgon2 keeps password hashing fast in tests (argon2id under -race is
// slow); logins still run the production verification path.
var cheapArgon2 = auth.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}

func newEnv(t testing.TB, o envOptions, configure ...func(*Server)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	as := auth.New(auth.Options{Directory: st, Legacy: o.legacy, DefaultDomain: "example.com", Separators: "+%", Argon2: cheapArgon2})
	e := &env{t: t, dir: dir, store: st, auth: as, clock: clock, ctx: ctx, cancel: cancel}
	var a Authenticator = as
	if o.noDelay {
		a = noDelayAuth{as}
	}
	var md store.Maildrops = st
	if o.maildrops != nil {
		md = o.maildrops(st)
	}
	e.srv = &Server{
		Hostname:  testHost,
		Auth:      a,
		Maildrops: md,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:       clock.Now,
	}
	for _, f := range configure {
		f(e.srv)
	}
	if err := st.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	e.addUser(testUser, testPass, false)
	if o.legacy {
		e.addUser(legacyUser, legacyPass, true)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if o.wrap != nil {
				c = o.wrap(c)
			}
			e.serve(c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		cancel()
		e.sessions.Wait()
		if n := e.srv.RecoveredPanics(); n != e.expectPanics {
			t.Errorf("%d sessions panicked", n)
		}
		if err := st.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return e
}

// serve runs one session in the background, tracked for waitIdle.
func (e *env) serve(c net.Conn) {
	e.sessions.Add(1)
	e.active.Add(1)
	go func() {
		defer e.sessions.Done()
		defer e.active.Add(-1)
		e.srv.ServeConn(e.ctx, c)
	}()
}

// waitIdle waits until no session is being served, so a lock released by
// a client's disconnect is really released.
func (e *env) waitIdle() {
	e.t.Helper()
	e.waitActive(0)
}

// waitActive waits until exactly n sessions are being served.
func (e *env) waitActive(n int64) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.active.Load() != n {
		if time.Now().After(deadline) {
			e.t.Fatal("sessions did not end")
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *env) addUser(address, password string, legacy bool) store.Account {
	e.t.Helper()
	creds, err := e.auth.NewCredentials(password, legacy)
	if err != nil {
		e.t.Fatal(err)
	}
	acct, err := e.store.CreateAccount(context.Background(), address, creds)
	if err != nil {
		e.t.Fatal(err)
	}
	return acct
}

func (e *env) deliver(address string, bodies ...string) {
	e.t.Helper()
	acct, err := e.store.Account(context.Background(), address)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, b := range bodies {
		err := e.store.Deliver(context.Background(), store.Delivery{
			Recipients: []store.Recipient{{AccountID: acct.ID}},
			Body:       strings.NewReader(b),
		})
		if err != nil {
			e.t.Fatal(err)
		}
	}
}

// testWriter sends server logs to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// client is the test side of a connection.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// dial connects and reads the greeting.
func (e *env) dial() *client {
	e.t.Helper()
	c := e.dialNoGreeting()
	c.expect(`+OK ` + testHost + ` POP3 ready*`)
	return c
}

func (e *env) dialNoGreeting() *client {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	e.mu.Lock()
	e.conns = append(e.conns, conn)
	e.mu.Unlock()
	return &client{t: e.t, conn: conn, r: bufio.NewReader(conn)}
}

// login dials and logs in with USER/PASS.
func (e *env) login() *client {
	e.t.Helper()
	return e.loginAs(testUser)
}

// loginAs dials and logs in as user, whose password is testPass.
func (e *env) loginAs(user string) *client {
	e.t.Helper()
	c := e.dial()
	c.run(`
C: USER ` + user + `
S: +OK
C: PASS ` + testPass + `
S~ \+OK Logged in, \d+ messages \(\d+ octets\)
`)
	return c
}

func (c *client) send(line string) {
	c.t.Helper()
	c.write(line + "\r\n")
}

func (c *client) write(s string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// line reads one response line without its CRLF; it fails the test on a
// line not ended by CRLF.
func (c *client) line() string {
	c.t.Helper()
	l, err := c.readLine()
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	return l
}

func (c *client) readLine() (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		return l, err
	}
	if !strings.HasSuffix(l, "\r\n") {
		return l, fmt.Errorf("response line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n"), nil
}

// expect reads a line and matches it: exactly, or with a trailing "*"
// as a prefix.
func (c *client) expect(want string) string {
	c.t.Helper()
	got := c.line()
	if p, ok := strings.CutSuffix(want, "*"); ok {
		if !strings.HasPrefix(got, p) {
			c.t.Fatalf("got %q, want prefix %q", got, p)
		}
	} else if got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
	return got
}

// run plays a transcript, one directive per line:
//
//	C: text   the client sends text + CRLF
//	S: text   the server answers exactly text (a trailing * = any suffix)
//	S~ re     the server answers a line matching the anchored regexp re
//
// Blank lines and lines starting with # are ignored.
func (c *client) run(script string) {
	c.t.Helper()
	for _, l := range strings.Split(script, "\n") {
		l = strings.TrimLeft(l, " \t")
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case l == "C:":
			c.send("")
		case strings.HasPrefix(l, "C: "):
			c.send(l[3:])
		case strings.HasPrefix(l, "S: "):
			c.expect(l[3:])
		case strings.HasPrefix(l, "S~ "):
			got := c.line()
			if !regexp.MustCompile(`^(?:` + l[3:] + `)$`).MatchString(got) {
				c.t.Fatalf("got %q, want match for %q", got, l[3:])
			}
		default:
			c.t.Fatalf("bad transcript line %q", l)
		}
	}
}

// multiline reads a multi-line response body after its +OK line, undoes
// the dot-stuffing and returns it with CRLFs.
func (c *client) multiline() string {
	c.t.Helper()
	var b strings.Builder
	for {
		l := c.line()
		if l == "." {
			return b.String()
		}
		if strings.HasPrefix(l, ".") {
			l = l[1:]
		}
		b.WriteString(l)
		b.WriteString("\r\n")
	}
}

// rawMultiline reads a multi-line body exactly as sent, stuffing and the
// final ".\r\n" included.
func (c *client) rawMultiline() string {
	c.t.Helper()
	var b strings.Builder
	for {
		l := c.line()
		b.WriteString(l + "\r\n")
		if l == "." {
			return b.String()
		}
	}
}

// expectClosed checks the server closed the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	l, err := c.readLine()
	if err == nil {
		c.t.Fatalf("got %q, want the connection closed", l)
	}
	if !errors.Is(err, io.EOF) && !isReset(err) {
		c.t.Fatalf("want EOF, got %v (line %q)", err, l)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// startTLS upgrades the client side after "+OK" to STLS.
func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

// crlf turns LF line ends into CRLF, as the store stores bodies.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

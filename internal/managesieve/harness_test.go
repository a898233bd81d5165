package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
	"github.com/pochta-mail/pochta/internal/tlsutil/tlstest"
)

const testHost = "mail.example.org"

var cheapArgon2 = auth.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}

type env struct {
	st        *sqlite.Store
	srv       *Server
	acct      store.Account
	clientTLS *tls.Config
}

// newEnv is a server on a real SQLite store with alice@example.org
// (password "secret") and STARTTLS.
func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	as := auth.New(auth.Options{Directory: st, DefaultDomain: "example.org", Argon2: cheapArgon2})
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	creds, err := as.NewCredentials("secret", false)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := st.CreateAccount(ctx, "alice@example.org", creds)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, clientTLS := tlstest.Configs(t, testHost)
	srv := &Server{Auth: as, Scripts: &Scripts{Store: st, MaxScriptSize: 4096, MaxScripts: 3},
		TLSConfig: serverTLS, Hostname: testHost,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	return &env{st: st, srv: srv, acct: acct, clientTLS: clientTLS}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// remoteConn gives one end of a pipe the remote address of a client.
type remoteConn struct {
	net.Conn
	addr net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.addr }

var (
	loopback = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	remote   = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}
)

// client is a line-script client of one session.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	done chan struct{}
}

// dial starts a session from addr and reads the greeting.
func (e *env) dial(t testing.TB, from net.Addr) *client {
	t.Helper()
	cli, srv := net.Pipe()
	c := &client{t: t, conn: cli, r: bufio.NewReader(cli), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		e.srv.ServeConn(context.Background(), remoteConn{srv, from})
	}()
	t.Cleanup(func() {
		cli.Close()
		<-c.done
	})
	c.response()
	return c
}

// login dials from loopback and authenticates as alice.
func (e *env) login(t testing.TB) *client {
	t.Helper()
	c := e.dial(t, loopback)
	c.expect(`AUTHENTICATE "PLAIN" "`+plain("alice@example.org", "secret")+`"`, `OK "Logged in"`)
	return c
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func (c *client) send(s string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// response reads lines up to and including the final OK, NO or BYE line.
func (c *client) response() string {
	c.t.Helper()
	var lines []string
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read after %q: %v", lines, err)
		}
		line = strings.TrimSuffix(line, "\r\n")
		lines = append(lines, line)
		if strings.HasPrefix(line, "OK") || strings.HasPrefix(line, "NO") || strings.HasPrefix(line, "BYE") {
			return strings.Join(lines, "\n")
		}
		// A literal: read its octets as they are.
		if i := strings.LastIndexByte(line, '{'); i >= 0 && strings.HasSuffix(line, "}") {
			var n int
			for _, d := range line[i+1 : len(line)-1] {
				n = n*10 + int(d-'0')
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(c.r, buf); err != nil {
				c.t.Fatal(err)
			}
			lines[len(lines)-1] += string(buf)
		}
	}
}

// expect sends a command (CRLF added) and checks the final line of the
// response, or the whole response when want has several lines (nothing
// when want is empty).
func (c *client) expect(cmd, want string) string {
	c.t.Helper()
	c.send(cmd + "\r\n")
	got := c.response()
	check := got
	if !strings.Contains(want, "\n") {
		check = got[strings.LastIndexByte(got, '\n')+1:]
	}
	if want != "" && check != want {
		c.t.Errorf("%.80q:\n got %q\nwant %q", cmd, check, want)
	}
	return got
}

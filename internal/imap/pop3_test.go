package imap

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/pochta-mail/pochta/internal/pop3"
)

// pop3Client is a line-level POP3 client.
type pop3Client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func (e *env) pop3(t *testing.T) *pop3Client {
	t.Helper()
	srv := &pop3.Server{Auth: e.auth, Maildrops: e.store}
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
		e.wg.Add(1)
		defer e.wg.Done()
		srv.ServeConn(e.ctx, c)
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &pop3Client{t: t, conn: c, r: bufio.NewReader(c)}
	p.line()
	p.cmd("USER " + testUser)
	if l := p.cmd("PASS " + testPass); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("POP3 login: %q", l)
	}
	return p
}

func (p *pop3Client) line() string {
	p.t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := p.r.ReadString('\n')
	if err != nil {
		p.t.Fatalf("POP3 read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

func (p *pop3Client) cmd(c string) string {
	p.t.Helper()
	if _, err := p.conn.Write([]byte(c + "\r\n")); err != nil {
		p.t.Fatal(err)
	}
	return p.line()
}

// multi reads a multi-line response body up to ".".
func (p *pop3Client) multi() []string {
	p.t.Helper()
	var out []string
	for {
		l := p.line()
		if l == "." {
			return out
		}
		out = append(out, l)
	}
}

// POP3 and IMAP on the same INBOX stay consistent at every step.
func TestPOP3AndIMAPConsistency(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1), testMessage(2), testMessage(3))
	updates := make(chan string, 10)
	h := &imapclientHandler{updates: func(kind string, n uint32, _ []goimap.Flag) {
		if kind == "expunge" {
			updates <- kind
		}
	}}
	c := e.client(testUser, testPass, h.handler())
	e.selectInbox(c)

	// A POP3 DELE + QUIT is an EXPUNGE for the IMAP session.
	p := e.pop3(t)
	if l := p.cmd("DELE 1"); !strings.HasPrefix(l, "+OK") {
		t.Fatal(l)
	}
	p.cmd("QUIT")
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-updates:
	case <-time.After(10 * time.Second):
		t.Fatal("IMAP session not told about the POP3 deletion")
	}
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Errorf("IMAP sees %d messages after POP3 DELE, want 2", n)
	}

	// An open POP3 snapshot copes with a message IMAP expunges: RETR of
	// it is -ERR, the rest still works.
	p = e.pop3(t)
	if l := p.cmd("STAT"); !strings.HasPrefix(l, "+OK 2 ") {
		t.Fatalf("POP3 STAT: %q", l)
	}
	if _, err := c.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true,
		Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	if l := p.cmd("RETR 1"); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("POP3 RETR of a message IMAP expunged: %q", l)
	}
	if l := p.cmd("RETR 2"); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("POP3 RETR 2: %q", l)
	}
	if body := strings.Join(p.multi(), "\r\n") + "\r\n"; body != testMessage(3) {
		t.Errorf("POP3 RETR 2 = %q", body)
	}
	p.cmd("QUIT")

	// The next POP3 session no longer has it.
	p = e.pop3(t)
	if l := p.cmd("STAT"); !strings.HasPrefix(l, "+OK 1 ") {
		t.Errorf("POP3 STAT after IMAP expunge: %q", l)
	}
	p.cmd("QUIT")
}

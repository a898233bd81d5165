package e2e_test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Outbound delivery between real binaries on loopback: instance A's user
// submits to instance B's user; A's route sends b.test to B's MX port,
// and B's static zone publishes A's DKIM key, SPF and DMARC records.

const outboundPass = "outbound secret"

// submit sends one message through an instance's submission port with
// AUTH PLAIN (plaintext is allowed from loopback).
func submit(t *testing.T, addr, user, from string, to []string, msg string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", user, outboundPass)); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	if err := c.SendMail(from, to, strings.NewReader(msg)); err != nil {
		t.Fatalf("submitting: %v", err)
	}
	c.Quit()
}

// popMessages logs in and returns every message of the maildrop.
func popMessages(t *testing.T, addr, user string) []string {
	t.Helper()
	p, err := dialPOP3(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if _, err := p.login(user, outboundPass); err != nil {
		t.Fatalf("POP3 login %s: %v", user, err)
	}
	n, err := p.stat()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := 1; i <= n; i++ {
		m, err := p.retr(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	p.cmd("QUIT")
	return out
}

// eventually polls until cond holds; the bound only keeps a broken test
// from hanging.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func outboundMessage(to, subject string) string {
	return "From: Alice <alice@a.test>\r\nTo: <" + to + ">\r\nSubject: " + subject +
		"\r\nDate: Mon, 05 Jan 2026 10:00:00 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") +
		"@a.test>\r\n\r\nHello from A.\r\n.A line with a leading dot.\r\n"
}

func TestOutboundDKIMBetweenInstances(t *testing.T) {
	t.Parallel()
	a, b := newInstance(t, "a.test"), newInstance(t, "b.test")
	a.addUser("alice@a.test", outboundPass)
	b.addUser("bob@b.test", outboundPass)
	// keygen prints the zone line on stdout and a note on stderr.
	out, code := a.runCode("", "-d", a.dir, "dkim", "keygen", "a.test", "--algo", "ed25519", "--selector", "e2e")
	if code != 0 {
		t.Fatalf("dkim keygen: %s", out)
	}
	record := strings.SplitN(out, "\n", 2)[0]
	b.addDNS(record, `a.test TXT "v=spf1 ip4:127.0.0.1 -all"`, `_dmarc.a.test TXT "v=DMARC1; p=reject"`)
	b.serve([]string{"smtp", "pop3"}, "smtp.dmarc_reject=true")
	a.serve([]string{"submission", "pop3"}, "queue.routes=b.test="+b.addrs["smtp"], "queue.poll_interval=100ms")

	msg := outboundMessage("bob@b.test", "signed hello")
	submit(t, a.addrs["submission"], "alice@a.test", "alice@a.test", []string{"bob@b.test"}, msg)
	var got []string
	eventually(t, "the message in bob's INBOX on B", func() bool {
		got = popMessages(t, b.addrs["pop3"], "bob@b.test")
		return len(got) > 0
	})
	m := got[0]
	for _, want := range []string{
		"DKIM-Signature: a=ed25519-sha256;", "d=a.test;", "s=e2e;",
		"Authentication-Results: mail.b.test;", "spf=pass smtp.mailfrom=alice@a.test",
		"dkim=pass header.d=a.test", "dmarc=pass header.from=a.test",
		"Subject: signed hello", "\r\n\r\nHello from A.\r\n.A line with a leading dot.\r\n",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("message on B lacks %q:\n%s", want, m)
		}
	}
	eventually(t, "A's queue to empty", func() bool {
		return strings.TrimSpace(a.run("", "-d", a.dir, "queue", "list")) == ""
	})
	// A forgery of a.test from the same host fails DKIM and is refused
	// by B's DMARC check (p=reject, smtp.dmarc_reject=true).
	c, err := smtp.Dial(b.addrs["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	forged := strings.Replace(m, "Hello from A.", "Please pay this invoice.", 1)
	forged = forged[strings.Index(forged, "DKIM-Signature:"):]
	err = c.SendMail("someone@elsewhere.test", []string{"bob@b.test"}, strings.NewReader(forged))
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
		t.Errorf("forged message: %v; want 550 5.7.1", err)
	}
}

// scriptedMX is a go-smtp server playing a remote MX: its rcpt and data
// hooks decide the replies.
type scriptedMX struct {
	addr string
	mu   sync.Mutex
	got  []string // bodies accepted
	rcpt func(n int) error
	data func(n int) error
	nr   int
	nd   int
}

func newScriptedMX(t *testing.T) *scriptedMX {
	t.Helper()
	s := &scriptedMX{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mxSession{s: s}, nil }))
	srv.Domain = "mx.remote.test"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *scriptedMX) accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

type mxSession struct{ s *scriptedMX }

func (m *mxSession) Reset()                               {}
func (m *mxSession) Logout() error                        { return nil }
func (m *mxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (m *mxSession) Rcpt(string, *smtp.RcptOptions) error {
	m.s.mu.Lock()
	m.s.nr++
	n, hook := m.s.nr, m.s.rcpt
	m.s.mu.Unlock()
	if hook != nil {
		return hook(n)
	}
	return nil
}

func (m *mxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.s.mu.Lock()
	m.s.nd++
	n, hook := m.s.nd, m.s.data
	m.s.mu.Unlock()
	if hook != nil {
		if err := hook(n); err != nil {
			return err
		}
	}
	m.s.mu.Lock()
	m.s.got = append(m.s.got, string(b))
	m.s.mu.Unlock()
	return nil
}

func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestOutboundRetryBounceAndExpiry(t *testing.T) {
	t.Parallel()
	tempMX, rejectMX := newScriptedMX(t), newScriptedMX(t)
	tempMX.rcpt = func(n int) error {
		if n == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted, try later"}
		}
		return nil
	}
	rejectMX.rcpt = func(int) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	a := newInstance(t, "a.test")
	a.addUser("alice@a.test", outboundPass)
	routes := fmt.Sprintf("temp.test=%s, reject.test=%s, down.test=%s", tempMX.addr, rejectMX.addr, closedAddr(t))
	a.serve([]string{"submission", "pop3"}, "queue.routes="+routes, "queue.poll_interval=100ms",
		"queue.retry_base=200ms", "queue.retry_max=500ms", "queue.lifetime=4s")
	sub := a.addrs["submission"]
	submit(t, sub, "alice@a.test", "alice@a.test", []string{"x@temp.test"}, outboundMessage("x@temp.test", "greylisted"))
	submit(t, sub, "alice@a.test", "alice@a.test", []string{"nobody@reject.test"}, outboundMessage("nobody@reject.test", "rejected"))
	submit(t, sub, "alice@a.test", "alice@a.test", []string{"y@down.test"}, outboundMessage("y@down.test", "expired"))

	eventually(t, "the greylisted message delivered on retry", func() bool { return tempMX.accepted() == 1 })
	var inbox []string
	eventually(t, "two bounces in alice's INBOX", func() bool {
		inbox = popMessages(t, a.addrs["pop3"], "alice@a.test")
		return len(inbox) >= 2
	})
	var rejected, expired string
	for _, m := range inbox {
		switch {
		case strings.Contains(m, "nobody@reject.test"):
			rejected = m
		case strings.Contains(m, "y@down.test"):
			expired = m
		}
	}
	for _, want := range []string{"Return-Path: <>", "report-type=delivery-status", "Final-Recipient: rfc822; nobody@reject.test",
		"Action: failed", "Status: 5.1.1", "Diagnostic-Code: smtp; 550 5.1.1 no such user", "Subject: rejected"} {
		if !strings.Contains(rejected, want) {
			t.Errorf("5xx bounce lacks %q:\n%s", want, rejected)
		}
	}
	for _, want := range []string{"Final-Recipient: rfc822; y@down.test", "Status: 4.4.7", "delivery time expired", "Subject: expired"} {
		if !strings.Contains(expired, want) {
			t.Errorf("expiry bounce lacks %q:\n%s", want, expired)
		}
	}
	if strings.Contains(strings.Join(inbox, ""), "x@temp.test") {
		t.Errorf("the greylisted message was bounced")
	}
	eventually(t, "A's queue to empty", func() bool {
		return strings.TrimSpace(a.run("", "-d", a.dir, "queue", "list")) == ""
	})
}

// TestOutboundSurvivesKill9: serve is killed while the remote server
// holds the end of DATA; that attempt never got its 250. After a restart
// the message goes out: delivered, not lost.
func TestOutboundSurvivesKill9(t *testing.T) {
	t.Parallel()
	mx := newScriptedMX(t)
	inData := make(chan struct{})
	release := make(chan struct{})
	mx.data = func(n int) error {
		if n == 1 {
			close(inData)
			<-release
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "connection lost"}
		}
		return nil
	}
	a := newInstance(t, "a.test")
	a.addUser("alice@a.test", outboundPass)
	opts := []string{"queue.routes=far.test=" + mx.addr, "queue.poll_interval=100ms", "queue.attempt_timeout=2s"}
	a.serve([]string{"submission"}, opts...)
	submit(t, a.addrs["submission"], "alice@a.test", "alice@a.test", []string{"z@far.test"}, outboundMessage("z@far.test", "crash"))
	select {
	case <-inData:
	case <-time.After(60 * time.Second):
		t.Fatal("delivery never reached DATA")
	}
	a.kill9()
	close(release)
	if mx.accepted() != 0 {
		t.Fatal("the interrupted attempt was accepted")
	}
	if list := a.run("", "-d", a.dir, "queue", "list"); !strings.Contains(list, "<z@far.test>") {
		t.Fatalf("message not on the queue after kill -9: %q", list)
	}
	a.serve([]string{"submission"}, opts...)
	eventually(t, "delivery after the restart", func() bool { return mx.accepted() >= 1 })
	eventually(t, "A's queue to empty", func() bool {
		return strings.TrimSpace(a.run("", "-d", a.dir, "queue", "list")) == ""
	})
}

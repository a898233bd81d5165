package smtp

import (
	"context"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

const testMsg = "From: bob@remote.example\r\nTo: alice@example.org\r\nSubject: hi\r\n\r\nHello.\r\n.leading dot\r\n"

func TestMXDeliversToLocalUser(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial(ModeMX)
	for _, ext := range []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "STARTTLS", "SMTPUTF8", "CHUNKING", "DSN"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("EHLO lacks %s", ext)
		}
	}
	if _, param := c.Extension("SIZE"); param != "52428800" {
		t.Errorf("SIZE %q, want the configured limit", param)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("MX offers AUTH")
	}
	if err := send(c, "bob@remote.example", []string{"Alice+news@Example.org"}, testMsg); err != nil {
		t.Fatal(err)
	}
	got := e.inbox("alice@example.org")
	if len(got) != 1 {
		t.Fatalf("alice has %d messages", len(got))
	}
	m := got[0]
	if !strings.HasPrefix(m, "Return-Path: <bob@remote.example>\r\nReceived: from client.example ([127.0.0.1])\r\n\tby mx.example.org (Pochta) with ESMTP id ") ||
		!strings.Contains(m, "\r\n\tfor <Alice+news@Example.org>;") || !strings.HasSuffix(m, "\r\n"+testMsg) {
		t.Errorf("stored message:\n%s", m)
	}
}

func TestMXIsNotAnOpenRelay(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial(ModeMX)
	if err := c.Mail("spammer@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "RCPT to a remote domain", c.Rcpt("victim@remote.example", nil), 550, "5.7.1")
	wantCode(t, "RCPT to an unknown local user", c.Rcpt("nobody@example.org", nil), 550, "5.1.1")
	// Authenticating does not exist on the MX port, so it cannot open it.
	r := e.raw(ModeMX)
	r.send("EHLO x\r\n")
	r.expect("250 ")
	r.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldCBwYXNzd29yZA==\r\n")
	r.expect("503 5.5.1")
	r.send("MAIL FROM:<alice@example.org>\r\nRCPT TO:<victim@remote.example>\r\n")
	r.expect("250 ")
	r.expect("550 5.7.1")
	q, _ := e.st.QueuedMessages(context.Background())
	if len(q) != 0 {
		t.Errorf("queue holds %d messages", len(q))
	}
}

func TestSizeLimit(t *testing.T) {
	e := newEnv(t, envOptions{configure: func(s *Server) { s.MaxMessageSize = 1000 }})
	c := e.dial(ModeMX)
	wantCode(t, "MAIL with SIZE over the limit", c.Mail("a@remote.example", &gosmtp.MailOptions{Size: 1001}), 552, "5.3.4")
	err := send(c, "a@remote.example", []string{"alice@example.org"}, strings.Repeat("x", 1200))
	wantCode(t, "undeclared large DATA", err, 552, "5.3.4")
	// The session goes on, and a message within the limit passes.
	if err := send(c, "a@remote.example", []string{"alice@example.org"}, strings.Repeat("y", 990)+"\r\n"); err != nil {
		t.Fatal(err)
	}
	// BDAT too.
	r := e.raw(ModeMX)
	r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\n")
	r.expect("250 ")
	r.expect("250 ")
	r.expect("250 ")
	r.send("BDAT 1200 LAST\r\n" + strings.Repeat("z", 1200))
	r.expect("552 5.3.4")
	if got := e.inbox("alice@example.org"); len(got) != 1 || !strings.HasSuffix(got[0], "y\r\n") {
		t.Errorf("alice has %d messages, want only the one within the limit", len(got))
	}
}

func TestMaxRecipients(t *testing.T) {
	e := newEnv(t, envOptions{configure: func(s *Server) { s.MaxRecipients = 2 }})
	c := e.dial(ModeMX)
	if err := c.Mail("a@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"alice@example.org", "bob@example.org"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, "third RCPT", c.Rcpt("carol@other.example", nil), 452, "4.5.3")
}

func TestPipelinedTransactions(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(ModeMX)
	// Two whole transactions in one write (RFC 2920): the replies come in
	// order, one per command.
	r.send("EHLO client.example\r\n" +
		"MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n" +
		"Subject: one\r\n\r\nfirst\r\n.\r\n" +
		"MAIL FROM:<a@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n" +
		"Subject: two\r\n\r\nsecond\r\n.\r\nQUIT\r\n")
	for _, want := range []string{"250 ", "250 ", "250 ", "550 5.1.1", "250 ", "354 ", "250 2.0.0", "250 ", "250 ", "354 ", "250 2.0.0", "221 "} {
		r.expect(want)
	}
	if got := e.inbox("alice@example.org"); len(got) != 1 || !strings.HasSuffix(got[0], "\r\n\r\nfirst\r\n") {
		t.Errorf("alice: %q", got)
	}
	if got := e.inbox("bob@example.org"); len(got) != 2 || !strings.HasSuffix(got[1], "\r\n\r\nsecond\r\n") {
		t.Errorf("bob: %q", got)
	}
}

func TestBDAT(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(ModeMX)
	r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\n")
	r.expect("250 ")
	r.expect("250 ")
	r.expect("250 ")
	part1 := "Subject: chunked\r\n\r\n.not stuffed in BDAT\r\n"
	part2 := "second chunk\r\n"
	r.send("BDAT " + itoa(len(part1)) + "\r\n" + part1)
	r.expect("250 ")
	r.send("BDAT " + itoa(len(part2)) + " LAST\r\n" + part2)
	r.expect("250 2.0.0")
	got := e.inbox("alice@example.org")
	if len(got) != 1 || !strings.HasSuffix(got[0], "\r\n"+part1+part2) {
		t.Errorf("stored %q", got)
	}
}

func TestBareLF(t *testing.T) {
	for _, reject := range []bool{false, true} {
		e := newEnv(t, envOptions{configure: func(s *Server) { s.RejectBareLF = reject }})
		r := e.raw(ModeMX)
		r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
		for _, want := range []string{"250 ", "250 ", "250 ", "354 "} {
			r.expect(want)
		}
		// "\n.\n" must not end the data (SMTP smuggling): only CRLF.CRLF does.
		r.send("Subject: lf\r\n\r\nbare\n.\nMAIL FROM:<smuggled@x>\r\nstill data\n..stuffed after LF\r\n.\r\n")
		if reject {
			r.expect("550 5.5.2")
			if got := e.inbox("alice@example.org"); len(got) != 0 {
				t.Errorf("reject: stored %q", got)
			}
			continue
		}
		r.expect("250 2.0.0")
		// Lines ending in a bare LF are lines: their leading dot is
		// unstuffed, as after CRLF (a lone "." line becomes empty, as in
		// Postfix), but they never end the data.
		if got := e.inbox("alice@example.org"); len(got) != 1 || !strings.HasSuffix(got[0], "bare\r\n\r\nMAIL FROM:<smuggled@x>\r\nstill data\r\n.stuffed after LF\r\n") {
			t.Errorf("normalize: stored %q", got)
		}
	}
}

func TestTooManyErrors(t *testing.T) {
	e := newEnv(t, envOptions{configure: func(s *Server) { s.MaxErrors = 3 }})
	r := e.raw(ModeMX)
	r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\n")
	r.expect("250 ")
	r.expect("250 ")
	for range 3 {
		r.send("RCPT TO:<nobody@example.org>\r\n")
		r.expect("550 5.1.1")
	}
	r.send("RCPT TO:<nobody@example.org>\r\n")
	r.expect("421 4.7.0")
	if line, err := r.r.ReadString('\n'); err == nil {
		t.Errorf("connection still open after 421, read %q", line)
	}
}

func TestQuotaAtRCPT(t *testing.T) {
	e := newEnv(t, envOptions{})
	if err := e.st.SetQuota(context.Background(), "alice@example.org", 100); err != nil {
		t.Fatal(err)
	}
	c := e.dial(ModeMX)
	if err := c.Mail("a@remote.example", &gosmtp.MailOptions{Size: 500}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "RCPT over quota (declared SIZE)", c.Rcpt("alice@example.org", nil), 452, "4.2.2")
	c.Reset()
	// Undeclared: found when the message is stored.
	wantCode(t, "DATA over quota", send(c, "a@remote.example", []string{"alice@example.org"}, strings.Repeat("q", 500)), 452, "4.2.2")
	e2 := newEnv(t, envOptions{configure: func(s *Server) { s.QuotaPermanent = true }})
	e2.st.SetQuota(context.Background(), "alice@example.org", 100)
	c2 := e2.dial(ModeMX)
	wantCode(t, "DATA over quota (permanent)", send(c2, "a@remote.example", []string{"alice@example.org"}, strings.Repeat("q", 500)), 552, "5.2.2")
}

func TestInterruptedDataStoresNothing(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(ModeMX)
	r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
	for _, want := range []string{"250 ", "250 ", "250 ", "354 "} {
		r.expect(want)
	}
	r.send("Subject: cut\r\n\r\n" + strings.Repeat("half a message\r\n", 10000))
	r.c.Close()
	e.wg.Wait() // wait for nothing: the session ends when the read fails
	if got := e.inbox("alice@example.org"); len(got) != 0 {
		t.Errorf("interrupted message stored: %d", len(got))
	}
}

func TestHELOAndCommandTimeout(t *testing.T) {
	e := newEnv(t, envOptions{configure: func(s *Server) { s.CommandTimeout = 300 * time.Millisecond }})
	r := e.raw(ModeMX)
	r.send("HELO old.example\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
	for _, want := range []string{"250 ", "250 ", "250 ", "354 "} {
		r.expect(want)
	}
	r.send("Subject: helo\r\n\r\nx\r\n.\r\n")
	r.expect("250 ")
	if got := e.inbox("alice@example.org"); len(got) != 1 || !strings.Contains(got[0], " with SMTP id ") {
		t.Errorf("HELO transaction stored %q, want a Received field 'with SMTP'", got)
	}
	// An idle client is told why it is dropped (RFC 5321 section 4.5.3.2.7).
	r.expect("421 4.4.2")
}

func TestLineLength(t *testing.T) {
	long := "Subject: long\r\n\r\n" + strings.Repeat("x", 5000) + "\r\n"
	e := newEnv(t, envOptions{})
	if err := send(e.dial(ModeMX), "a@remote.example", []string{"alice@example.org"}, long); err != nil {
		t.Errorf("a 5000-octet line with the default limit: %v", err)
	}
	e2 := newEnv(t, envOptions{configure: func(s *Server) { s.MaxLineLength = 1000 }})
	r := e2.raw(ModeMX)
	r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
	for _, want := range []string{"250 ", "250 ", "250 ", "354 "} {
		r.expect(want)
	}
	r.send(long + ".\r\n")
	r.expect("500 5.4.0")
	if got := e2.inbox("alice@example.org"); len(got) != 0 {
		t.Errorf("over-long line stored: %d messages", len(got))
	}
}

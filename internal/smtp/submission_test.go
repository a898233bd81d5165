package smtp

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

func TestSubmissionRequiresAuth(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial(ModeSubmission)
	wantCode(t, "MAIL without AUTH", c.Mail("alice@example.org", nil), 530, "5.7.0")
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.org", "wrong")); err == nil {
		t.Fatal("wrong password accepted")
	} else {
		wantCode(t, "AUTH with a wrong password", err, 535, "5.7.8")
	}
}

func TestSubmissionSenderMustBeOwned(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.submit("alice@example.org")
	wantCode(t, "MAIL FROM someone else", c.Mail("bob@example.org", nil), 553, "5.7.1")
	wantCode(t, "MAIL FROM a remote address", c.Mail("ceo@remote.example", nil), 553, "5.7.1")
	wantCode(t, "MAIL FROM <>", c.Mail("", nil), 553, "5.7.1")
	// Her own address, a plus-address and an alias of hers are fine.
	for _, from := range []string{"alice@example.org", "Alice+x@example.org", "sales@example.org"} {
		if err := send(c, from, []string{"bob@example.org"}, "Subject: "+from+"\r\n\r\nhi\r\n"); err != nil {
			t.Errorf("sending as %s: %v", from, err)
		}
	}
	got := e.inbox("bob@example.org")
	if len(got) != 3 {
		t.Fatalf("bob has %d messages", len(got))
	}
	// RFC 3848 ESMTPSA, the TLS parameters and the authenticated user.
	for _, want := range []string{"Return-Path: <alice@example.org>\r\n", "\r\n\t(using TLSv1.3 with cipher TLS_",
		"\r\n\t(Authenticated sender: alice@example.org)\r\n", " with ESMTPSA id "} {
		if !strings.Contains(got[0], want) {
			t.Errorf("stored message lacks %q:\n%s", want, got[0])
		}
	}
}

func TestSubmissionQueuesRemoteRecipients(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.submit("alice@example.org")
	if err := c.Mail("alice@example.org", &gosmtp.MailOptions{Return: gosmtp.DSNReturnHeaders, EnvelopeID: "env42"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("friend@remote.example", &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyFailure}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@example.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: out\r\n\r\nto the world\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	q, err := e.st.QueuedMessages(context.Background())
	if err != nil || len(q) != 1 {
		t.Fatalf("queue: %+v, %v", q, err)
	}
	env := q[0].Envelope
	if env.From != "alice@example.org" || len(env.Recipients) != 1 || env.Recipients[0].Address != "friend@remote.example" ||
		env.Recipients[0].Notify != "FAILURE" || env.DSNReturn != "HDRS" || env.DSNEnvelopeID != "env42" {
		t.Errorf("queued envelope: %+v", env)
	}
	if got := e.inbox("bob@example.org"); len(got) != 1 || !strings.HasPrefix(got[0], "Return-Path: <alice@example.org>\r\n") {
		t.Errorf("local copy: %q", got)
	}
}

func TestPlaintextAuthNeedsTLS(t *testing.T) {
	e := newEnv(t, envOptions{remote: true})
	c := e.dial(ModeSubmission)
	ok, mechs := c.Extension("AUTH")
	if !ok || mechs != "SCRAM-SHA-256" {
		t.Errorf("AUTH on a plain non-loopback connection: %v %q, want only SCRAM-SHA-256", ok, mechs)
	}
	wantCode(t, "AUTH PLAIN without TLS", c.Auth(sasl.NewPlainClient("", "alice@example.org", testPass)), 538, "5.7.11")
	// After STARTTLS, PLAIN is offered and works.
	s := e.dialTLS(e.addr[ModeSubmission], false)
	if _, mechs := s.Extension("AUTH"); !slices.Contains(strings.Fields(mechs), "PLAIN") {
		t.Errorf("AUTH after STARTTLS: %q", mechs)
	}
	if err := s.Auth(sasl.NewPlainClient("", "alice@example.org", testPass)); err != nil {
		t.Errorf("AUTH PLAIN after STARTTLS: %v", err)
	}
	// Implicit TLS (port 465) too, with LOGIN.
	i := e.dialTLS(e.tlsAd, true)
	if err := i.Auth(sasl.NewLoginClient("alice@example.org", testPass)); err != nil {
		t.Errorf("AUTH LOGIN on implicit TLS: %v", err)
	}
	if err := send(i, "alice@example.org", []string{"bob@example.org"}, "Subject: 465\r\n\r\nx\r\n"); err != nil {
		t.Error(err)
	}
}

func TestSTARTTLSDropsPipelinedCommands(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(ModeSubmission)
	r.send("EHLO x\r\n")
	r.expect("250 ")
	// A command injected after STARTTLS, in clear text, must not run.
	r.send("STARTTLS\r\nMAIL FROM:<alice@example.org>\r\n")
	r.expect("220 ")
	// go-smtp starts the handshake: whatever it makes of the injected
	// bytes, no MAIL reply may come back in clear text.
	r.c.SetReadDeadline(timeNowPlus(500))
	if line, err := r.r.ReadString('\n'); err == nil && strings.HasPrefix(line, "250") {
		t.Errorf("injected command answered: %q", line)
	}
}

// RFC 6409 8.2, 8.3: submission completes a message without Message-ID
// or Date (before the queue signs it); one that has them, and any
// message on the MX port, is stored as sent.
func TestSubmissionAddsMessageIDAndDate(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.submit("alice@example.org")
	bare := "From: alice@example.org\r\nSubject: no id\r\n\r\nbody\r\n"
	if err := send(c, "alice@example.org", []string{"bob@example.org"}, bare); err != nil {
		t.Fatal(err)
	}
	complete := "From: alice@example.org\r\nDate: Mon, 05 Jan 2026 10:00:00 +0000\r\nMessage-ID: <given@example.org>\r\n\r\nbody\r\n"
	if err := send(c, "alice@example.org", []string{"bob@example.org"}, complete); err != nil {
		t.Fatal(err)
	}
	mx := e.dial(ModeMX)
	if err := send(mx, "someone@remote.example", []string{"bob@example.org"}, bare); err != nil {
		t.Fatal(err)
	}
	got := e.inbox("bob@example.org")
	if len(got) != 3 {
		t.Fatalf("bob has %d messages, want 3", len(got))
	}
	added := regexp.MustCompile(`\r\nSubject: no id\r\nMessage-ID: <\d{14}\.[0-9A-F]{16}@` + regexp.QuoteMeta(testHost) +
		`>\r\nDate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n\r\nbody\r\n$`)
	if !added.MatchString(got[0]) {
		t.Errorf("submitted message without Message-ID and Date stored as:\n%s", got[0])
	}
	if !strings.HasSuffix(got[1], "\r\n"+complete) || strings.Count(got[1], "Message-ID:") != 1 {
		t.Errorf("complete message changed:\n%s", got[1])
	}
	if !strings.HasSuffix(got[2], "\r\n"+bare) || strings.Contains(got[2], "Message-ID:") || strings.Contains(got[2], "\r\nDate:") {
		t.Errorf("MX message changed:\n%s", got[2])
	}
}

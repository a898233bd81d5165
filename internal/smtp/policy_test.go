package smtp

import (
	"fmt"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// Submission refuses a From: header naming someone else (issue 10:
// From: bob@ from alice was accepted), accepts her own addresses.
func TestSubmissionFromHeaderMustBeOwned(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.submit("alice@example.org")
	for _, from := range []string{"bob@example.org", "Alice <alice@example.org>, Bob <bob@example.org>", "ceo@remote.example"} {
		err := send(c, "alice@example.org", []string{"bob@example.org"}, "From: "+from+"\r\nSubject: forged\r\n\r\nhi\r\n")
		wantCode(t, "From: "+from, err, 550, "5.7.1")
	}
	wantCode(t, "unparsable From:", send(c, "alice@example.org", []string{"bob@example.org"}, "From: <<<\r\n\r\nhi\r\n"), 550, "5.6.0")
	for _, from := range []string{"Alice <alice@example.org>", "alice+list@example.org", "Sales <sales@example.org>"} {
		if err := send(c, "alice@example.org", []string{"bob@example.org"}, "From: "+from+"\r\nSubject: ok\r\n\r\nhi\r\n"); err != nil {
			t.Errorf("From: %s: %v", from, err)
		}
	}
	if got := e.inbox("bob@example.org"); len(got) != 3 {
		t.Errorf("bob has %d messages, want 3", len(got))
	}
	// smtp.from_policy = any.
	e2 := newEnv(t, envOptions{configure: func(s *Server) { s.FromAny = true }})
	if err := send(e2.submit("alice@example.org"), "alice@example.org", []string{"bob@example.org"}, "From: bob@example.org\r\n\r\nhi\r\n"); err != nil {
		t.Errorf("from_policy any: %v", err)
	}
}

// An account past its recipients per hour gets 451 4.7.1 at RCPT, in
// this session and the next (issue 10: ten 100-recipient transactions
// went out).
func TestSubmissionSendingLimit(t *testing.T) {
	e := newEnv(t, envOptions{configure: func(s *Server) { s.RecipientsPerHour = 5 }})
	c := e.submit("alice@example.org")
	rcpts := []string{"bob@example.org", "friend1@remote.example", "friend2@remote.example"}
	if err := send(c, "alice@example.org", rcpts, "Subject: one\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	for i, to := range []string{"a@remote.example", "b@remote.example", "c@remote.example"} {
		err := c.Rcpt(to, nil)
		if i < 2 && err != nil {
			t.Fatalf("recipient %d within the limit: %v", 4+i, err)
		}
		if i == 2 {
			wantCode(t, "6th recipient in the hour", err, 451, "4.7.1")
		}
	}
	c.Reset()
	c2 := e.submit("alice@example.org")
	if err := c2.Mail("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"x@remote.example", "y@remote.example"} {
		if err := c2.Rcpt(to, nil); err != nil {
			t.Fatalf("within limit in a new session: %v", err)
		}
	}
	wantCode(t, "past the limit in a new session", c2.Rcpt("z@remote.example", nil), 451, "4.7.1")
	// Another account has its own budget.
	if err := send(e.submit("bob@example.org"), "bob@example.org", []string{"alice@example.org"}, "Subject: bob\r\n\r\nhi\r\n"); err != nil {
		t.Errorf("bob: %v", err)
	}
}

// The sending limit is counted in the store, not in the server process
// (issue 10): what an account sent before a restart, or through another
// server on the same database, counts against it.
func TestSendingLimitOutlivesRestart(t *testing.T) {
	dir := t.TempDir()
	limit := func(s *Server) { s.RecipientsPerHour = 5 }
	e := newEnv(t, envOptions{dir: dir, configure: limit})
	rcpts := []string{"bob@example.org", "friend1@remote.example", "friend2@remote.example"}
	if err := send(e.submit("alice@example.org"), "alice@example.org", rcpts, "Subject: one\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	e.stop()

	// A restart: a new server and a new store handle on the same data.
	e = newEnv(t, envOptions{dir: dir, configure: limit})
	// And another server beside it on the same database (a second node).
	other := newEnv(t, envOptions{dir: dir, configure: limit})
	c2 := other.submit("alice@example.org")
	if err := send(c2, "alice@example.org", []string{"a@remote.example", "b@remote.example"}, "Subject: two\r\n\r\nhi\r\n"); err != nil {
		t.Fatalf("4th and 5th recipients, through the other server: %v", err)
	}
	c3 := e.submit("alice@example.org")
	if err := c3.Mail("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "6th recipient in the hour, after a restart and through another server", c3.Rcpt("c@remote.example", nil), 451, "4.7.1")
}

// Sessions of one account that pass RCPT at once cannot together send
// past the limit: the count is checked again, atomically with adding to
// it, when the message is accepted. Here two sessions each get three
// recipients past RCPT (nothing sent yet); with a limit of five, the
// second to finish DATA is refused and its recipients are not counted.
func TestSendingLimitConcurrentSessions(t *testing.T) {
	e := newEnv(t, envOptions{configure: func(s *Server) { s.RecipientsPerHour = 5 }})
	var clients []*gosmtp.Client
	for i := range 2 {
		c := e.submit("alice@example.org")
		if err := c.Mail("alice@example.org", nil); err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			if err := c.Rcpt(fmt.Sprintf("s%dr%d@remote.example", i, j), nil); err != nil {
				t.Fatalf("session %d, recipient %d: %v", i, j, err)
			}
		}
		clients = append(clients, c)
	}
	data := func(c *gosmtp.Client) error {
		w, err := c.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte("Subject: hi\r\n\r\nhi\r\n")); err != nil {
			return err
		}
		return w.Close()
	}
	if err := data(clients[0]); err != nil {
		t.Fatalf("first session's message: %v", err)
	}
	wantCode(t, "second session's message, 6 recipients in the hour", data(clients[1]), 451, "4.7.1")
	// Refused, so not counted: two more recipients are still within five.
	c := e.submit("alice@example.org")
	if err := send(c, "alice@example.org", []string{"x@remote.example", "y@remote.example"}, "Subject: two\r\n\r\nhi\r\n"); err != nil {
		t.Errorf("4th and 5th recipients: %v", err)
	}
}

// A message refused after its recipients were counted (here: too large,
// found while reading it) gives them back.
func TestSendingLimitRefusedMessageNotCounted(t *testing.T) {
	e := newEnv(t, envOptions{configure: func(s *Server) { s.RecipientsPerHour = 3; s.MaxMessageSize = 1000 }})
	rcpts := []string{"a@remote.example", "b@remote.example", "c@remote.example"}
	big := "Subject: big\r\n\r\n" + strings.Repeat("x", 2000) + "\r\n"
	wantCode(t, "a message over the size limit", send(e.submit("alice@example.org"), "alice@example.org", rcpts, big), 552, "5.3.4")
	if err := send(e.submit("alice@example.org"), "alice@example.org", rcpts, "Subject: small\r\n\r\nhi\r\n"); err != nil {
		t.Errorf("three recipients after a refused message: %v", err)
	}
}

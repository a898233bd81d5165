package smtp

import (
	"testing"
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

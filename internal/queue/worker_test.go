package queue

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/resolver"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// fixture is a real SQLite store with a local domain a.test and its user
// alice, a Static resolver in which remote.test's MX is the sink, and a
// worker with quick retries.
type fixture struct {
	st    *sqlite.Store
	res   *resolver.Static
	w     *Worker
	alice store.Account
}

const testMessage = "From: alice@a.test\r\nTo: bob@remote.test\r\nSubject: hello there\r\n\r\nbody line\r\n.leading dot\r\n"

func newFixture(t testing.TB, s *sink) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "a.test"); err != nil {
		t.Fatal(err)
	}
	alice, err := st.CreateAccount(ctx, "alice@a.test", store.Credentials{PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	res := resolver.NewStatic()
	for _, r := range [][3]string{
		{"remote.test", "MX", "10 mx.remote.test"},
		{"mx.remote.test", "A", "127.0.0.1"},
		{"other.test", "MX", "10 mx.remote.test"},
	} {
		if err := res.Add(r[0], r[1], r[2]); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{st: st, res: res, alice: alice}
	if testing.Verbose() {
		defer func() { f.w.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil)) }()
	}
	f.w = &Worker{
		Queue: st, Resolver: res, Hostname: "mail.a.test",
		Bouncer:   &StoreBouncer{Directory: st, Store: st},
		RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		PollInterval: 10 * time.Millisecond, CommandTimeout: 10 * time.Second,
	}
	if s != nil {
		f.w.RemotePort = s.addr.Port
	}
	return f
}

// submit queues testMessage from a sender to remote recipients.
func (f *fixture) submit(t *testing.T, from string, rcpts ...string) {
	t.Helper()
	env := &store.Envelope{From: from}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, store.QueueRecipient{Address: r})
	}
	if err := f.st.Deliver(context.Background(), store.Delivery{Body: strings.NewReader(testMessage), Outbound: env}); err != nil {
		t.Fatal(err)
	}
}

// start runs the worker until the test ends.
func (f *fixture) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (f *fixture) queueLen(t *testing.T) int {
	t.Helper()
	q, err := f.st.QueuedMessages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(q)
}

// inbox returns the bodies in an account's INBOX.
func (f *fixture) inbox(t *testing.T, a store.Account) []string {
	t.Helper()
	ctx := context.Background()
	m, err := f.st.OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var out []string
	for _, msg := range m.Messages() {
		r, err := m.Body(ctx, msg.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		out = append(out, string(b))
	}
	return out
}

// waitFor polls cond until it holds; a generous bound only keeps a
// broken test from hanging (nothing here asserts speed).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeliverThroughMX(t *testing.T) {
	s := newSink(t, false)
	f := newFixture(t, s)
	f.submit(t, "alice@a.test", "bob@remote.test", "carol@remote.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	msgs := s.messages()
	if len(msgs) != 1 {
		t.Fatalf("sink got %d messages, want 1 (both recipients in one transaction)", len(msgs))
	}
	m := msgs[0]
	if m.from != "alice@a.test" || strings.Join(m.to, ",") != "bob@remote.test,carol@remote.test" {
		t.Errorf("envelope = %s -> %v", m.from, m.to)
	}
	if m.body != testMessage {
		t.Errorf("body = %q, want %q (dot-stuffing undone)", m.body, testMessage)
	}
	if s.mailArgs[0].Body != "8BITMIME" || s.mailArgs[0].Size != int64(len(testMessage)) {
		t.Errorf("MAIL parameters = %+v; want BODY=8BITMIME and SIZE", s.mailArgs[0])
	}
	if len(f.inbox(t, f.alice)) != 0 {
		t.Errorf("a bounce arrived for a delivered message")
	}
}

func TestTemporaryFailureRetried(t *testing.T) {
	s := newSink(t, false)
	s.rcpt = func(addr string, n int) error {
		if n <= 2 {
			return smtpErr(451, "4.3.0", "try later")
		}
		return nil
	}
	f := newFixture(t, s)
	f.submit(t, "alice@a.test", "bob@remote.test")
	f.start(t)
	waitFor(t, "delivery after two deferrals", func() bool { return f.queueLen(t) == 0 })
	if n := s.count("bob@remote.test"); n != 1 {
		t.Errorf("bob received %d copies, want 1", n)
	}
	if b := f.inbox(t, f.alice); len(b) != 0 {
		t.Errorf("temporary failures bounced: %q", b)
	}
}

func TestPartialSuccessNotResent(t *testing.T) {
	s := newSink(t, false)
	s.rcpt = func(addr string, n int) error {
		if addr == "slow@remote.test" && n < 4 {
			return smtpErr(452, "4.2.2", "mailbox full, try later")
		}
		return nil
	}
	f := newFixture(t, s)
	f.submit(t, "alice@a.test", "fast@remote.test", "slow@remote.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if n := s.count("fast@remote.test"); n != 1 {
		t.Errorf("fast@ received %d copies, want exactly 1 (accepted recipients are not resent)", n)
	}
	if n := s.count("slow@remote.test"); n != 1 {
		t.Errorf("slow@ received %d copies, want 1", n)
	}
}

func TestPermanentFailureBounces(t *testing.T) {
	s := newSink(t, false)
	s.rcpt = func(addr string, n int) error {
		if addr == "nobody@remote.test" {
			return smtpErr(550, "5.1.1", "no such user")
		}
		return nil
	}
	f := newFixture(t, s)
	f.submit(t, "alice@a.test", "bob@remote.test", "nobody@remote.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if n := s.count("bob@remote.test"); n != 1 {
		t.Errorf("bob received %d copies, want 1", n)
	}
	inbox := f.inbox(t, f.alice)
	if len(inbox) != 1 {
		t.Fatalf("alice has %d messages, want one bounce", len(inbox))
	}
	dsn := inbox[0]
	for _, want := range []string{
		"Content-Type: multipart/report; report-type=delivery-status",
		"Content-Type: message/delivery-status",
		"Reporting-MTA: dns; mail.a.test",
		"Final-Recipient: rfc822; nobody@remote.test",
		"Action: failed",
		"Status: 5.1.1",
		"Diagnostic-Code: smtp; 550 5.1.1 no such user",
		"Content-Type: text/rfc822-headers",
		"Subject: hello there",
		"Auto-Submitted: auto-replied",
	} {
		if !strings.Contains(dsn, want) {
			t.Errorf("bounce lacks %q:\n%s", want, dsn)
		}
	}
	if strings.Contains(dsn, "bob@remote.test") && strings.Contains(dsn, "Final-Recipient: rfc822; bob@") {
		t.Errorf("bounce reports the delivered recipient")
	}
	if strings.Contains(dsn, "body line") {
		t.Errorf("bounce carries the body without RET=FULL")
	}
}

func TestNullSenderNeverBounced(t *testing.T) {
	s := newSink(t, false)
	s.rcpt = func(string, int) error { return smtpErr(550, "5.1.1", "no such user") }
	f := newFixture(t, s)
	f.submit(t, "", "nobody@remote.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if b := f.inbox(t, f.alice); len(b) != 0 {
		t.Errorf("a bounce was bounced: %q", b)
	}
}

func TestExpiryBounces(t *testing.T) {
	f := newFixture(t, nil)
	f.w.RemotePort = closedPort(t)
	f.w.Lifetime = 300 * time.Millisecond
	f.submit(t, "alice@a.test", "bob@remote.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	inbox := f.inbox(t, f.alice)
	if len(inbox) != 1 || !strings.Contains(inbox[0], "Status: 4.4.7") ||
		!strings.Contains(inbox[0], "delivery time expired") {
		t.Fatalf("want one expiry bounce (4.4.7), got %q", inbox)
	}
}

func TestNullMXAndMissingDomain(t *testing.T) {
	f := newFixture(t, nil)
	f.res.Add("null.test", "MX", "0 .")
	f.submit(t, "alice@a.test", "x@null.test", "y@nowhere.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	inbox := f.inbox(t, f.alice)
	if len(inbox) != 1 {
		t.Fatalf("alice has %d messages, want one bounce for both", len(inbox))
	}
	for _, want := range []string{"Status: 5.1.10", "null MX", "Status: 5.1.2", "no MX and no address"} {
		if !strings.Contains(inbox[0], want) {
			t.Errorf("bounce lacks %q:\n%s", want, inbox[0])
		}
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

package queue

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// submitN queues n messages, one recipient each, to remote.test.
func (f *fixture) submitN(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		f.submit(t, "alice@a.test", fmt.Sprintf("u%d@remote.test", i))
	}
}

// TestConnectionReuse: 200 messages to one destination travel over a few
// connections (counted by the receiver), each message once.
func TestConnectionReuse(t *testing.T) {
	s := newSink(t, false)
	f := newFixture(t, s)
	f.w.Workers, f.w.PerDomain = 16, 4
	f.submitN(t, 200)
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	msgs := s.messages()
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.to[0]] {
			t.Errorf("%s received twice", m.to[0])
		}
		seen[m.to[0]] = true
	}
	if len(seen) != 200 {
		t.Errorf("%d distinct recipients received, want 200", len(seen))
	}
	if conns, _ := s.stats(); conns > 8 {
		t.Errorf("200 messages used %d connections, want at most 8 (4 per domain, reused)", conns)
	}
}

// TestConnectionReuseCaps: a connection carries at most MaxConnMessages
// messages and is closed (QUIT) after ConnIdle without work.
func TestConnectionReuseCaps(t *testing.T) {
	s := newSink(t, false)
	f := newFixture(t, s)
	f.w.Workers, f.w.PerDomain = 1, 1
	f.w.MaxConnMessages, f.w.ConnIdle = 3, time.Second
	f.submitN(t, 9)
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	waitFor(t, "the idle connection to be closed", func() bool { _, open := s.stats(); return open == 0 })
	if conns, _ := s.stats(); conns != 3 {
		t.Errorf("9 messages with 3 per connection used %d connections, want 3", conns)
	}
}

// TestStaleConnectionRetried: a pooled connection the receiver closed
// (idle timeout on its side) is noticed at RSET and replaced; the
// message goes out on a new connection.
func TestStaleConnectionRetried(t *testing.T) {
	s := newSink(t, false)
	s.srv.ReadTimeout = 200 * time.Millisecond
	f := newFixture(t, s)
	f.w.Workers, f.w.PerDomain, f.w.ConnIdle = 1, 1, time.Minute
	f.submit(t, "alice@a.test", "first@remote.test")
	f.start(t)
	waitFor(t, "the first message", func() bool { return f.queueLen(t) == 0 })
	waitFor(t, "the receiver to drop the idle connection", func() bool { _, open := s.stats(); return open == 0 })
	f.submit(t, "alice@a.test", "second@remote.test")
	f.w.Kick()
	waitFor(t, "the second message", func() bool { return f.queueLen(t) == 0 })
	if s.count("second@remote.test") != 1 {
		t.Errorf("second message received %d times", s.count("second@remote.test"))
	}
	if conns, _ := s.stats(); conns != 2 {
		t.Errorf("%d connections, want 2", conns)
	}
}

// TestTLSSessionResumption: new connections to a destination resume the
// TLS session of an earlier one.
func TestTLSSessionResumption(t *testing.T) {
	s := newSink(t, true)
	f := newFixture(t, s)
	f.w.Workers, f.w.PerDomain, f.w.MaxConnMessages = 1, 1, 1
	f.submitN(t, 3)
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.resumed) != 3 || s.resumed[0] || !s.resumed[1] || !s.resumed[2] {
		t.Errorf("TLS sessions resumed: %v; want a full handshake, then resumptions", s.resumed)
	}
}

// logBuffer collects a worker's log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogSaysWhatHappened: one log line per recipient with its outcome;
// a message whose every recipient was refused at RCPT is not logged as
// delivered.
func TestLogSaysWhatHappened(t *testing.T) {
	s := newSink(t, false)
	s.rcpt = func(addr string, n int) error {
		switch addr {
		case "nobody@remote.test":
			return smtpErr(550, "5.1.1", "no such user")
		case "later@remote.test":
			return smtpErr(451, "4.3.0", "try later")
		}
		return nil
	}
	f := newFixture(t, s)
	var logs logBuffer
	f.w.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	f.w.RetryBase = time.Hour
	f.submit(t, "alice@a.test", "nobody@remote.test")
	f.submit(t, "alice@a.test", "bob@remote.test", "later@remote.test", "nobody@remote.test")
	f.start(t)
	waitFor(t, "bob's copy and the bounces", func() bool {
		return s.count("bob@remote.test") == 1 && len(f.inbox(t, f.alice)) == 2
	})
	waitFor(t, "the deferral to be logged", func() bool { return strings.Contains(logs.String(), "msg=\"delivery deferred\"") })
	waitFor(t, "the bounced message to leave the queue", func() bool { return f.queueLen(t) == 1 })
	out := logs.String()
	for _, want := range []string{
		`msg="recipient delivered" queue_id=2 domain=remote.test rcpt=bob@remote.test host=`,
		`msg="recipient deferred" queue_id=2 domain=remote.test rcpt=later@remote.test host=`,
		`reply="451 4.3.0 try later"`,
		`msg="recipient failed" queue_id=1 domain=remote.test rcpt=nobody@remote.test host=`,
		`reply="550 5.1.1 no such user"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	// What `pochta queue show` prints is what the log said.
	q, err := f.st.QueuedMessages(context.Background())
	if err != nil || len(q) != 1 {
		t.Fatalf("queue = %+v, %v; want the deferred message", q, err)
	}
	for _, r := range q[0].Envelope.Recipients {
		want := fmt.Sprintf("rcpt=%s host=", r.Address)
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, want) {
				line = l
			}
		}
		if !strings.Contains(line, fmt.Sprintf("reply=%q", r.Reply)) || !strings.Contains(line, "recipient "+map[store.RecipientStatus]string{
			store.RecipientDelivered: "delivered", store.RecipientFailed: "failed", store.RecipientPending: "deferred"}[r.Status]) {
			t.Errorf("queue records %s as %s %q; the log says %s", r.Address, r.Status, r.Reply, line)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "queue_id=1") && strings.Contains(line, "delivered") {
			t.Errorf("a message refused at RCPT logged as delivered: %s", line)
		}
	}
}

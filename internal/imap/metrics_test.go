package imap

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordedMetrics keeps what the server reports (the real collector is
// Prometheus, checked on the real binary in cmd/pochta).
type recordedMetrics struct {
	mu       sync.Mutex
	commands []string
	bytes    int64
	sessions int
	panics   int
}

func (m *recordedMetrics) Command(proto, name string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if proto != "imap" || d < 0 {
		panic("bad metric")
	}
	m.commands = append(m.commands, name)
}

func (m *recordedMetrics) Panicked(string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.panics++
}

func (m *recordedMetrics) BytesSent(proto string, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bytes += n
	m.sessions++
}

// Each command is reported under its table name (not when refused in the
// wrong state); BytesSent is exactly what the client received, reported
// before the connection closes.
func TestMetricsCommandsAndBytes(t *testing.T) {
	m := &recordedMetrics{}
	e := newEnv(t, envOptions{server: func(s *Server) { s.Metrics = m }})
	e.deliver(testUser, testMessage(1), testMessage(2))
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	_, _ = c.Write([]byte("a LOGIN alice@example.com \"correct horse\"\r\nb STARTTLS\r\nc SELECT INBOX\r\n" +
		"d UID FETCH 1:* (FLAGS BODY.PEEK[])\r\ne FETCH 1 FLAGS\r\nf XYZZY\r\ng UID NOOP\r\nh CHECK\r\ni LOGOUT\r\n"))
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(all), "i OK LOGOUT") {
		t.Fatalf("session: %s", all)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	got := strings.Join(m.commands, ",")
	want := "LOGIN,SELECT,UID FETCH,FETCH,unknown,unknown,CHECK,LOGOUT"
	if got != want {
		t.Errorf("commands %s, want %s", got, want)
	}
	if m.sessions != 1 || m.bytes != int64(len(all)) {
		t.Errorf("%d sessions sent %d bytes, the client received %d", m.sessions, m.bytes, len(all))
	}
}

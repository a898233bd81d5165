package pop3

import (
	"context"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/pochta-mail/pochta/internal/store"
)

// The memory tests measure what a flood of idle connections costs, client
// and server side together (heap and stacks). The target is at most 64 KiB
// per idle connection before login. After login a session holds its
// maildrop snapshot (RFC 1939: the message list is fixed for the
// session), which grows with the maildrop; the logged-in test measures it
// for a realistic 1,000-message maildrop and reports the figure:
//
//	go test -run 'TestMemoryPer' -v ./internal/pop3

// TestMemoryPerIdleConnection: idle connections after the greeting.
func TestMemoryPerIdleConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of connections")
	}
	e := newEnv(t, envOptions{}, func(s *Server) { s.Logger = nil })
	const n = 300
	before := liveMemory()
	conns := make([]net.Conn, 0, n)
	var greeting [128]byte
	for range n {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(greeting[:]); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	e.waitActive(n)
	after := liveMemory()
	per := (int64(after) - int64(before)) / n
	t.Logf("memory per idle connection: %d bytes (heap+stacks, both ends)", per)
	if per > 64<<10 {
		t.Errorf("an idle connection costs %d bytes, want at most 64 KiB", per)
	}
	for _, c := range conns {
		c.Close()
	}
}

// TestMemoryPerLoggedInSession: idle sessions in TRANSACTION state, each
// on its own 1,000-message maildrop. The bound is the session's own share:
// 64 KiB plus what the store's snapshot needs for 1,000 messages (a
// store.MaildropMessage and its UIDL each), so growth in the session's
// state fails the test while the store's fixed cost is accounted apart.
func TestMemoryPerLoggedInSession(t *testing.T) {
	if testing.Short() {
		t.Skip("delivers tens of thousands of messages")
	}
	const (
		n        = 20    // sessions, one account each (each costs two argon2id runs)
		messages = 1_000 // per maildrop
	)
	e := newEnv(t, envOptions{}, func(s *Server) { s.Logger = nil })
	users := make([]string, n)
	recipients := make([]store.Recipient, n)
	for i := range users {
		users[i] = "mem" + strconv.Itoa(i) + "@example.com"
		recipients[i].AccountID = e.addUser(users[i], testPass, false).ID
	}
	deliverToAll(t, e, recipients, messages)

	// Warm up: the store's connection pool, the credentials cache and the
	// pools of buffers are server-wide costs, not per session.
	for _, u := range users {
		c := e.loginAs(u)
		c.send("QUIT")
		c.expect("+OK Logging out")
	}
	e.waitIdle()

	before := liveMemory()
	clients := make([]*client, 0, n)
	for _, u := range users {
		c := e.loginAs(u)
		c.send("STAT")
		c.expect("+OK " + strconv.Itoa(messages) + " *")
		clients = append(clients, c)
	}
	after := liveMemory()
	per := (int64(after) - int64(before)) / n
	snapshot := int64(messages) * int64(sizeofMaildropMessage+16) // 16-octet UIDLs
	t.Logf("memory per logged-in idle session, %d-message maildrop: %d bytes (heap+stacks, both ends; the store's snapshot is about %d)",
		messages, per, snapshot)
	if per > 64<<10+snapshot {
		t.Errorf("a logged-in session costs %d bytes, want at most 64 KiB + %d (snapshot)", per, snapshot)
	}
	for _, c := range clients {
		c.conn.Close()
	}
}

const sizeofMaildropMessage = unsafe.Sizeof(store.MaildropMessage{})

// deliverToAll delivers count small messages, each to every recipient,
// from a few goroutines so the store's group commit batches them.
func deliverToAll(t *testing.T, e *env, recipients []store.Recipient, count int) {
	t.Helper()
	const workers = 16
	body := crlf("From: a@example.net\nSubject: memory\n\n" + strings.Repeat("text\n", 20))
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	next := make(chan struct{})
	for range workers {
		wg.Go(func() {
			for range next {
				err := e.store.Deliver(context.Background(), store.Delivery{Recipients: recipients, Body: strings.NewReader(body)})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range count {
		select {
		case next <- struct{}{}:
		case err := <-errs:
			close(next)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func liveMemory() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// TestEndlessLineMemory: a client that sends a line without end (no CRLF,
// as fast as loopback takes it) costs the server its fixed read buffer,
// never the line. The server's reads are counted on its side of the real
// socket; once it has read 32 MiB of the line, live memory (heap and
// stacks, after collection) and what was allocated meanwhile must both be
// far below that: a line kept, or a buffer allocated per read, would show
// the 32 MiB. The line is then ended: it is refused whole and the session
// goes on. Runs before login (where an AUTH line may reach 8 KiB) and
// after.
func TestEndlessLineMemory(t *testing.T) {
	const sent = 32 << 20
	var read atomic.Int64
	reached := make(chan struct{}, 1)
	var target atomic.Int64
	e := newEnv(t, envOptions{wrap: func(c net.Conn) net.Conn {
		return readCounter{Conn: c, n: &read, target: &target, reached: reached}
	}}, func(s *Server) { s.Logger = nil })
	for _, tc := range []struct {
		name, prefix, check string
		login               bool
	}{
		{"command after login", "NOOP ", "NOOP", true},
		{"AUTH before login", "AUTH PLAIN ", "USER " + testUser, false},
	} {
		var c *client
		if tc.login {
			c = e.login()
		} else {
			c = e.dial()
		}
		c.send(tc.check)
		c.expect("+OK")
		target.Store(read.Load() + sent)
		var alloc0 runtime.MemStats
		before := liveMemory()
		runtime.ReadMemStats(&alloc0)

		var wrote sync.WaitGroup
		wrote.Go(func() {
			chunk := []byte(strings.Repeat("x", 64<<10))
			_, err := io.WriteString(c.conn, tc.prefix)
			for total := 0; total < sent && err == nil; total += len(chunk) {
				_, err = c.conn.Write(chunk)
			}
			if err != nil {
				t.Errorf("%s: writing the line: %v", tc.name, err)
			}
		})
		<-reached // the server has read the 32 MiB, the line is still open
		var alloc1 runtime.MemStats
		runtime.ReadMemStats(&alloc1)
		during := liveMemory()
		wrote.Wait()
		grew, allocated := int64(during)-int64(before), alloc1.TotalAlloc-alloc0.TotalAlloc
		t.Logf("%s: the server read %d MiB of one line: live memory %+d bytes, %d bytes allocated meanwhile",
			tc.name, sent>>20, grew, allocated)
		if grew > 1<<20 {
			t.Errorf("%s: live memory grew by %d bytes during a %d MiB line, want at most 1 MiB", tc.name, grew, sent>>20)
		}
		if allocated > 4<<20 {
			t.Errorf("%s: %d bytes allocated while reading a %d MiB line, want at most 4 MiB", tc.name, allocated, sent>>20)
		}
		c.write("\r\n" + tc.check + "\r\n")
		c.expect("-ERR Line too long")
		c.expect("+OK")
		c.send("QUIT")
		c.expect("+OK*")
	}
}

// readCounter counts what the server reads and signals once the count
// reaches target.
type readCounter struct {
	net.Conn
	n       *atomic.Int64
	target  *atomic.Int64
	reached chan<- struct{}
}

func (c readCounter) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	total, t := c.n.Add(int64(n)), c.target.Load()
	if t > 0 && total >= t && total-int64(n) < t {
		c.reached <- struct{}{}
	}
	return n, err
}

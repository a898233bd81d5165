package smtp

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/server"
)

// BDAT n LAST whose chunk is cut short by the client's EOF is not a
// message: nothing is stored and nothing acknowledged (issue 10: the
// 435-octet fragment of BDAT 1000 LAST was stored with 250).
func TestBDATLastCutShortStoresNothing(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(ModeMX)
	r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\n")
	for range 3 {
		r.expect("250 ")
	}
	r.send("BDAT 1000 LAST\r\n" + "Subject: cut\r\n\r\n" + strings.Repeat("x", 418))
	r.c.(*net.TCPConn).CloseWrite()
	if rest, _ := io.ReadAll(r.r); strings.Contains(string(rest), "250") {
		t.Errorf("cut-short BDAT acknowledged: %q", rest)
	}
	e.wg.Wait()
	if got := e.inbox("alice@example.org"); len(got) != 0 {
		t.Errorf("cut-short BDAT stored %d messages: %q", len(got), got)
	}
}

// drip sends s one byte at a time, every gap, until the server closes.
func drip(r *raw, s string, gap time.Duration) {
	for i := 0; ; i++ {
		if _, err := r.c.Write([]byte{s[i%len(s)]}); err != nil {
			return
		}
		time.Sleep(gap)
	}
}

// slowEnv has a 400ms line timeout, idle timeouts far longer.
func slowEnv(t *testing.T, maxSession time.Duration) *env {
	return newEnv(t, envOptions{configure: func(s *Server) {
		s.CommandTimeout = time.Minute
		s.DataTimeout = time.Minute
		s.Pacing = server.Pacing{LineTimeout: 400 * time.Millisecond, MinRate: 1 << 20, MaxSession: maxSession}
	}})
}

// closedWithin waits for the server to end the session and returns the
// last reply it wrote; it fails when that takes longer than bound.
func closedWithin(t *testing.T, r *raw, bound time.Duration) string {
	t.Helper()
	start := time.Now()
	r.c.SetReadDeadline(start.Add(bound + 5*time.Second))
	all, err := io.ReadAll(r.r)
	if errors.Is(err, syscall.ECONNRESET) {
		// Closed with the client's drip unread: the kernel resets.
		err = nil
	}
	if err != nil {
		t.Fatalf("session not closed within %v: %v (read %q)", bound+5*time.Second, err, all)
	}
	if el := time.Since(start); el > bound {
		t.Errorf("session closed after %v, want within %v", el, bound)
	}
	lines := strings.Split(strings.TrimSpace(string(all)), "\r\n")
	return lines[len(lines)-1]
}

// A command dripped one byte at a time (each byte well within the idle
// timeout) is cut at the line timeout, and the partial line is never
// executed: no "250" for the NOOP it almost was.
func TestSlowDripCommandIsCut(t *testing.T) {
	e := slowEnv(t, time.Hour)
	r := e.raw(ModeMX)
	go drip(r, "NOOP and then some more text that never ends ", 50*time.Millisecond)
	last := closedWithin(t, r, 3*time.Second)
	if !strings.HasPrefix(last, "421 4.4.2") {
		t.Errorf("last reply %q, want 421 4.4.2 (and no reply to the partial NOOP)", last)
	}
}

// A DATA trickle is cut the same way and stores nothing.
func TestSlowDripDataIsCut(t *testing.T) {
	e := slowEnv(t, time.Hour)
	r := e.raw(ModeMX)
	r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
	for _, want := range []string{"250 ", "250 ", "250 ", "354 "} {
		r.expect(want)
	}
	go drip(r, "Subject: slow\r\n\r\nline\r\n", 50*time.Millisecond)
	if last := closedWithin(t, r, 3*time.Second); !strings.HasPrefix(last, "421 4.4.2") {
		t.Errorf("last reply %q, want 421 4.4.2", last)
	}
	e.wg.Wait()
	if got := e.inbox("alice@example.org"); len(got) != 0 {
		t.Errorf("trickled message stored: %q", got)
	}
}

// A busy session (a valid command every 100ms) still ends at its maximum
// lifetime.
func TestSessionLifetime(t *testing.T) {
	e := slowEnv(t, time.Second)
	r := e.raw(ModeMX)
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := r.c.Write([]byte("NOOP\r\n")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
			if time.Since(start) > 10*time.Second {
				return
			}
		}
	}()
	last := closedWithin(t, r, 3*time.Second)
	<-done
	if !strings.HasPrefix(last, "421 4.4.2") {
		t.Errorf("last reply %q, want 421 4.4.2", last)
	}
}

// Under TLS (implicit here) a slow drip ends the session the same way,
// and the client reads why inside the TLS stream (never in clear text: it
// would see a broken record).
func TestSlowDripUnderTLS(t *testing.T) {
	e := slowEnv(t, time.Hour)
	c, err := tls.Dial("tcp", e.tlsAd, e.cli)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "220 ") {
		t.Fatalf("greeting %q %v", l, err)
	}
	go func() {
		for _, b := range []byte("EHLO a.slow.client.that.never.ends") {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	start := time.Now()
	c.SetReadDeadline(start.Add(10 * time.Second))
	rest, err := io.ReadAll(br)
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("closed after %v", el)
	}
	if !strings.HasPrefix(string(rest), "421 4.4.2 ") || (err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("the end of the TLS session: %q, %v", rest, err)
	}
}

// Message data must keep limits.min_data_rate after the line timeout's
// grace: a client above it is served however long its message takes, one
// below it is cut (each of its writes well within the data timeout).
func TestDataMinimumRate(t *testing.T) {
	e := newEnv(t, envOptions{configure: func(s *Server) {
		s.DataTimeout = time.Minute
		s.Pacing = server.Pacing{LineTimeout: 300 * time.Millisecond, MinRate: 4000, MaxSession: time.Hour}
	}})
	send := func(chunk int) (string, time.Duration) {
		r := e.raw(ModeMX)
		r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
		for _, want := range []string{"250 ", "250 ", "250 ", "354 "} {
			r.expect(want)
		}
		start := time.Now()
		r.send("Subject: rate\r\n\r\n")
		line := strings.Repeat("y", chunk-2) + "\r\n"
		for time.Since(start) < 1500*time.Millisecond {
			if _, err := r.c.Write([]byte(line)); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		r.c.Write([]byte(".\r\nQUIT\r\n"))
		r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		all, _ := io.ReadAll(r.r)
		lines := strings.Split(strings.TrimSpace(string(all)), "\r\n")
		return lines[0], time.Since(start)
	}
	// 1000 octets per 50 ms: 20,000 octets/s, five times the minimum.
	if got, _ := send(1000); !strings.HasPrefix(got, "250 ") {
		t.Errorf("a client at 5x the minimum rate: %q", got)
	}
	// 50 octets per 50 ms: 1,000 octets/s, a quarter of it.
	if got, el := send(50); !strings.HasPrefix(got, "421 4.4.2") || el > 1400*time.Millisecond {
		t.Errorf("a client at a quarter of the minimum rate: %q after %v", got, el)
	}
	if n := len(e.inbox("alice@example.org")); n != 1 {
		t.Errorf("%d messages stored, want the fast one only", n)
	}
}

// A BDAT chunk must keep limits.min_data_rate too: a chunk trickled at a
// quarter of it is cut (421 4.4.2) long before its end, nothing stored.
func TestBDATMinimumRate(t *testing.T) {
	e := newEnv(t, envOptions{configure: func(s *Server) {
		s.DataTimeout = time.Minute
		s.Pacing = server.Pacing{LineTimeout: 300 * time.Millisecond, MinRate: 4000, MaxSession: time.Hour}
	}})
	r := e.raw(ModeMX)
	r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\n")
	for _, want := range []string{"250 ", "250 ", "250 "} {
		r.expect(want)
	}
	const size = 100000 // 100 s at the rate below
	r.send("BDAT " + strconv.Itoa(size) + " LAST\r\nSubject: rate\r\n\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() { // 50 octets per 50 ms: 1,000 octets/s
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for sent := 0; sent < size; sent += 50 {
			if _, err := r.c.Write([]byte(strings.Repeat("z", 48) + "\r\n")); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	r.expect("421 4.4.2")
	if n := len(e.inbox("alice@example.org")); n != 0 {
		t.Errorf("%d messages stored from a trickled chunk, want none", n)
	}
}

// A BDAT chunk ended by the client's TLS close_notify (the TCP connection
// still open) is cut short like one ended by EOF: nothing stored, no 250.
// (Under go-smtp this was a known gap: the chunk looked complete.)
func TestBDATCutByTLSCloseNotify(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(ModeMX)
	r.send("EHLO x\r\nSTARTTLS\r\n")
	r.expect("250 ")
	r.expect("220 ")
	tc := tls.Client(r.c, e.cli)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(tc)
	tc.Write([]byte("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\n"))
	for range 3 {
		if l, err := readReply(br); err != nil || !strings.HasPrefix(l, "250 ") {
			t.Fatalf("reply %q %v", l, err)
		}
	}
	tc.Write([]byte("BDAT 1000 LAST\r\nSubject: cut\r\n\r\n" + strings.Repeat("x", 418)))
	tc.CloseWrite()
	tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if rest, _ := io.ReadAll(br); strings.Contains(string(rest), "250") {
		t.Errorf("cut-short BDAT acknowledged: %q", rest)
	}
	e.wg.Wait()
	if got := e.inbox("alice@example.org"); len(got) != 0 {
		t.Errorf("cut-short BDAT stored %d messages", len(got))
	}
}

// readReply reads one reply and returns its last line.
func readReply(br *bufio.Reader) (string, error) {
	for {
		line, err := br.ReadString('\n')
		if err != nil || len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n"), err
		}
	}
}

package imap

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/server"
)

// A client that drips a command one byte at a time, each byte well within
// the line timeout, is cut off once the line as a whole took longer (the
// deadline bounds the line, not each read), and the partial command never
// runs (issue 10: "slow-drip sessions never end").
func TestSlowDripCommandIsCut(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) {
		s.Pacing = server.Pacing{LineTimeout: 500 * time.Millisecond, MaxSession: time.Hour}
	}})
	r := e.login(false, false)
	stop := make(chan struct{})
	defer close(stop)
	go drip(r.conn, "a1 SELECT INBOX\r\n", 100*time.Millisecond, stop) // 1.7 s in all
	if l := r.line(); l != "* BYE Command not completed in time" {
		t.Fatalf("dripped command: %q, want the BYE of a stalled command", l)
	}
	expectClosed(t, r)
}

// drip writes s one byte per interval until it is written, a write fails
// or stop is closed.
func drip(w interface{ Write([]byte) (int, error) }, s string, interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := range len(s) {
		if _, err := w.Write([]byte{s[i]}); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// An APPEND literal must keep limits.min_data_rate once the line timeout's
// grace is spent: a literal trickled at half that rate is cut off long
// before its end, and nothing of it is stored.
func TestSlowDripAppendIsCut(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) {
		s.Pacing = server.Pacing{LineTimeout: 500 * time.Millisecond, MinRate: 1024, MaxSession: time.Hour}
	}})
	r := e.login(false, false)
	before := len(e.messages(testUser, "INBOX"))
	const size = 20000 // 40 s at the rate below
	r.send("a1 APPEND INBOX {" + strconv.Itoa(size) + "}")
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("APPEND: %q, want a continuation", l)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // 50 octets every 100 ms: 500 octets/s
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		chunk := []byte("Subject: slow\r\n" + strings.Repeat("x", 33) + "\r\n")
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := r.conn.Write(chunk); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	if l := r.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("trickled literal: %q, want a BYE", l)
	}
	expectClosed(t, r)
	if n := len(e.messages(testUser, "INBOX")); n != before {
		t.Errorf("INBOX has %d messages after the cut APPEND, want %d", n, before)
	}
}

// limits.max_session ends a busy session too: a client sending NOOP after
// NOOP (each well within every timeout) is told BYE once the session's
// lifetime is over (issue 10: "one valid command every 20 s stays forever").
func TestBusySessionLifetime(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) {
		s.Pacing = server.Pacing{LineTimeout: 10 * time.Second, MaxSession: time.Second}
	}})
	r := e.login(false, false)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if i > 1000 { // 50 s of NOOPs: the lifetime never ended the session
			t.Fatal("session outlived limits.max_session while busy")
		}
		r.send("n" + strconv.Itoa(i) + " NOOP")
		l := r.line()
		if strings.HasPrefix(l, "* BYE") {
			if !strings.Contains(l, "Session lasted too long") {
				t.Errorf("BYE %q does not say why", l)
			}
			break
		}
		if !strings.HasPrefix(l, "n"+strconv.Itoa(i)+" OK") {
			t.Fatalf("NOOP: %q", l)
		}
		<-tick.C
	}
	expectClosed(t, r)
}

package imap

import (
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

package managesieve

import (
	"strings"
	"testing"
	"time"
)

// A client that drips a command one byte at a time, each byte well within
// the line timeout, is cut off once the command as a whole took longer
// (the deadline bounds the command, not each read), and the partial
// command never runs (issue 10: "slow-drip sessions never end").
func TestSlowDripCommandIsCut(t *testing.T) {
	e := newEnv(t)
	e.srv.LineTimeout = 500 * time.Millisecond
	c := e.login(t)
	stop := make(chan struct{})
	defer close(stop)
	go func() { // "LISTSCRIPTS\r\n", a byte per 100 ms: 1.3 s in all
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for _, b := range []byte("LISTSCRIPTS\r\n") {
			if _, err := c.conn.Write([]byte{b}); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	if got := c.response(); !strings.HasPrefix(got, "BYE") || !strings.Contains(got, "Timed out") {
		t.Fatalf("dripped command answered %q, want a BYE saying it timed out", got)
	}
}

// limits.max_session ends a busy session too: NOOP after NOOP, each well
// within every timeout, until the session's lifetime is over.
func TestBusySessionLifetime(t *testing.T) {
	e := newEnv(t)
	e.srv.MaxSession = time.Second
	c := e.login(t)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if i > 1000 { // 50 s of NOOPs: the lifetime never ended the session
			t.Fatal("session outlived limits.max_session while busy")
		}
		if _, err := c.conn.Write([]byte("NOOP\r\n")); err != nil {
			// net.Pipe has no buffer: the server's BYE and this write
			// can meet, and the server's write deadline ends the wait.
			// The session is over all the same.
			<-c.done
			return
		}
		got := c.response()
		if strings.HasPrefix(got, "BYE") {
			if !strings.Contains(got, "Session lasted too long") {
				t.Errorf("BYE %q does not say why", got)
			}
			return
		}
		if !strings.HasPrefix(got, "OK") {
			t.Fatalf("NOOP: %q", got)
		}
		<-tick.C
	}
}

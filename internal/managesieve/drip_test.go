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

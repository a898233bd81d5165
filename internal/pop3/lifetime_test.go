package pop3

import (
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/server"
)

// A session that keeps sending valid commands still ends at its maximum
// lifetime (limits.max_session), told why, and deletes nothing: the
// lifetime is not a QUIT.
func TestSessionLifetime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.Pacing = server.Pacing{MaxSession: time.Second} })
	e.deliver(testUser, msg1, msg2)
	c := e.login()
	start := time.Now()
	c.run(`
C: DELE 1
S: +OK Message 1 deleted
`)
	for {
		c.write("NOOP\r\n")
		line := c.line()
		if line == "+OK" {
			if time.Since(start) > 5*time.Second {
				t.Fatal("session still alive after 5s with a 1s lifetime")
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if line != "-ERR [SYS/TEMP] Session lasted too long; reconnect to go on" {
			t.Fatalf("got %q", line)
		}
		break
	}
	c.expectClosed()
	e.waitIdle()
	c = e.login()
	c.run(`
C: STAT
S~ \+OK 2 \d+
`)
}

// A client that asks for a big message and never reads it cannot hold the
// session past its lifetime either: writes end there too.
func TestSessionLifetimeSlowReader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.Pacing = server.Pacing{MaxSession: time.Second} })
	e.deliver(testUser, crlf("Subject: big\n\n"+strings.Repeat(strings.Repeat("x", 999)+"\n", 20000)))
	c := e.login()
	start := time.Now()
	c.write("RETR 1\r\n") // and read nothing
	e.waitIdle()
	if el := time.Since(start); el > time.Second+server.FarewellGrace+2*time.Second {
		t.Errorf("session ended after %v, lifetime 1s plus the farewell grace", el)
	}
}

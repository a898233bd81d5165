package pop3

import (
	"strings"
	"testing"
)

// sampleArgs gives each command plausible arguments, so the wrong-state
// matrix tests the state check and not the argument check.
var sampleArgs = map[string]string{
	"USER": " " + testUser,
	"PASS": " secret",
	"APOP": " " + testUser + " 0123456789abcdef0123456789abcdef",
	"AUTH": " PLAIN",
	"LIST": " 1",
	"RETR": " 1",
	"DELE": " 1",
	"TOP":  " 1 0",
	"UIDL": " 1",
	"LANG": " en",
}

// TestWrongStateMatrix sends every command of the table in every state
// where the table says it is illegal: each gets -ERR, changes nothing and
// the session goes on.
func TestWrongStateMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) {
		s.EnableLAST = true
		s.MaxBadCommands = 1000
	})
	e.deliver(testUser, msg1)
	for _, st := range []state{stateAuthorization, stateTransaction} {
		t.Run(st.String(), func(t *testing.T) {
			var c *client
			if st == stateAuthorization {
				c = e.dial()
			} else {
				c = e.login()
			}
			c.t = t
			tested := 0
			for _, cmd := range commands {
				if cmd.states.has(st) {
					continue
				}
				tested++
				c.send(cmd.name + sampleArgs[cmd.name])
				c.expect("-ERR " + cmd.name + " not valid in " + st.String() + " state")
				// Lower case is the same command.
				c.send(strings.ToLower(cmd.name) + sampleArgs[cmd.name])
				c.expect("-ERR " + cmd.name + " not valid in " + st.String() + " state")
			}
			if tested == 0 {
				t.Fatal("no command is illegal in this state?")
			}
			// Still in the same state, nothing changed.
			if st == stateAuthorization {
				c.run(`
C: STLS
S: -ERR TLS support isn't enabled
C: QUIT
S: +OK ` + testHost + ` POP3 server signing off
`)
			} else {
				c.run(`
C: STAT
S: +OK 1 ` + itoa(len(msg1)) + `
C: QUIT
S: +OK Logging out
`)
			}
			c.expectClosed()
			e.waitIdle()
		})
	}
}

// TestEveryCommandInItsStates checks that every row of the table is
// reachable in each state where it is legal (no "not valid" answer).
func TestEveryCommandInItsStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) {
		s.EnableLAST = true
		s.MaxBadCommands = 1000
	})
	e.deliver(testUser, msg1)
	for _, cmd := range commands {
		for _, st := range []state{stateAuthorization, stateTransaction} {
			if !cmd.states.has(st) {
				continue
			}
			var c *client
			if st == stateAuthorization {
				c = e.dial()
			} else {
				c = e.login()
			}
			c.send(cmd.name + sampleArgs[cmd.name])
			got := c.line()
			if strings.Contains(got, "not valid in") || strings.Contains(got, "Unknown command") {
				t.Errorf("%s in %s: %q", cmd.name, st, got)
			}
			c.conn.Close()
			e.waitIdle()
		}
	}
}

func TestUnknownCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.MaxBadCommands = 100 })
	c := e.dial()
	c.run(`
C: HELO
S: -ERR Unknown command
C: XYZZY
S: -ERR Unknown command
C: AB
S: -ERR Unknown command
C: ST4T
S: -ERR Unknown command
C: LAST
S: -ERR Unknown command
C:
S: -ERR Unknown command
C:  STAT
S: -ERR Unknown command
C: CAPA
S: +OK Capability list follows*
`)
}

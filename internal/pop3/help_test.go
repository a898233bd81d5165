package pop3

import "testing"

// HELP lists what can succeed in the current state on this connection,
// on one line, and is itself absent from CAPA (capa_test.go checks the
// whole list).
func TestHelp(t *testing.T) {
	t.Parallel()
	c := newEnv(t, envOptions{}).dial()
	c.run(`
C: HELP
S: +OK Valid commands: USER PASS AUTH UTF8 CAPA LANG QUIT HELP
C: help
S: +OK Valid commands: USER PASS AUTH UTF8 CAPA LANG QUIT HELP
C: HELP me
S: -ERR HELP: too many arguments
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: +OK*
C: HELP
S: +OK Valid commands: CAPA LANG QUIT HELP STAT LIST RETR DELE NOOP RSET TOP UIDL
C: QUIT
S: +OK Logging out
`)
	c.expectClosed()
}

// Over a remote connection without TLS, cleartext logins are refused, so
// HELP leaves USER and PASS out; with STLS possible it lists STLS.
func TestHelpRemote(t *testing.T) {
	t.Parallel()
	srvTLS, _ := testTLS(t)
	e := newEnv(t, envOptions{wrap: asRemote}, func(s *Server) { s.TLSConfig = srvTLS })
	c := e.dial()
	c.run(`
C: HELP
S: +OK Valid commands: AUTH STLS UTF8 CAPA LANG QUIT HELP
`)
}

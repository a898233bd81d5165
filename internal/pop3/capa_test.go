package pop3

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// capa sends CAPA and returns the capability lines.
func (c *client) capa() []string {
	c.t.Helper()
	c.send("CAPA")
	c.expect("+OK Capability list follows")
	return strings.Split(strings.TrimSuffix(c.multiline(), "\r\n"), "\r\n")
}

func expectCapa(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("CAPA:\n got %q\nwant %q", got, want)
	}
}

func TestCapaPerState(t *testing.T) {
	t.Parallel()
	srvTLS, _ := testTLS(t)
	e := newEnv(t, envOptions{}, func(s *Server) {
		s.TLSConfig = srvTLS
		s.Expire = 30 * 24 * time.Hour
		s.LoginDelay = 90 * time.Second
	})
	want := []string{"TOP", "UIDL", "USER", "SASL PLAIN LOGIN SCRAM-SHA-256", "STLS",
		"RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE 30", "LOGIN-DELAY 90",
		"UTF8 USER", "LANG", "IMPLEMENTATION Pochta"}
	c := e.dial()
	expectCapa(t, c.capa(), want...)
	// RFC 2449 §5: what AUTHORIZATION offers is announced in TRANSACTION
	// too (USER, SASL and STLS included: "both / no" in their
	// descriptions), even though those commands are no longer valid.
	c = e.login()
	expectCapa(t, c.capa(), want...)
	c.run(`
C: STLS
S: -ERR STLS not valid in TRANSACTION state
`)
}

func TestCapaDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{legacy: true})
	c := e.dial()
	expectCapa(t, c.capa(),
		"TOP", "UIDL", "USER", "SASL PLAIN LOGIN SCRAM-SHA-256 CRAM-MD5",
		"RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER",
		"UTF8 USER", "LANG", "IMPLEMENTATION Pochta")
}

func TestPlaintextRefusedOnRemoteConnections(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testTLS(t)
	e := newEnv(t, envOptions{wrap: asRemote}, func(s *Server) { s.TLSConfig = srvTLS })
	e.deliver(testUser, msg1)
	c := e.dial()
	expectCapa(t, c.capa(),
		"TOP", "UIDL", "SASL SCRAM-SHA-256", "STLS",
		"RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER",
		"UTF8 USER", "LANG", "IMPLEMENTATION Pochta")
	c.run(`
C: USER ` + testUser + `
S: -ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.
C: PASS ` + testPass + `
S: -ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.
C: AUTH PLAIN
S: -ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.
C: AUTH LOGIN
S: -ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.
C: AUTH
S: +OK
S: SCRAM-SHA-256
S: .
`)
	// After STLS the same connection may use passwords.
	c.run(`
C: STLS
S: +OK Begin TLS negotiation now
`)
	c.startTLS(cliTLS)
	expectCapa(t, c.capa(),
		"TOP", "UIDL", "USER", "SASL PLAIN LOGIN SCRAM-SHA-256",
		"RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER",
		"UTF8 USER", "LANG", "IMPLEMENTATION Pochta")
	c.run(`
C: STLS
S: -ERR TLS is already active
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: +OK Logged in, 1 messages (` + itoa(len(msg1)) + ` octets)
`)
}

func TestAllowPlaintext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{wrap: asRemote}, func(s *Server) { s.AllowPlaintext = true })
	c := e.dial()
	expectCapa(t, c.capa(),
		"TOP", "UIDL", "USER", "SASL PLAIN LOGIN SCRAM-SHA-256",
		"RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER",
		"UTF8 USER", "LANG", "IMPLEMENTATION Pochta")
	c.run(`
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: +OK Logged in, 0 messages (0 octets)
`)
}

// TestSTLSDiscardsPipelinedCleartext is the STARTTLS command injection
// test (CVE-2011-0411 and kin): commands sent in the same packet as STLS
// must not run inside the TLS session.
func TestSTLSDiscardsPipelinedCleartext(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testTLS(t)
	e := newEnv(t, envOptions{}, func(s *Server) { s.TLSConfig = srvTLS })
	e.deliver(testUser, msg1)
	c := e.dial()
	c.write("STLS\r\nUSER " + testUser + "\r\nCAPA\r\n")
	c.expect("+OK Begin TLS negotiation now")
	c.startTLS(cliTLS)
	// Had "USER" survived, PASS would log in; had CAPA survived, its
	// answer would come first.
	c.run(`
C: PASS ` + testPass + `
S: -ERR No username given
C: NOOP
S: -ERR NOOP not valid in AUTHORIZATION state
`)
}

func TestSTLSResetsSessionState(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testTLS(t)
	e := newEnv(t, envOptions{}, func(s *Server) { s.TLSConfig = srvTLS })
	c := e.dial()
	c.run(`
C: UTF8
S: +OK UTF8 enabled
C: USER ` + testUser + `
S: +OK
C: STLS
S: +OK Begin TLS negotiation now
`)
	c.startTLS(cliTLS)
	c.run(`
C: PASS ` + testPass + `
S: -ERR No username given
`)
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testTLS(t)
	e := newEnv(t, envOptions{wrap: func(c net.Conn) net.Conn {
		return tlsServerConn(c, srvTLS)
	}}, func(s *Server) { s.TLSConfig = srvTLS })
	e.deliver(testUser, msg1)
	conn, err := tls.Dial("tcp", e.addr, cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: newReader(conn)}
	c.expect("+OK " + testHost + " POP3 ready")
	// A remote client over TLS may use passwords; STLS is not offered.
	expectCapa(t, c.capa(),
		"TOP", "UIDL", "USER", "SASL PLAIN LOGIN SCRAM-SHA-256",
		"RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER",
		"UTF8 USER", "LANG", "IMPLEMENTATION Pochta")
	c.run(`
C: STLS
S: -ERR TLS is already active
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: +OK Logged in, 1 messages (` + itoa(len(msg1)) + ` octets)
C: RETR 1
S: +OK ` + itoa(len(msg1)) + ` octets
`)
	if got := c.multiline(); got != msg1 {
		t.Fatalf("RETR over TLS = %q", got)
	}
}

func TestUTF8AndLANG(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.MaxBadCommands = 100 })
	e.addUser("jürgen@example.com", "pässwörd", false)
	c := e.dial()
	c.run(`
C: LANG
S: +OK Language listing follows
S: en English
S: .
C: LANG en
S: +OK en Language changed to English
C: LANG *
S: +OK en Language changed to English
C: LANG fr
S: -ERR Unsupported language
C: UTF8
S: +OK UTF8 enabled
C: USER jürgen@example.com
S: +OK
C: PASS pässwörd
S: +OK Logged in, 0 messages (0 octets)
C: UTF8
S: -ERR UTF8 not valid in TRANSACTION state
C: LANG en
S: +OK en Language changed to English
`)
}

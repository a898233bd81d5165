package pop3

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// challenge reads a "+ base64" line and decodes it.
func (c *client) challenge() string {
	c.t.Helper()
	l := c.expect("+ *")
	d, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "+ "))
	if err != nil {
		c.t.Fatalf("challenge %q: %v", l, err)
	}
	return string(d)
}

const loggedIn0 = "+OK Logged in, 0 messages (0 octets)"

func TestAuthPLAIN(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	plain := b64("\x00" + testUser + "\x00" + testPass)

	c := e.dial()
	c.run(`
C: AUTH PLAIN ` + plain + `
S: ` + loggedIn0 + `
`)
	// Without initial response: an empty challenge first.
	c = e.waitAndDial()
	c.run(`
C: auth plain
S: + 
C: ` + plain + `
S: ` + loggedIn0 + `
`)
	// "=" is an empty initial response: PLAIN fails on it.
	c = e.waitAndDial()
	c.run(`
C: AUTH PLAIN =
S: -ERR [AUTH] Authentication failed
C: AUTH PLAIN ` + b64("\x00"+testUser+"\x00wrong") + `
S: -ERR [AUTH] Authentication failed
C: AUTH PLAIN !!!notbase64
S: -ERR Invalid base64 data
C: AUTH PLAIN
S: + 
C: *
S: -ERR Authentication aborted by client
C: AUTH PLAIN
S: + 
C: %%%
S: -ERR Invalid base64 data
C: AUTH X-UNKNOWN
S: -ERR Unsupported authentication mechanism
C: AUTH CRAM-MD5
S: -ERR Unsupported authentication mechanism
C: AUTH
S: +OK
S: PLAIN
S: LOGIN
S: SCRAM-SHA-256
S: .
`)
}

// waitAndDial waits for earlier sessions to end (they hold the maildrop
// lock) and dials again.
func (e *env) waitAndDial() *client {
	e.t.Helper()
	e.waitIdleAfterClose()
	return e.dial()
}

// waitIdleAfterClose closes the clients dialed so far and waits until
// their sessions ended.
func (e *env) waitIdleAfterClose() {
	e.t.Helper()
	for _, c := range e.openClients() {
		c.Close()
	}
	e.waitIdle()
}

func TestAuthLOGIN(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.dial()
	c.send("AUTH LOGIN")
	if got := c.challenge(); got != "Username:" {
		t.Fatalf("first LOGIN challenge %q", got)
	}
	c.send(b64(testUser))
	if got := c.challenge(); got != "Password:" {
		t.Fatalf("second LOGIN challenge %q", got)
	}
	c.send(b64(testPass))
	c.expect(loggedIn0)

	c = e.waitAndDial()
	c.send("AUTH LOGIN " + b64(testUser))
	if got := c.challenge(); got != "Password:" {
		t.Fatalf("LOGIN challenge after initial response %q", got)
	}
	c.send(b64("nope"))
	c.expect("-ERR [AUTH] Authentication failed")
}

// scramClient is a minimal RFC 5802 / RFC 7677 SCRAM-SHA-256 client.
type scramClient struct {
	user, pass, nonce    string
	clientFirstBare      string
	authMessage          string
	saltedPassword       []byte
	expectedServerFinale string
}

func (s *scramClient) first() string {
	s.nonce = "rOprNGfwEbeRWgbNEkqO"
	s.clientFirstBare = "n=" + strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s.user) + ",r=" + s.nonce
	return "n,," + s.clientFirstBare
}

func (s *scramClient) final(t *testing.T, serverFirst string) string {
	t.Helper()
	m := regexp.MustCompile(`^r=([^,]+),s=([^,]+),i=(\d+)$`).FindStringSubmatch(serverFirst)
	if m == nil || !strings.HasPrefix(m[1], s.nonce) {
		t.Fatalf("bad server-first-message %q", serverFirst)
	}
	salt, err := base64.StdEncoding.DecodeString(m[2])
	if err != nil {
		t.Fatal(err)
	}
	iter, _ := strconv.Atoi(m[3])
	s.saltedPassword, err = pbkdf2.Key(sha256.New, s.pass, salt, iter, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	withoutProof := "c=biws,r=" + m[1]
	s.authMessage = s.clientFirstBare + "," + serverFirst + "," + withoutProof
	clientKey := hmacSHA256(s.saltedPassword, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	sig := hmacSHA256(storedKey[:], s.authMessage)
	proof := make([]byte, len(clientKey))
	for i := range clientKey {
		proof[i] = clientKey[i] ^ sig[i]
	}
	serverKey := hmacSHA256(s.saltedPassword, "Server Key")
	s.expectedServerFinale = "v=" + base64.StdEncoding.EncodeToString(hmacSHA256(serverKey, s.authMessage))
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func TestAuthSCRAMSHA256(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{wrap: asRemote}) // SCRAM is offered without TLS
	for _, withIR := range []bool{false, true} {
		t.Run(fmt.Sprint("initial-response=", withIR), func(t *testing.T) {
			c := e.waitAndDial()
			c.t = t
			sc := &scramClient{user: testUser, pass: testPass}
			if withIR {
				c.send("AUTH SCRAM-SHA-256 " + b64(sc.first()))
			} else {
				c.send("AUTH SCRAM-SHA-256")
				if got := c.challenge(); got != "" {
					t.Fatalf("first challenge %q, want empty", got)
				}
				c.send(b64(sc.first()))
			}
			c.send(b64(sc.final(t, c.challenge())))
			if got := c.challenge(); got != sc.expectedServerFinale {
				t.Fatalf("server-final %q, want %q", got, sc.expectedServerFinale)
			}
			c.send("")
			c.expect(loggedIn0)
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		c := e.waitAndDial()
		c.t = t
		sc := &scramClient{user: testUser, pass: "wrong"}
		c.send("AUTH SCRAM-SHA-256 " + b64(sc.first()))
		c.send(b64(sc.final(t, c.challenge())))
		c.expect("-ERR [AUTH] Authentication failed")
	})
}

func TestAuthCRAMMD5AndAPOP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{legacy: true})
	e.deliver(legacyUser, msg1)

	c := e.dialNoGreeting()
	greeting := c.expect("+OK " + testHost + " POP3 ready <*")
	stamp := regexp.MustCompile(`<\d+\.\d+@` + regexp.QuoteMeta(testHost) + `>$`).FindString(greeting)
	if stamp == "" {
		t.Fatalf("no APOP timestamp in %q", greeting)
	}
	digest := md5.Sum([]byte(stamp + legacyPass))
	wrong := md5.Sum([]byte(stamp + "wrong"))
	c.run(`
C: APOP ` + legacyUser + ` ` + hex.EncodeToString(wrong[:]) + `
S: -ERR [AUTH] Authentication failed
C: APOP ` + testUser + ` ` + hex.EncodeToString(digest[:]) + `
S: -ERR [AUTH] Authentication failed
C: APOP ` + legacyUser + ` ` + hex.EncodeToString(digest[:]) + `
S: +OK Logged in, 1 messages (` + itoa(len(msg1)) + ` octets)
`)

	c = e.waitAndDial()
	c.send("AUTH CRAM-MD5")
	chal := c.challenge()
	if !regexp.MustCompile(`^<\d+\.\d+@` + regexp.QuoteMeta(testHost) + `>$`).MatchString(chal) {
		t.Fatalf("CRAM-MD5 challenge %q", chal)
	}
	h := hmac.New(md5.New, []byte(legacyPass))
	h.Write([]byte(chal))
	c.send(b64(legacyUser + " " + hex.EncodeToString(h.Sum(nil))))
	c.expect("+OK Logged in, 1 messages*")

	// A user without a legacy secret cannot use CRAM-MD5.
	c = e.waitAndDial()
	c.send("AUTH CRAM-MD5")
	chal = c.challenge()
	h = hmac.New(md5.New, []byte(testPass))
	h.Write([]byte(chal))
	c.send(b64(testUser + " " + hex.EncodeToString(h.Sum(nil))))
	c.expect("-ERR [AUTH] Authentication failed")
}

func TestAuthLineLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.MaxBadCommands = 100 })
	c := e.dial()
	// An AUTH command line may exceed 255 octets (RFC 5034 §4)...
	long := b64("\x00" + testUser + "\x00" + strings.Repeat("x", 400))
	c.send("AUTH PLAIN " + long)
	c.expect("-ERR [AUTH] Authentication failed")
	// ...but not the SASL cap, and neither may a continuation line.
	c.send("AUTH PLAIN " + strings.Repeat("A", maxSASLLine))
	c.expect("-ERR Line too long")
	c.send("AUTH PLAIN")
	c.expect("+ ")
	c.send(strings.Repeat("A", maxSASLLine+10))
	c.expect("-ERR Authentication line too long")
	// Other commands stay at 255.
	c.send("USER " + strings.Repeat("u", 300))
	c.expect("-ERR Line too long")
	c.run(`
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: ` + loggedIn0 + `
`)
}

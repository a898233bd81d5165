package imap

import (
	"bufio"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"golang.org/x/crypto/pbkdf2"

	"github.com/pochta-mail/pochta/internal/auth"
)

func hasWord(line, word string) bool {
	for _, w := range strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(line)) {
		if w == word {
			return true
		}
	}
	return false
}

func TestCapabilitiesAndPlaintextPolicy(t *testing.T) {
	// A non-loopback client on the plain port: LOGINDISABLED, no
	// AUTH=PLAIN, STARTTLS offered; LOGIN refused with PRIVACYREQUIRED.
	e := newEnv(t, envOptions{remote: "192.0.2.7:4000"})
	r, greeting := e.raw(e.addr)
	for _, w := range []string{"IMAP4rev2", "IMAP4rev1", "STARTTLS", "LOGINDISABLED", "ID", "AUTH=SCRAM-SHA-256"} {
		if !hasWord(greeting, w) {
			t.Errorf("greeting %q lacks %s", greeting, w)
		}
	}
	if hasWord(greeting, "AUTH=PLAIN") || hasWord(greeting, "QUOTA") {
		t.Errorf("greeting %q offers PLAIN or QUOTA before TLS/login", greeting)
	}
	if _, status := r.cmd(`LOGIN alice@example.com "correct horse"`); !strings.Contains(status, "PRIVACYREQUIRED") {
		t.Errorf("LOGIN in clear from a remote client: %q", status)
	}
	if _, status := r.cmd("AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice@example.com\x00correct horse"))); !strings.HasPrefix(status, "NO") {
		t.Errorf("AUTHENTICATE PLAIN in clear: %q", status)
	}
	if lines, status := r.cmd(`ID ("name" "test")`); len(lines) != 1 || !strings.HasPrefix(lines[0], `* ID ("name" "Pochta"`) || !strings.HasPrefix(status, "OK") {
		t.Errorf("ID: %q %q", lines, status)
	}
	if _, status := r.cmd("GETQUOTAROOT INBOX"); !strings.HasPrefix(status, "BAD") {
		t.Errorf("GETQUOTAROOT before login: %q", status)
	}

	// STARTTLS: a command injected behind it in the same packet is
	// discarded; after the handshake, LOGIN works and the capability
	// list changes.
	r.send("s1 STARTTLS\r\ns2 LOGIN alice@example.com \"correct horse\"")
	if l := r.line(); l != "s1 OK Begin TLS negotiation now" {
		t.Fatalf("STARTTLS: %q", l)
	}
	tc := tls.Client(r.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	r.conn, r.r = tc, bufio.NewReader(tc)
	lines, status := r.cmd("CAPABILITY")
	if len(lines) != 1 || hasWord(lines[0], "STARTTLS") || hasWord(lines[0], "LOGINDISABLED") || !hasWord(lines[0], "AUTH=PLAIN") {
		t.Errorf("CAPABILITY after STARTTLS: %q %q", lines, status)
	}
	if lines, status := r.cmd(`LOGIN alice@example.com "correct horse"`); !strings.HasPrefix(status, "OK") || len(lines) != 0 {
		t.Fatalf("LOGIN after STARTTLS: %q %q (the injected LOGIN must not have run)", lines, status)
	} else if !hasWord(status, "QUOTA") || !hasWord(status, "ID") {
		t.Errorf("capabilities after login %q lack QUOTA/ID", status)
	}
	lines, status = r.cmd("GETQUOTAROOT inbox")
	if strings.Join(lines, "|") != `* QUOTAROOT "INBOX" ""|* QUOTA "" ()` || !strings.HasPrefix(status, "OK") {
		t.Errorf("GETQUOTAROOT: %q %q", lines, status)
	}
	if _, status := r.cmd("GETQUOTAROOT Nope"); !strings.Contains(status, "NONEXISTENT") {
		t.Errorf("GETQUOTAROOT of a missing mailbox: %q", status)
	}
	if _, status := r.cmd(`SETQUOTA "" (STORAGE 10)`); !strings.HasPrefix(status, "NO") {
		t.Errorf("SETQUOTA: %q", status)
	}
	if _, status := r.cmd("STARTTLS"); !strings.HasPrefix(status, "BAD") {
		t.Errorf("second STARTTLS: %q", status)
	}
}

func TestImplicitTLSAndSASL(t *testing.T) {
	e := newEnv(t, envOptions{remote: "192.0.2.7:4000"})
	// IMAPS from a remote client: PLAIN with SASL-IR is fine over TLS.
	c, err := imapclient.DialTLS(e.tlsAddr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(sasl.NewPlainClient("", testUser, testPass)); err != nil {
		t.Fatalf("AUTHENTICATE PLAIN: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// A wrong password fails with AUTHENTICATIONFAILED.
	c2, err := imapclient.DialTLS(e.tlsAddr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	err = c2.Login(testUser, "wrong").Wait()
	var ie *goimap.Error
	if !asIMAPError(err, &ie) || ie.Code != goimap.ResponseCodeAuthenticationFailed {
		t.Errorf("wrong password: %v", err)
	}
}

func asIMAPError(err error, target **goimap.Error) bool {
	ie, ok := err.(*goimap.Error)
	if ok {
		*target = ie
	}
	return ok
}

func TestSCRAMOverPlainConnection(t *testing.T) {
	// SCRAM-SHA-256 never sends the password, so it is offered even to a
	// remote client without TLS.
	e := newEnv(t, envOptions{remote: "192.0.2.7:4000"})
	r, _ := e.raw(e.addr)
	nonce := make([]byte, 18)
	rand.Read(nonce)
	clientNonce := base64.RawStdEncoding.EncodeToString(nonce)
	bare := "n=" + testUser + ",r=" + clientNonce
	r.send("a AUTHENTICATE SCRAM-SHA-256 " + base64.StdEncoding.EncodeToString([]byte("n,,"+bare)))
	l := r.line()
	if !strings.HasPrefix(l, "+ ") {
		t.Fatalf("server-first: %q", l)
	}
	sf, _ := base64.StdEncoding.DecodeString(l[2:])
	serverFirst := string(sf)
	attrs := map[string]string{}
	for _, kv := range strings.Split(serverFirst, ",") {
		attrs[kv[:1]] = kv[2:]
	}
	salt, _ := base64.StdEncoding.DecodeString(attrs["s"])
	iter := 0
	for _, ch := range attrs["i"] {
		iter = iter*10 + int(ch-'0')
	}
	salted := pbkdf2.Key([]byte(testPass), salt, iter, 32, sha256.New)
	mac := func(key []byte, s string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return h.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	final := "c=biws,r=" + attrs["r"]
	authMsg := bare + "," + serverFirst + "," + final
	sig := mac(stored[:], authMsg)
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ sig[i]
	}
	r.send(base64.StdEncoding.EncodeToString([]byte(final + ",p=" + base64.StdEncoding.EncodeToString(proof))))
	l = r.line()
	if !strings.HasPrefix(l, "+ ") {
		t.Fatalf("server-final: %q", l)
	}
	r.send("")
	if l = r.line(); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("after SCRAM: %q", l)
	}
	if _, status := r.cmd("SELECT INBOX"); !strings.HasPrefix(status, "OK") {
		t.Errorf("SELECT after SCRAM: %q", status)
	}
}

// CRAM-MD5 (RFC 2195) is offered only when legacy authentication is on
// (issue 8: "CRAM-MD5 when legacy auth is on"), and logs in with the
// account's legacy secret; a wrong digest is NO [AUTHENTICATIONFAILED].
func TestCRAMMD5WhenLegacyAuthIsOn(t *testing.T) {
	off := newEnv(t, envOptions{})
	r, greeting := off.raw(off.addr)
	if strings.Contains(greeting, "AUTH=CRAM-MD5") {
		t.Errorf("legacy auth off: %q", greeting)
	}
	if _, status := r.cmd("AUTHENTICATE CRAM-MD5"); !strings.HasPrefix(status, "NO") && !strings.HasPrefix(status, "BAD") {
		t.Errorf("AUTHENTICATE CRAM-MD5 with legacy auth off: %s", status)
	}

	e := newEnv(t, envOptions{legacyAuth: true})
	cram := func(r *raw, tag, password string) string {
		t.Helper()
		r.send(tag + " AUTHENTICATE CRAM-MD5")
		l := r.line()
		challenge, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "+ "))
		if !strings.HasPrefix(l, "+ ") || err != nil || !strings.HasPrefix(string(challenge), "<") {
			t.Fatalf("CRAM-MD5 challenge: %q", l)
		}
		h := hmac.New(md5.New, []byte(password))
		h.Write(challenge)
		r.send(base64.StdEncoding.EncodeToString([]byte(testUser + " " + hex.EncodeToString(h.Sum(nil)))))
		return r.line()
	}
	r, greeting = e.raw(e.addr)
	if !strings.Contains(greeting, "AUTH=CRAM-MD5") {
		t.Errorf("legacy auth on: %q", greeting)
	}
	if l := cram(r, "a", "wrong"); !strings.HasPrefix(l, "a NO [AUTHENTICATIONFAILED]") {
		t.Errorf("a wrong digest: %q", l)
	}
	if l := cram(r, "b", testPass); !strings.HasPrefix(l, "b OK") {
		t.Fatalf("CRAM-MD5: %q", l)
	}
	if _, status := r.cmd("SELECT INBOX"); !strings.HasPrefix(status, "OK") {
		t.Errorf("SELECT after CRAM-MD5: %s", status)
	}
}

// Before login non-synchronising literals are bounded (docs/IMAP.md), so
// the capability there is LITERAL- (RFC 7888 §4: up to 4096 octets), not
// LITERAL+ (any size); after login, where APPEND streams, LITERAL+. A
// 4096-octet non-synchronising literal before login is taken.
func TestLiteralMinusBeforeLogin(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) { s.Auth = noDelayAuth{s.Auth.(*auth.Service)} }})
	r, greeting := e.raw(e.addr)
	lines, _ := r.cmd("CAPABILITY")
	for _, l := range []string{greeting, strings.Join(lines, " ")} {
		if !hasWord(l, "LITERAL-") || hasWord(l, "LITERAL+") {
			t.Errorf("before login: %q", l)
		}
	}
	r.send("a1 LOGIN {4096+}\r\n" + strings.Repeat("x", 4096) + " password")
	if l := r.line(); !strings.HasPrefix(l, "a1 NO") {
		t.Fatalf("LOGIN with a 4096-octet LITERAL- literal: %q", l)
	}
	login(t, r)
	if lines, _ := r.cmd("CAPABILITY"); !hasCap(lines, "LITERAL+") || hasCap(lines, "LITERAL-") {
		t.Errorf("after login: %q", lines)
	}
}

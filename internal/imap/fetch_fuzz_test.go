package imap

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/imap/imaptest"
	"github.com/pochta-mail/pochta/internal/prototest"
)

// FuzzFetch feeds arbitrary FETCH (and SORT, THREAD) commands to a
// session that has a mailbox selected with nested, encoded and malformed
// messages: it must never panic nor hang.
func FuzzFetch(f *testing.F) {
	for _, seed := range []string{
		"a FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE INTERNALDATE)\r\n",
		"a FETCH 1:* (BODY.PEEK[1.2.MIME] BODY[2.HEADER.FIELDS (From \"To\")]<1.5> BINARY.PEEK[3]<0.2> BINARY.SIZE[4])\r\n",
		"a UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS.NOT (X)] RFC822.HEADER RFC822.TEXT RFC822 BODY[2.TEXT])\r\n",
		"a FETCH * (BODY[9.9.9.9] BINARY[] BINARY.SIZE[] BODY[]<99999999999.1>)\r\nb FETCH 1 ALL\r\nc FETCH 1 FAST\r\nd FETCH 1 FULL\r\n",
		"a FETCH 1 (BODY[HEADER.FIELDS {3}\r\nabc])\r\n",
		"a SORT (REVERSE SUBJECT DISPLAYFROM SIZE) UTF-8 ALL\r\nb UID SORT RETURN (MIN MAX ALL SAVE) (DATE) US-ASCII 1:*\r\n",
		"a THREAD REFERENCES UTF-8 ALL\r\nb UID THREAD ORDEREDSUBJECT UTF-8 OR SUBJECT x FROM y\r\nc FETCH * (PREVIEW (LAZY))\r\n",
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f, envOptions{server: func(s *Server) {
		s.Logger = nil
		s.AllowPlaintext = true // net.Pipe is not loopback
		s.IdleTimeout = 5 * time.Second
		s.LineTimeout = 5 * time.Second
	}})
	e.deliver(testUser, nestedMail, deepMessage(100), "Content-Transfer-Encoding: x-bad\r\n\r\n=ZZ\r\n", "no header")
	login := []byte("p1 LOGIN alice@example.com \"correct horse\"\r\np2 SELECT INBOX\r\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		prototest.ServeBytes(t, 20*time.Second, func(c net.Conn) { e.srv.ServeConn(context.Background(), c) }, login, data)
		if n := e.srv.RecoveredPanics(); n != 0 {
			t.Fatalf("session panicked on %q", data)
		}
	})
}

// deepMessage is a message of depth multiparts, each inside the last.
func deepMessage(depth int) string {
	var open, closing strings.Builder
	for i := range depth {
		fmt.Fprintf(&open, "Content-Type: multipart/mixed; boundary=d%d\r\n\r\n--d%d\r\n", i, i)
		closing.WriteString(fmt.Sprintf("--d%d--\r\n", depth-1-i))
	}
	return open.String() + "\r\ninnermost\r\n" + closing.String()
}

// A message nested 10,000 deep is described to a bounded depth (deeper
// levels are opaque) and its innermost text stays reachable by BODY[].
func TestFetchDeepNesting(t *testing.T) {
	e := newEnv(t, envOptions{})
	msg := deepMessage(10000)
	e.deliver(testUser, msg)
	c, err := imaptest.Dial(e.addr, imaptest.Options{Limits: imaptest.Limits{MaxDepth: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(testUser, testPass); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MustOK("EXAMINE INBOX"); err != nil {
		t.Fatal(err)
	}
	res, err := c.MustOK("FETCH 1 (BODYSTRUCTURE ENVELOPE RFC822.SIZE BODY.PEEK[1.1.1]<0.20>)")
	if err != nil {
		t.Fatal(err)
	}
	raw := res.Named("FETCH")[0].Raw
	depth, deepest := 0, 0
	for _, c := range raw {
		switch c {
		case '(':
			depth++
			deepest = max(deepest, depth)
		case ')':
			depth--
		}
	}
	if deepest > 200 || !strings.Contains(raw, `"application" "octet-stream"`) {
		t.Errorf("BODYSTRUCTURE nested %d deep: %.300s", deepest, raw)
	}
	if !strings.Contains(raw, fmt.Sprintf("RFC822.SIZE %d", len(msg))) {
		t.Errorf("response %.200s", raw)
	}
}

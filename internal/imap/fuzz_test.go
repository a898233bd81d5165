package imap

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/prototest"
)

// Seeds shared by the session fuzz target: the commands of the transcript
// tests, plus the nasty bits.
var fuzzSeeds = []string{
	"a CAPABILITY\r\nb NOOP\r\nc ID (\"name\" \"x\")\r\nd LOGOUT\r\n",
	"a LOGIN alice@example.com \"correct horse\"\r\nb SELECT INBOX\r\nc FETCH 1:* (FLAGS UID)\r\n",
	"a AUTHENTICATE PLAIN\r\n=\r\nb AUTHENTICATE PLAIN !!!\r\nc AUTHENTICATE SCRAM-SHA-256\r\n*\r\n",
	"a STARTTLS\r\nb CAPABILITY\r\n",
	"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (% *) RETURN (CHILDREN STATUS (MESSAGES SIZE RECENT))\r\nb LSUB \"\" %\r\n",
	"a CREATE \"A/B\" (USE (\\Archive))\r\nb RENAME A C\r\nc DELETE C/B\r\nd SUBSCRIBE x\r\ne UNSUBSCRIBE x\r\nf STATUS INBOX (MESSAGES UNSEEN SIZE)\r\n",
	"a APPEND INBOX (\\Seen $k) \"06-May-2024 07:08:09 +0000\" {12+}\r\nSubject: x\r\n\r\nb APPEND INBOX ~{3}\r\nabc\r\n",
	"a SELECT INBOX\r\nb STORE 1:* +FLAGS.SILENT (\\Deleted $x)\r\nc UID STORE 1 -FLAGS (\\Seen)\r\nd COPY 1 Trash\r\ne MOVE 2 Junk\r\nf EXPUNGE\r\ng UID EXPUNGE 1:*\r\n",
	"a EXAMINE INBOX\r\nb STORE 1 FLAGS (\\Seen)\r\nc CLOSE\r\nd UNSELECT\r\n",
	"a SELECT INBOX\r\nb IDLE\r\nDONE\r\nc IDLE\r\nnope\r\n",
	"a SEARCH $\r\nz SEARCH OR OLDER 1 YOUNGER 4294967295\r\nb FETCH $ FLAGS\r\nc FETCH 99999999999 FLAGS\r\nd FETCH 0 FLAGS\r\n",
	"a ENABLE IMAP4rev2 UTF8=ACCEPT\r\nb SELECT \"caf\xc3\xa9\"\r\nc LIST \"\" \"&AOk\"\r\nd LIST \"\" \"&-&Jjo-\"\r\n",
	"a GETQUOTAROOT INBOX\r\nb GETQUOTA \"\"\r\nc SETQUOTA \"\" (STORAGE 1)\r\nd NAMESPACE\r\n",
	"a LOGIN {999999999}\r\nb LOGIN {5+}\r\nab",
	"a NOOP\x00\r\nb \xff\xfe\r\n((((((((((((((((((((((((((((((((\r\n",
	"a LOGIN " + strings.Repeat("x", 9000) + "\r\n",
	"a APPEND Drafts {3+}\r\nabc (\\Seen) {3+}\r\ndef\r\nb APPEND Drafts CATENATE (URL \"/INBOX/;UID=1/;SECTION=1.MIME\" TEXT {2+}\r\nxy URL \";UID=1/;PARTIAL=1.2\")\r\n",
	"a SELECT INBOX\r\nb UID SEARCH RETURN (PARTIAL -1:-5 COUNT) THREADID T0 EMAILID M1 SAVEDSINCE 1-Jan-2020\r\nc FETCH 1 (EMAILID THREADID SAVEDATE)\r\nd STATUS INBOX (MAILBOXID)\r\n",
	"a SELECT INBOX\r\nb UID SEARCH RETURN (UPDATE CONTEXT ALL) 1:* UNSEEN\r\nc SORT RETURN (UPDATE SAVE) (REVERSE SIZE) UTF-8 $ 2\r\nd STORE 1:* +FLAGS (\\Seen)\r\nb SEARCH RETURN (UPDATE) ALL\r\nf CANCELUPDATE \"b\" \"c\"\r\ng CANCELUPDATE b\r\nh EXPUNGE\r\n",
	"",
}

// FuzzSession feeds arbitrary bytes to a session in each state: it must
// never panic (checked after each input) nor hang.
func FuzzSession(f *testing.F) {
	for _, s := range fuzzSeeds {
		for st := range 3 {
			f.Add(uint8(st), []byte(s))
		}
	}
	e := newEnv(f, envOptions{server: func(s *Server) {
		s.Auth = noDelayAuth{s.Auth.(*auth.Service)}
		s.Logger = nil
		s.AllowPlaintext = true // net.Pipe is not loopback
		s.MaxBadCommands = 50
		s.IdleTimeout = 5 * time.Second
		s.LineTimeout = 5 * time.Second
	}})
	e.deliver(testUser, testMessage(1), testMessage(2), fuzzMultipart)
	prefixes := []string{
		"",
		"p1 LOGIN alice@example.com \"correct horse\"\r\n",
		"p1 LOGIN alice@example.com \"correct horse\"\r\np2 SELECT INBOX\r\n",
	}
	f.Fuzz(func(t *testing.T, st uint8, data []byte) {
		var out syncBuffer
		prototest.ServeBytes(t, 20*time.Second, func(c net.Conn) { e.srv.ServeConn(context.Background(), teeConn{c, &out}) },
			[]byte(prefixes[int(st)%len(prefixes)]), data)
		if n := e.srv.RecoveredPanics(); n != 0 {
			t.Fatalf("session panicked on %q", data)
		}
		// The store is healthy, so whatever the client sent, no answer
		// may blame the server: a client's mistake gets BAD or NO with
		// its own code (issue 8).
		if o := out.String(); strings.Contains(o, "[SERVERBUG]") {
			t.Fatalf("SERVERBUG for client input %q:\n%s", data, o)
		}
	})
}

// teeConn copies what the server writes into w.
type teeConn struct {
	net.Conn
	w io.Writer
}

func (c teeConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	_, _ = c.w.Write(p[:n])
	return n, err
}

// syncBuffer is a bytes.Buffer safe for a writer and a later reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// noDelayAuth is the real auth service without the failure throttle's
// waits, so failed logins do not slow fuzzing to a halt.
type noDelayAuth struct{ *auth.Service }

func (noDelayAuth) LoginFailed(context.Context, string, netip.Addr) time.Duration { return 0 }

const fuzzMultipart = "Subject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n"

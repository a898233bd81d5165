package imap

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/prototest"
	"github.com/pochta-mail/pochta/internal/store"
)

// compressClient is Python's imaplib with COMPRESS=DEFLATE added the way
// zlib clients do it: every send ends with Z_PARTIAL_FLUSH (isync's
// choice; compress/flate's reader stalled on it, see compress.go) or
// Z_SYNC_FLUSH, given as argv[3].
const compressClient = `
import imaplib, sys, zlib

imaplib.Commands['COMPRESS'] = ('AUTH', 'SELECTED')

class Z(imaplib.IMAP4):
    def compress(self, flush):
        typ, dat = self._simple_command('COMPRESS', 'DEFLATE')
        if typ != 'OK':
            raise SystemExit('COMPRESS: %r' % dat)
        self._z = zlib.compressobj(6, zlib.DEFLATED, -15)
        self._u = zlib.decompressobj(-15)
        self._flush = flush
        self._in = b''

    def send(self, data):
        if hasattr(self, '_z'):
            data = self._z.compress(data) + self._z.flush(self._flush)
        self.sock.sendall(data)

    def _more(self):
        chunk = self.file.read1(65536)
        if not chunk:
            raise imaplib.IMAP4.abort('connection closed')
        self._in += self._u.decompress(chunk)

    def read(self, size):
        if not hasattr(self, '_z'):
            return super().read(size)
        while len(self._in) < size:
            self._more()
        out, self._in = self._in[:size], self._in[size:]
        return out

    def readline(self):
        if not hasattr(self, '_z'):
            return super().readline()
        while b'\n' not in self._in:
            self._more()
        i = self._in.index(b'\n') + 1
        out, self._in = self._in[:i], self._in[i:]
        return out

host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = Z(host, port)
c.login('alice@example.com', 'correct horse')
c.compress(zlib.Z_PARTIAL_FLUSH if mode == 'partial' else zlib.Z_SYNC_FLUSH)
print(c.select('INBOX')[1][0].decode())
typ, dat = c.fetch('1:3', '(BODY.PEEK[])')
bodies = [d[1] for d in dat if isinstance(d, tuple)]
print(len(bodies), sum(len(b) for b in bodies))
print(c.append('INBOX', '(\\Seen)', None, b'Subject: appended\r\n\r\n' + b'compressed append\r\n' * 2000)[0])
print(c.noop()[0], c.select('INBOX')[1][0].decode())
print(c.logout()[0])
`

// Python imaplib over zlib, with the flush isync uses and the one RFC
// 4978 recommends: every command is answered at once.
func TestCompressPythonZlib(t *testing.T) {
	prototest.NeedProgram(t, "python3", "python3")
	e := newEnv(t, envOptions{})
	big := testMessage(3) + strings.Repeat("a line of body text that compresses well\r\n", 5000)
	e.deliver(testUser, testMessage(1), testMessage(2), big)
	host, port, _ := net.SplitHostPort(e.addr)
	total := len(testMessage(1)) + len(testMessage(2)) + len(big)
	for _, mode := range []string{"partial", "sync"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "python3", "-c", compressClient, host, port, mode).CombinedOutput()
			if err != nil {
				t.Fatalf("imaplib with %s flushes: %v\n%s", mode, err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 5 || !strings.HasPrefix(lines[1], "3 "+fmt.Sprint(total)) ||
				lines[2] != "OK" || !strings.HasPrefix(lines[3], "OK ") || lines[4] != "BYE" {
				t.Fatalf("imaplib with %s flushes:\n%s", mode, out)
			}
		})
	}
	msgs := e.messages(testUser, "INBOX")
	if len(msgs) != 5 {
		t.Fatalf("INBOX has %d messages after two compressed APPENDs, want 5", len(msgs))
	}
}

// messages lists a mailbox of an account straight from the store.
func (e *env) messages(address, mailbox string) []store.Message {
	e.t.Helper()
	ctx := context.Background()
	mb, err := e.store.GetMailbox(ctx, e.account(address).ID, mailbox)
	if err != nil {
		e.t.Fatal(err)
	}
	msgs, err := e.store.ListMessages(ctx, mb.ID, store.MessageQuery{})
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

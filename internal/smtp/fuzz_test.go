package smtp

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// fuzzSeeds are whole client sides of SMTP sessions: the transcript
// tests' commands plus the nasty bits (smuggling, BDAT cut short, AUTH
// exchanges, long lines, NULs).
var fuzzSeeds = []string{
	"EHLO c\r\nMAIL FROM:<x@client.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n",
	"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<sales@example.org>\r\nDATA\r\n..dot\r\n.\r\nRSET\r\nNOOP\r\nVRFY bob\r\nQUIT\r\n",
	"EHLO c\r\nMAIL FROM:<x@c.example> SIZE=10 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=abc\r\nRCPT TO:<alice@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice@example.org\r\nBDAT 5\r\nhelloBDAT 3 LAST\r\nabc",
	"EHLO c\r\nMAIL FROM:<x@c.example>\r\nRCPT TO:<alice@example.org>\r\nBDAT 1000 LAST\r\nshort",
	"EHLO c\r\nMAIL FROM:<x@c.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nA\n.\nMAIL FROM:<evil@c.example>\r\n\r\n.\r\n",
	"EHLO c\r\nAUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice@example.org\x00"+testPass)) + "\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<someone@remote.example>\r\nDATA\r\nFrom: alice@example.org\r\n\r\nx\r\n.\r\n",
	"EHLO c\r\nAUTH LOGIN\r\nYWxpY2U=\r\n*\r\nAUTH SCRAM-SHA-256 biwsbj1hbGljZSxyPWFiYw==\r\nAAAA\r\nAUTH CRAM-MD5\r\n\r\n",
	"EHLO c\r\nSTARTTLS\r\nEHLO c\r\n",
	"FOO\r\nMAIL\r\nRCPT\r\nDATA\r\nBDAT\r\nBDAT x\r\nBDAT 1 FIRST\r\nEHLO\r\nHELO\r\n\r\nMAI\r\nMAILX FROM\r\n",
	"EHLO \x00\xff\r\nMAIL FROM:<\x00@x>\r\nRCPT TO:<" + strings.Repeat("a", 300) + "@example.org>\r\n",
	"EHLO c\r\n" + strings.Repeat("x", 20000) + "\r\n",
	"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n" + strings.Repeat("H: v\r\n", 200) + "\r\nbody",
	"QUIT",
	"",
}

// statePrefixes put a fuzzed session in each state before its own bytes:
// an input whose first byte is below len(statePrefixes) starts with that
// prefix instead (the fuzz target replayed in every state; the seeds,
// which start with letters, run as they are).
var statePrefixes = []string{
	"EHLO c\r\n",
	"HELO c\r\nMAIL FROM:<x@c.example>\r\n",
	"EHLO c\r\nMAIL FROM:<x@c.example>\r\nRCPT TO:<alice@example.org>\r\n",
	"EHLO c\r\nMAIL FROM:<x@c.example>\r\nRCPT TO:<alice@example.org>\r\nBDAT 5\r\nhello",
	"EHLO c\r\nMAIL FROM:<x@c.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n",
	"EHLO c\r\nAUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice@example.org\x00"+testPass)) + "\r\n",
	"EHLO c\r\nAUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice@example.org\x00"+testPass)) +
		"\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<someone@remote.example>\r\n",
	"EHLO c\r\nAUTH LOGIN\r\n",
}

// FuzzSession feeds whole client sessions to the MX and submission
// handlers with the real store behind them: no input may panic the
// session (nothing recovers it here: a panic crashes the run, and the
// fuzzer keeps the input) or hang it.
func FuzzSession(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	for i := range statePrefixes {
		f.Add(i >= 5, append([]byte{byte(i)}, "NOOP\r\nRSET\r\nBDAT 3 LAST\r\nabcQUIT\r\n"...))
	}
	e := newEnv(f, envOptions{configure: func(s *Server) {
		s.Logger = slog.New(slog.DiscardHandler)
		s.AllowPlaintext = true // net.Pipe is not loopback
		s.CommandTimeout = 5 * time.Second
		s.DataTimeout = 5 * time.Second
		s.MaxMessageSize = 64 << 10
	}})
	handlers := map[bool]*Handler{false: e.srv.Handler(ModeMX), true: e.srv.Handler(ModeSubmission)}
	f.Fuzz(func(t *testing.T, submission bool, data []byte) {
		cli, srv := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			handlers[submission].ServeConn(context.Background(), srv)
		}()
		go func() { _, _ = io.Copy(io.Discard, cli) }()
		_ = cli.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if len(data) > 0 && int(data[0]) < len(statePrefixes) {
			data = append([]byte(statePrefixes[data[0]]), data[1:]...)
		}
		_, _ = cli.Write(data)
		cli.Close()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("session hangs on %q", data)
		}
	})
}

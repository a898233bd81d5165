package pop3

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Seeds shared by both fuzz targets: the command lines of the transcript
// tests, plus the nasty bits.
var fuzzSeeds = []string{
	"STAT\r\nLIST\r\nLIST 1\r\nUIDL\r\nUIDL 2\r\nRETR 1\r\nTOP 2 0\r\nTOP 1 1000\r\nDELE 1\r\nRSET\r\nNOOP\r\nQUIT\r\n",
	"DELE 1\r\nDELE 1\r\nRETR 1\r\nLIST 1\r\nRSET\r\nLAST\r\n",
	"RETR 0\r\nRETR 99999999999999999999999\r\nRETR abc\r\nRETR -1\r\nTOP 1\r\nTOP 1 x\r\nSTAT extra\r\n",
	"CAPA\r\nLANG\r\nLANG en\r\nLANG fr\r\nUTF8\r\nAUTH\r\n",
	"USER " + testUser + "\r\nPASS " + testPass + "\r\nSTAT\r\n",
	"AUTH PLAIN\r\n*\r\nAUTH PLAIN =\r\nAUTH PLAIN !!!\r\nAUTH LOGIN\r\n" + b64(testUser) + "\r\n" + b64("x") + "\r\n",
	"AUTH SCRAM-SHA-256 " + b64("n,,n=alice@example.com,r=abc") + "\r\n" + b64("c=biws,r=abc,p=AAAA") + "\r\n",
	"APOP " + testUser + " 0123456789abcdef0123456789abcdef\r\nAUTH CRAM-MD5\r\n\r\n",
	"STLS\r\nCAPA\r\n",
	"STAT\x00\r\nNOOP\x01\r\nLIST \xff\xfe\r\nSTAT\rNOOP\r\nSTAT\n",
	"RETR 1" + strings.Repeat("x", 600) + "\r\nSTAT\r\n",
	"AUTH PLAIN " + strings.Repeat("A", 9000) + "\r\n",
	"QUIT",
	"",
}

// FuzzCommandParser checks the command-line parser: no panic, and what it
// accepts has a well-formed keyword and argument count.
func FuzzCommandParser(f *testing.F) {
	for _, s := range fuzzSeeds {
		for _, l := range strings.Split(s, "\r\n") {
			f.Add([]byte(l))
		}
	}
	srv := &Server{EnableLAST: true}
	f.Fuzz(func(t *testing.T, line []byte) {
		name, rest, err := splitCommand(line)
		if err != nil {
			return
		}
		n := 0
		for _, c := range name {
			if c == 0 {
				break
			}
			n++
			if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				t.Fatalf("keyword %q from %q", name, line)
			}
		}
		if n < 3 {
			t.Fatalf("keyword %q too short from %q", name, line)
		}
		cmd := lookupCommand(name, srv)
		if cmd == nil {
			return
		}
		args, err := cmd.parseArgs(rest)
		if err != nil {
			return
		}
		if len(args) < cmd.minArgs || len(args) > cmd.maxArgs {
			t.Fatalf("%s: %d args %q accepted", cmd.name, len(args), args)
		}
		for _, a := range args {
			if a == "" || (!cmd.rawArg && strings.Contains(a, " ")) {
				t.Fatalf("%s: bad argument %q", cmd.name, a)
			}
		}
	})
}

// FuzzSession feeds arbitrary bytes to a session, before and after login:
// it must never panic (the env's cleanup checks the counter) nor hang.
func FuzzSession(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	e := newEnv(f, envOptions{noDelay: true, legacy: true}, func(s *Server) {
		s.Logger = nil
		s.AllowPlaintext = true // net.Pipe is not loopback
		s.EnableLAST = true
		s.MaxBadCommands = 50
		s.IdleTimeout = 5 * time.Second
	})
	srvTLS, _ := testTLS(f)
	e.srv.TLSConfig = srvTLS
	e.deliver(testUser, msg1, crlf("Subject: dots\n\n.\n..\nx\n."), msg2)
	login := "USER " + testUser + "\r\nPASS " + testPass + "\r\n"

	f.Fuzz(func(t *testing.T, loggedIn bool, data []byte) {
		cli, srv := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			e.srv.ServeConn(context.Background(), srv)
		}()
		go func() { _, _ = io.Copy(io.Discard, cli) }()
		_ = cli.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if loggedIn {
			_, _ = io.WriteString(cli, login)
		}
		_, _ = cli.Write(data)
		cli.Close()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("session hangs on %q", data)
		}
		if n := e.srv.RecoveredPanics(); n != 0 {
			t.Fatalf("session panicked on %q", data)
		}
	})
}

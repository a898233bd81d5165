package managesieve

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/prototest"
)

var fuzzSeeds = []string{
	"CAPABILITY\r\n",
	"PUTSCRIPT \"a\" {5+}\r\nkeep;\r\n",
	"PUTSCRIPT {1}\r\nx \"b\"\r\n",
	"HAVESPACE \"x\\\"y\" 123\r\n",
	"GETSCRIPT \"\xff\"\r\n",
	"NOOP {99999999999+}\r\n",
	"AUTHENTICATE \"PLAIN\"\r\n{3+}\r\nabc\r\n",
	"A {2+}\r\nab {2+}\r\ncd {0}\r\n\r\n",
	"\r\n\n \"\" {}\r\n",
}

// FuzzCommand: the command reader never panics, never returns a command
// without its atom, and keeps its bounds.
func FuzzCommand(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &commandReader{br: bufio.NewReader(bytes.NewReader(in)), maxLiteral: 64}
		for range 100 {
			args, err := r.readCommand()
			if err != nil {
				if errIsFatal(err) {
					return
				}
				continue
			}
			if len(args) == 0 || args[0].kind != argAtom || len(args) > maxArgs {
				t.Fatalf("command %+v from %q", args, in)
			}
			for _, a := range args {
				if a.kind == argString && len(a.s) > maxLine+64 {
					t.Fatalf("argument of %d octets", len(a.s))
				}
			}
		}
	})
}

// errIsFatal reports read errors that end the stream.
func errIsFatal(err error) bool {
	return err != errSyntax && err != errLineTooLong && err != errTooManyArgs && err != errLiteralTooLarge
}

// FuzzSession replays input in both states on a real store: the session
// ends when the input does, never panics, never hangs.
func FuzzSession(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	e := newEnv(f)
	e.srv.Logger = nil // f.Log may not be called inside the target
	login := []byte("AUTHENTICATE \"PLAIN\" \"" + plain("alice@example.org", "secret") + "\"\r\n")
	f.Fuzz(func(t *testing.T, in []byte, authed bool) {
		chunks := [][]byte{in}
		if authed {
			chunks = [][]byte{login, in}
		}
		prototest.ServeBytes(t, 10*time.Second, func(c net.Conn) {
			e.srv.ServeConn(context.Background(), remoteConn{c, loopback})
		}, chunks...)
	})
}

package pop3

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// benchBody makes a message of about size octets; with dots, every tenth
// line starts with "." so RETR must stuff it.
func benchBody(size int, dots bool) string {
	var b strings.Builder
	b.WriteString("From: bench@example.net\r\nSubject: bench\r\n\r\n")
	for i := 0; b.Len() < size; i++ {
		if dots && i%10 == 0 {
			b.WriteString(".")
		}
		b.WriteString("The quick brown fox jumps over the lazy dog, line " + strconv.Itoa(i) + "\r\n")
	}
	return b.String()
}

func BenchmarkRETR(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
		dots bool
	}{
		{"4KiB", 4 << 10, false},
		{"20KiB-dotted", 20 << 10, true}, // typical: inline in the store
		{"64KiB", 64 << 10, false},
		{"1MiB", 1 << 20, false},
		{"1MiB-dotted", 1 << 20, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, envOptions{}, func(s *Server) { s.Logger = nil })
			body := benchBody(bc.size, bc.dots)
			e.deliver(testUser, body)
			c := e.login()
			want := "+OK " + strconv.Itoa(len(body)) + " octets\r\n" + stuff(body)
			buf := make([]byte, len(want))
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			prototest.ReportCPU(b) // server and client: both in this process
			for b.Loop() {
				c.write("RETR 1\r\n")
				if _, err := io.ReadFull(c.r, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if string(buf) != want {
				b.Fatalf("RETR sent something else (%d octets)", len(buf))
			}
		})
	}
}

func BenchmarkSessionLoginStatUidlQuit(b *testing.B) {
	e := newEnv(b, envOptions{}, func(s *Server) { s.Logger = nil })
	e.deliver(testUser, msg1, msg2, msg1, msg2, msg1)
	c := e.login() // warm the verified-credentials cache
	c.send("QUIT")
	c.line()
	e.waitIdle()
	b.ResetTimer()
	for b.Loop() {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			b.Fatal(err)
		}
		c := &client{t: b, conn: conn, r: bufio.NewReaderSize(conn, 4096)}
		c.line()
		c.send("USER " + testUser)
		c.line()
		c.send("PASS " + testPass)
		c.line()
		c.send("STAT")
		c.line()
		c.send("UIDL")
		c.line()
		c.multiline()
		c.send("QUIT")
		if l := c.line(); l != "+OK Logging out" {
			b.Fatal(l)
		}
		conn.Close()
	}
}

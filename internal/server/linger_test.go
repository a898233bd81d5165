package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/tlsutil/tlstest"
)

// Linger under TLS, implicit (raw is the *tls.Conn) and upgraded (conn is
// TLS over raw): a client that wrote more than the server read before it
// reads gets the last reply, then the end of the stream (close_notify,
// FIN), never a reset; the drain reads below TLS.
func TestLingerUnderTLS(t *testing.T) {
	srvTLS, cliTLS := tlstest.Configs(t, "mx.example.org")
	for _, implicit := range []bool{true, false} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		done := make(chan int64, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				done <- -1
				return
			}
			defer c.Close()
			tc := tls.Server(c, srvTLS)
			r := bufio.NewReader(tc)
			if _, err := r.ReadString('\n'); err != nil { // one line of many
				done <- -1
				return
			}
			io.WriteString(tc, "421 too many errors\r\n")
			conn, raw := net.Conn(tc), c
			if implicit {
				conn, raw = struct{ net.Conn }{tc}, tc // a wrapper over TLS, as SMTP's
			}
			n, _ := Linger(context.Background(), conn, raw, Pacing{LineTimeout: 5 * time.Second}.Start(time.Now()), 1<<20)
			done <- n
		}()
		c, err := tls.Dial("tcp", l.Addr().String(), cliTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, strings.Repeat("FOO\r\n", 40000)); err != nil { // 200 KB
			t.Fatal(err)
		}
		c.CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got, err := io.ReadAll(c)
		if string(got) != "421 too many errors\r\n" || err != nil {
			t.Errorf("implicit %v: read %q, %v; want the reply, then the end", implicit, got, err)
		}
		if n := <-done; n <= 0 {
			t.Errorf("implicit %v: the drain dropped %d octets", implicit, n)
		}
	}
}

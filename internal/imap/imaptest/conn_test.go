package imaptest

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scripted is a loopback server that runs fn on the one connection it
// accepts; fn's failures are reported through the test.
func scripted(t *testing.T, fn func(r *bufio.Reader, w net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fn(bufio.NewReader(c), c)
	}()
	return l.Addr().String()
}

func readLine(r *bufio.Reader) string {
	l, _ := r.ReadString('\n')
	return strings.TrimRight(l, "\r\n")
}

func TestConnLiterals(t *testing.T) {
	got := make(chan string, 10)
	addr := scripted(t, func(r *bufio.Reader, w net.Conn) {
		io.WriteString(w, "* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n")
		// APPEND with a synchronising literal: "+" only after an
		// untagged response, which the client must keep.
		l := readLine(r)
		got <- l
		io.WriteString(w, "* 1 EXISTS\r\n+ go ahead\r\n")
		data := make([]byte, 5)
		io.ReadFull(r, data)
		got <- string(data) + readLine(r)
		io.WriteString(w, "t1 OK [APPENDUID 9 1] done\r\n")
		// A refused literal: the client must not send its data.
		got <- readLine(r)
		io.WriteString(w, "t2 NO [TOOBIG] too big\r\n")
		// LITERAL+ and literal8 non-sync go in one write.
		l = readLine(r)
		data = make([]byte, 3)
		io.ReadFull(r, data)
		got <- l + "|" + string(data) + readLine(r)
		io.WriteString(w, "t3 OK done\r\n")
	})
	c, err := Dial(addr, Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if caps := Capabilities(c.Greeting); len(caps) != 2 || caps[1] != "LITERAL+" {
		t.Errorf("greeting capabilities %v", caps)
	}
	res, err := c.Do("APPEND INBOX", Lit("hello"))
	if err != nil || !res.OK() || len(res.Untagged) != 1 || res.Untagged[0].Name != "EXISTS" || res.Status.Code != "APPENDUID" {
		t.Fatalf("APPEND: %+v %v", res, err)
	}
	if l := <-got; l != "t1 APPEND INBOX {5}" {
		t.Errorf("server got %q", l)
	}
	if l := <-got; l != "hello" {
		t.Errorf("server got data %q", l)
	}
	res, err = c.Do("APPEND INBOX", Lit(strings.Repeat("x", 100)))
	if err != nil || res.OK() || res.Status.Code != "TOOBIG" {
		t.Fatalf("refused APPEND: %+v %v", res, err)
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "t2 APPEND INBOX {100}") {
		t.Errorf("Err names the command: %v", err)
	}
	<-got
	if _, err := c.MustOK("X", LitPlus("abc"), Literal{Data: "", Mode: BinaryNonSync}); err != nil {
		t.Fatal(err)
	}
	if l := <-got; l != "t3 X {3+}|abc ~{0+}" {
		t.Errorf("server got %q", l)
	}
}

func TestConnIdleAndTimeout(t *testing.T) {
	addr := scripted(t, func(r *bufio.Reader, w net.Conn) {
		io.WriteString(w, "* OK hi\r\n")
		readLine(r)
		io.WriteString(w, "+ idling\r\n* 2 EXISTS\r\n")
		if readLine(r) != "DONE" {
			return
		}
		io.WriteString(w, "* 1 EXPUNGE\r\nt1 OK done\r\n")
		readLine(r) // t2 NOOP: never answered
		readLine(r)
	})
	c, err := Dial(addr, Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Idle(func() ([]*Response, error) {
		r, err := c.ReadResponse()
		if err != nil {
			return nil, err
		}
		return []*Response{r}, nil
	})
	if err != nil || !res.OK() || len(res.Untagged) != 2 || res.Untagged[0].Num != 2 || res.Untagged[1].Name != "EXPUNGE" {
		t.Fatalf("IDLE: %+v %v", res, err)
	}
	c.o.Timeout = 200 * time.Millisecond
	start := time.Now()
	if _, err := c.Do("NOOP"); err == nil || !strings.Contains(err.Error(), "t2 NOOP") {
		t.Errorf("unanswered NOOP: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout took %v", d)
	}
}

func TestQuote(t *testing.T) {
	if q := Quote(`a"b\c`); q != `"a\"b\\c"` {
		t.Errorf("Quote: %s", q)
	}
	if strconv.Quote("x") != `"x"` {
		t.Fatal("sanity")
	}
}

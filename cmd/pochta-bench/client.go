package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"
)

// dialOptions say how to reach the server under test.
type dialOptions struct {
	Addr string
	// TLS selects implicit TLS (POP3S). The certificate is not verified:
	// the tool measures loopback servers with throw-away certificates.
	TLS     bool
	Timeout time.Duration // per command; 0 = 60s
}

// conn is a minimal POP3 client: just the RFC 1939 commands the load modes
// need, with every reply checked.
type conn struct {
	nc      net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	timeout time.Duration
}

// replyError is a -ERR (or garbled) status line from the server.
type replyError struct {
	cmd, line string
}

func (e *replyError) Error() string {
	return fmt.Sprintf("%s: server replied %q", e.cmd, e.line)
}

// connect opens the transport every mode uses: TCP from local (nil = any
// address), then implicit TLS when o.TLS. It returns the connection with
// its deadline set, and the per-command timeout.
func (o dialOptions) connect(ctx context.Context, local net.Addr) (net.Conn, time.Duration, error) {
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	d := net.Dialer{Timeout: timeout, LocalAddr: local}
	nc, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, 0, err
	}
	if o.TLS {
		host, _, _ := net.SplitHostPort(o.Addr)
		tc := tls.Client(nc, &tls.Config{ServerName: host, InsecureSkipVerify: true})
		tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, 0, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	nc.SetDeadline(time.Now().Add(timeout))
	return nc, timeout, nil
}

// dial connects and reads the greeting.
func dial(ctx context.Context, o dialOptions) (*conn, error) {
	nc, timeout, err := o.connect(ctx, nil)
	if err != nil {
		return nil, err
	}
	c := &conn{
		nc:      nc,
		r:       bufio.NewReaderSize(nc, 32<<10),
		w:       bufio.NewWriterSize(nc, 1024),
		timeout: timeout,
	}
	if _, err := c.status("greeting"); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *conn) Close() error { return c.nc.Close() }

// status reads one status line and returns the text after "+OK".
func (c *conn) status(cmd string) ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return nil, fmt.Errorf("%s: reading reply: %w", cmd, err)
	}
	line = bytes.TrimRight(line, "\r\n")
	if !bytes.HasPrefix(line, []byte("+OK")) {
		return nil, &replyError{cmd: cmd, line: string(line)}
	}
	return line[3:], nil
}

// cmd sends one command line and reads its status line. The name is what
// errors show, so a password never ends up in a report.
func (c *conn) cmd(name, line string) ([]byte, error) {
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	c.w.WriteString(line)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c.status(name)
}

func (c *conn) login(user, pass string) error {
	if _, err := c.cmd("USER", "USER "+user); err != nil {
		return err
	}
	_, err := c.cmd("PASS", "PASS "+pass)
	return err
}

// stat returns the message count and maildrop size.
func (c *conn) stat() (int, int64, error) {
	text, err := c.cmd("STAT", "STAT")
	if err != nil {
		return 0, 0, err
	}
	f := bytes.Fields(text)
	if len(f) < 2 {
		return 0, 0, &replyError{cmd: "STAT", line: "+OK" + string(text)}
	}
	n, err1 := strconv.Atoi(string(f[0]))
	size, err2 := strconv.ParseInt(string(f[1]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, &replyError{cmd: "STAT", line: "+OK" + string(text)}
	}
	return n, size, nil
}

// uidl returns how many lines the UIDL listing had.
func (c *conn) uidl() (int, error) {
	if _, err := c.cmd("UIDL", "UIDL"); err != nil {
		return 0, err
	}
	return countLines(c.r, nil)
}

// listEntry is one line of a LIST listing.
type listEntry struct {
	Num  int
	Size int64
}

// list returns the scan listing of the maildrop.
func (c *conn) list() ([]listEntry, error) {
	if _, err := c.cmd("LIST", "LIST"); err != nil {
		return nil, err
	}
	var out []listEntry
	_, err := countLines(c.r, func(line []byte) error {
		f := bytes.Fields(line)
		if len(f) < 2 {
			return fmt.Errorf("LIST: bad line %q", line)
		}
		num, err1 := strconv.Atoi(string(f[0]))
		size, err2 := strconv.ParseInt(string(f[1]), 10, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("LIST: bad line %q", line)
		}
		out = append(out, listEntry{Num: num, Size: size})
		return nil
	})
	return out, err
}

// sizeMismatch is a RETR whose un-stuffed body differs from the LIST size.
type sizeMismatch struct {
	Num       int
	Want, Got int64
}

func (e *sizeMismatch) Error() string {
	return fmt.Sprintf("RETR %d: got %d octets, LIST said %d", e.Num, e.Got, e.Want)
}

// retr downloads message num and checks its size against want. It returns
// the octets received.
func (c *conn) retr(num int, want int64) (int64, error) {
	if _, err := c.cmd("RETR", "RETR "+strconv.Itoa(num)); err != nil {
		return 0, err
	}
	got, err := readBody(c.r)
	if err != nil {
		return got, fmt.Errorf("RETR %d: %w", num, err)
	}
	if got != want {
		return got, &sizeMismatch{Num: num, Want: want, Got: got}
	}
	return got, nil
}

func (c *conn) dele(num int) error {
	_, err := c.cmd("DELE", "DELE "+strconv.Itoa(num))
	return err
}

// quit ends the session (entering UPDATE) and closes the connection.
func (c *conn) quit() error {
	_, err := c.cmd("QUIT", "QUIT")
	c.nc.Close()
	return err
}

package e2e_test

import (
	"bufio"
	"crypto/md5"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// popConn is a minimal POP3 client for tests that must tell a server's
// refusal (*popError) from a connection that died (any other error): the
// crash test kills the server under it.
type popConn struct {
	conn     net.Conn
	r        *bufio.Reader
	greeting string // the greeting's text after +OK
}

// popError is an -ERR answer.
type popError struct{ line string }

func (e *popError) Error() string { return "server answered " + strconv.Quote(e.line) }

func dialPOP3(addr string) (*popConn, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	p := &popConn{conn: conn, r: bufio.NewReader(conn)}
	g, err := p.status()
	if err != nil {
		conn.Close()
		return nil, err
	}
	p.greeting = g
	return p, nil
}

func (p *popConn) close() { p.conn.Close() }

// status reads a status line: its text after "+OK", or an error.
func (p *popConn) status() (string, error) {
	l, err := p.line()
	if err != nil {
		return "", err
	}
	if rest, ok := strings.CutPrefix(l, "+OK"); ok {
		return strings.TrimPrefix(rest, " "), nil
	}
	return "", &popError{l}
}

func (p *popConn) line() (string, error) {
	l, err := p.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(l, "\r\n") {
		return "", &popError{"line without CRLF: " + l}
	}
	return strings.TrimSuffix(l, "\r\n"), nil
}

// cmd sends one command and reads its status line.
func (p *popConn) cmd(line string) (string, error) {
	if _, err := p.conn.Write([]byte(line + "\r\n")); err != nil {
		return "", err
	}
	return p.status()
}

func (p *popConn) login(user, pass string) (string, error) {
	if _, err := p.cmd("USER " + user); err != nil {
		return "", err
	}
	return p.cmd("PASS " + pass)
}

// apop logs in with APOP (RFC 1939 section 7): the digest of the
// greeting's timestamp and the account's legacy secret.
func (p *popConn) apop(user, secret string) (string, error) {
	i, j := strings.IndexByte(p.greeting, '<'), strings.LastIndexByte(p.greeting, '>')
	if i < 0 || j < i {
		return "", &popError{"+OK " + p.greeting + " (no APOP timestamp)"}
	}
	return p.cmd(fmt.Sprintf("APOP %s %x", user, md5.Sum([]byte(p.greeting[i:j+1]+secret))))
}

func (p *popConn) stat() (int, error) {
	s, err := p.cmd("STAT")
	if err != nil {
		return 0, err
	}
	var n, size int
	if _, err := fmt.Sscanf(s, "%d %d", &n, &size); err != nil {
		return 0, &popError{"STAT: " + s}
	}
	return n, nil
}

// multiline reads a multi-line body after its +OK, undoing dot-stuffing;
// lines are joined with CRLF as the server's store holds them.
func (p *popConn) multiline() (string, error) {
	var b strings.Builder
	for {
		l, err := p.line()
		if err != nil {
			return "", err
		}
		if l == "." {
			return b.String(), nil
		}
		b.WriteString(strings.TrimPrefix(l, "."))
		b.WriteString("\r\n")
	}
}

func (p *popConn) retr(n int) (string, error) {
	if _, err := p.cmd("RETR " + strconv.Itoa(n)); err != nil {
		return "", err
	}
	return p.multiline()
}

// uidl returns the unique-ids of messages 1..n in order.
func (p *popConn) uidl() ([]string, error) {
	if _, err := p.cmd("UIDL"); err != nil {
		return nil, err
	}
	body, err := p.multiline()
	if err != nil {
		return nil, err
	}
	var out []string
	for i, l := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
		if l == "" {
			continue
		}
		num, uidl, ok := strings.Cut(l, " ")
		if !ok || num != strconv.Itoa(i+1) {
			return nil, &popError{"UIDL line " + l}
		}
		out = append(out, uidl)
	}
	return out, nil
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// The IMAP modes:
//
//	imapfetch  LOGIN, SELECT INBOX, UID FETCH 1:* (UID FLAGS ENVELOPE), then
//	           UID FETCH 1:* (BODY.PEEK[]), LOGOUT, repeatedly; a message
//	           counts once its envelope and its body arrived. Every count is
//	           checked against EXISTS and every literal read to its length.
//	imapidle   open -c connections (spread over the -src addresses), LOGIN,
//	           SELECT INBOX, IDLE; print READY and hold them -hold long.

// imapConn is a minimal IMAP client: tagged commands, untagged lines and
// literals counted, nothing parsed beyond what the checks need.
type imapConn struct {
	nc      net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	timeout time.Duration
	tag     int
}

// imapReply is what one command's response held.
type imapReply struct {
	exists  int   // last "* n EXISTS"
	fetches int   // "* n FETCH" responses
	literal int64 // literal octets read
}

func dialIMAP(ctx context.Context, o dialOptions, local net.Addr) (*imapConn, error) {
	nc, timeout, err := o.connect(ctx, local)
	if err != nil {
		return nil, err
	}
	c := &imapConn{nc: nc, r: bufio.NewReaderSize(nc, 32<<10), w: bufio.NewWriter(nc), timeout: timeout}
	line, err := c.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "* OK") {
		nc.Close()
		return nil, fmt.Errorf("greeting %q: %v", line, err)
	}
	return c, nil
}

func (c *imapConn) Close() error { return c.nc.Close() }

// quote writes an IMAP quoted string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// cmd sends one command and reads its whole response.
func (c *imapConn) cmd(command string) (imapReply, error) {
	var rep imapReply
	c.tag++
	tag := "b" + strconv.Itoa(c.tag)
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	c.w.WriteString(tag + " " + command + "\r\n")
	if err := c.w.Flush(); err != nil {
		return rep, err
	}
	for {
		line, err := c.readLine(&rep)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", firstWord(command), err)
		}
		if strings.HasPrefix(line, tag+" ") {
			if !strings.HasPrefix(line[len(tag)+1:], "OK") {
				return rep, &replyError{cmd: firstWord(command), line: line}
			}
			return rep, nil
		}
		if strings.HasPrefix(line, "* ") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[2] == "EXISTS" {
				rep.exists, _ = strconv.Atoi(f[1])
			} else if len(f) >= 3 && f[2] == "FETCH" {
				rep.fetches++
			}
		}
	}
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	if w == "UID" {
		w = s[:min(len(s), 9)]
	}
	return w
}

// readLine reads one response line, skipping over any literals in it
// (their bytes are counted, not kept). It returns the text before the
// first literal, which is all the checks look at.
func (c *imapConn) readLine(rep *imapReply) (string, error) {
	var first string
	for i := 0; ; i++ {
		line, err := c.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long line without literals: keep its start, drop the rest.
			if i == 0 {
				first = string(line)
			}
			for err == bufio.ErrBufferFull {
				line, err = c.r.ReadSlice('\n')
			}
			i = 1
		}
		if err != nil {
			return "", err
		}
		if i == 0 {
			first = strings.TrimRight(string(line), "\r\n")
		}
		n := literalLen(line)
		if n < 0 {
			return first, nil
		}
		if _, err := c.r.Discard(int(n)); err != nil {
			return "", err
		}
		rep.literal += n
	}
}

// literalLen returns n for a line ending in "{n}\r\n", else -1.
func literalLen(line []byte) int64 {
	line = bytes.TrimRight(line, "\r\n")
	if len(line) < 3 || line[len(line)-1] != '}' {
		return -1
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(string(line[i+1:len(line)-1]), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// imapFetchOnce is one imapfetch session.
func imapFetchOnce(c *config, a account, t *tally) error {
	cn, err := dialIMAP(context.Background(), c.Dial, nil)
	if err != nil {
		return err
	}
	defer cn.Close()
	if _, err := cn.cmd("LOGIN " + quote(a.User) + " " + quote(a.Pass)); err != nil {
		return err
	}
	if err := fetchMailbox(cn, a, t); err != nil {
		return err
	}
	_, err = cn.cmd("LOGOUT")
	return err
}

// persistentFetch is "imapfetch -persist" (see persistent): a "session"
// is SELECT and the two FETCHes on one logged-in connection. Call the
// returned func when the run is over.
func persistentFetch() (sessionFunc, func()) {
	p := &persistent[*imapConn]{
		login: func(c *config, a account) (*imapConn, error) {
			cn, err := dialIMAP(context.Background(), c.Dial, nil)
			if err != nil {
				return nil, err
			}
			if _, err := cn.cmd("LOGIN " + quote(a.User) + " " + quote(a.Pass)); err != nil {
				cn.Close()
				return nil, err
			}
			return cn, nil
		},
		work:  fetchMailbox,
		conns: map[*tally]*imapConn{},
	}
	return p.step, p.closeAll
}

// fetchMailbox selects INBOX and fetches every envelope, then every body,
// checking the counts against EXISTS.
func fetchMailbox(cn *imapConn, a account, t *tally) error {
	sel, err := cn.cmd("SELECT INBOX")
	if err != nil {
		return err
	}
	t0 := time.Now()
	env, err := cn.cmd("UID FETCH 1:* (UID FLAGS ENVELOPE)")
	if err != nil {
		return err
	}
	t1 := time.Now()
	bodies, err := cn.cmd("UID FETCH 1:* (BODY.PEEK[])")
	if err != nil {
		return err
	}
	t.OpLat = append(t.OpLat, t1.Sub(t0), time.Since(t1))
	if env.fetches != sel.exists || bodies.fetches != sel.exists {
		t.Mismatches++
		t.fail(fmt.Errorf("%s: EXISTS %d, but %d envelopes and %d bodies", a.User, sel.exists, env.fetches, bodies.fetches))
	} else {
		t.Messages += int64(sel.exists)
		t.Bytes += bodies.literal
	}
	return nil
}

// localAddrs parses -src: comma-separated IP addresses to dial from.
func localAddrs(spec string) ([]net.Addr, error) {
	if spec == "" {
		return []net.Addr{nil}, nil
	}
	var out []net.Addr
	for _, s := range strings.Split(spec, ",") {
		ip := net.ParseIP(strings.TrimSpace(s))
		if ip == nil {
			return nil, fmt.Errorf("-src: %q is not an IP address", s)
		}
		out = append(out, &net.TCPAddr{IP: ip})
	}
	return out, nil
}

// imapIdle holds c.Conc IDLE sessions (see holdConns), spread over the
// source addresses of -src, and ends them with DONE and LOGOUT.
func imapIdle(ctx context.Context, c *config) (*tally, int, error) {
	srcs, err := localAddrs(c.Src)
	if err != nil {
		return nil, 0, err
	}
	open := func(i int) (*imapConn, error) {
		cn, err := dialIMAP(ctx, c.Dial, srcs[i%len(srcs)])
		if err == nil {
			err = cn.startIdle(c.Accounts[i%len(c.Accounts)])
		}
		if err != nil && cn != nil {
			cn.Close()
		}
		return cn, err
	}
	end := func(cn *imapConn) error {
		defer cn.Close()
		return cn.stopIdle()
	}
	total, n := holdConns(ctx, c, open, end)
	return total, n, nil
}

func (c *imapConn) startIdle(a account) error {
	if _, err := c.cmd("LOGIN " + quote(a.User) + " " + quote(a.Pass)); err != nil {
		return err
	}
	if _, err := c.cmd("SELECT INBOX"); err != nil {
		return err
	}
	c.tag++
	c.w.WriteString("b" + strconv.Itoa(c.tag) + " IDLE\r\n")
	if err := c.w.Flush(); err != nil {
		return err
	}
	line, err := c.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+") {
		return fmt.Errorf("IDLE: %q %v", line, err)
	}
	c.nc.SetDeadline(time.Time{}) // held indefinitely
	return nil
}

func (c *imapConn) stopIdle() error {
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	tag := "b" + strconv.Itoa(c.tag)
	c.w.WriteString("DONE\r\n")
	if err := c.w.Flush(); err != nil {
		return err
	}
	var rep imapReply
	for {
		line, err := c.readLine(&rep)
		if err != nil {
			return fmt.Errorf("DONE: %w", err)
		}
		if strings.HasPrefix(line, tag+" ") {
			if !strings.HasPrefix(line[len(tag)+1:], "OK") {
				return &replyError{cmd: "IDLE", line: line}
			}
			break
		}
	}
	_, err := c.cmd("LOGOUT")
	return err
}

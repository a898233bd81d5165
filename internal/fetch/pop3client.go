package fetch

import (
	"bufio"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxPOP3Line bounds a POP3 response line (RFC 1939 allows 512 octets;
// real servers stay below, the margin is for long UIDLs and -ERR texts).
const maxPOP3Line = 4096

// maxPOP3Listing bounds the octets of a multi-line response (CAPA, UIDL,
// LIST): a server that never sends the final "." must not grow the
// fetcher's memory for as long as it sends. 64 MiB is some 800,000 UIDL
// lines of 80 octets. A variable for the tests.
var maxPOP3Listing = 64 << 20

// RemoteError is a refusal by the remote server (a POP3 -ERR, an IMAP
// NO or BAD): the text is the server's, shown to the operator as it is.
type RemoteError struct {
	Cmd  string // the command, without arguments that could be secret
	Text string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("remote server refused %s: %s", e.Cmd, e.Text)
}

// pop3Client is a minimal POP3 client (RFC 1939, RFC 2449 CAPA, RFC 2595
// STLS, RFC 5034 AUTH PLAIN): what fetching needs and no more.
type pop3Client struct {
	conn    net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	timeout time.Duration
	banner  string
	// ahead is the RETRs sent whose replies are not read yet.
	ahead []int
}

func newPOP3Client(conn net.Conn, timeout time.Duration) (*pop3Client, error) {
	c := &pop3Client{timeout: timeout}
	c.setConn(conn)
	line, err := c.status("greeting")
	if err != nil {
		return nil, err
	}
	c.banner = line
	return c, nil
}

func (c *pop3Client) setConn(conn net.Conn) {
	c.conn = conn
	c.r = bufio.NewReader(conn)
	c.w = bufio.NewWriter(conn)
}

// line reads one CRLF-terminated line, bounded.
func (c *pop3Client) line() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	b, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(b) > maxPOP3Line {
		return "", errors.New("pop3: response line too long")
	}
	if err != nil {
		return "", fmt.Errorf("pop3: reading response: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// status reads a status line: "+OK text" is the text, "-ERR text" a
// *RemoteError for cmd.
func (c *pop3Client) status(cmd string) (string, error) {
	l, err := c.line()
	if err != nil {
		return "", err
	}
	switch {
	case l == "+OK" || strings.HasPrefix(l, "+OK "):
		return strings.TrimPrefix(strings.TrimPrefix(l, "+OK"), " "), nil
	case strings.HasPrefix(l, "-ERR"):
		return "", &RemoteError{Cmd: cmd, Text: strings.TrimSpace(strings.TrimPrefix(l, "-ERR"))}
	}
	return "", fmt.Errorf("pop3: unexpected response to %s: %.80q", cmd, l)
}

// cmd sends a command line and reads its status. name is what errors
// show: never the arguments of PASS or AUTH.
func (c *pop3Client) cmd(name, line string) (string, error) {
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, err := c.w.WriteString(line + "\r\n"); err != nil {
		return "", fmt.Errorf("pop3: sending %s: %w", name, err)
	}
	if err := c.w.Flush(); err != nil {
		return "", fmt.Errorf("pop3: sending %s: %w", name, err)
	}
	return c.status(name)
}

// multi sends a command whose +OK is followed by lines up to ".".
func (c *pop3Client) multi(name, line string) ([]string, error) {
	if _, err := c.cmd(name, line); err != nil {
		return nil, err
	}
	var out []string
	total := 0
	for {
		l, err := c.line()
		if err != nil {
			return nil, err
		}
		if total += len(l) + 2; total > maxPOP3Listing {
			return nil, fmt.Errorf("pop3: response to %s too long (over %d octets)", name, maxPOP3Listing)
		}
		if l == "." {
			return out, nil
		}
		out = append(out, strings.TrimPrefix(l, "."))
	}
}

// capa returns the server's capabilities (upper-cased first words and
// their arguments), or none when CAPA is refused.
func (c *pop3Client) capa() map[string]string {
	lines, err := c.multi("CAPA", "CAPA")
	caps := map[string]string{}
	if err != nil {
		return caps
	}
	for _, l := range lines {
		name, args, _ := strings.Cut(l, " ")
		caps[strings.ToUpper(name)] = args
	}
	return caps
}

// stls upgrades the connection (RFC 2595 section 4). Whatever the server
// sent before the handshake is discarded with the old reader.
func (c *pop3Client) stls(cfg *tls.Config) error {
	if _, err := c.cmd("STLS", "STLS"); err != nil {
		return err
	}
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(time.Now().Add(c.timeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	tc.SetDeadline(time.Time{})
	c.setConn(tc)
	return nil
}

// login authenticates with the chosen mechanism ("" = AUTH PLAIN when
// offered, else USER/PASS).
func (c *pop3Client) login(mech, user, pass string, caps map[string]string) error {
	if mech == "" {
		mech = "user"
		for _, m := range strings.Fields(strings.ToUpper(caps["SASL"])) {
			if m == "PLAIN" {
				mech = "plain"
			}
		}
	}
	switch mech {
	case "apop":
		// RFC 1939 section 7: the digest of the greeting's timestamp and
		// the secret.
		i, j := strings.IndexByte(c.banner, '<'), strings.LastIndexByte(c.banner, '>')
		if i < 0 || j < i {
			return errors.New("pop3: APOP asked for, but the server's greeting has no timestamp")
		}
		sum := md5.Sum([]byte(c.banner[i:j+1] + pass))
		_, err := c.cmd("APOP", "APOP "+user+" "+hex.EncodeToString(sum[:]))
		return err
	case "plain":
		resp := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
		_, err := c.cmd("AUTH PLAIN", "AUTH PLAIN "+resp)
		return err
	}
	if _, err := c.cmd("USER", "USER "+user); err != nil {
		return err
	}
	_, err := c.cmd("PASS", "PASS "+pass)
	return err
}

// pop3Msg is one message of the remote maildrop.
type pop3Msg struct {
	n    int
	uidl string
	size int64
}

// list returns the maildrop from UIDL and LIST, in message-number order.
func (c *pop3Client) list() ([]pop3Msg, error) {
	lines, err := c.multi("UIDL", "UIDL")
	var re *RemoteError
	if errors.As(err, &re) {
		return nil, fmt.Errorf("the server does not support UIDL, without which messages cannot be told apart between runs: %w", err)
	} else if err != nil {
		return nil, err
	}
	msgs := make([]pop3Msg, 0, len(lines))
	index := map[int]int{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 2 {
			return nil, fmt.Errorf("pop3: bad UIDL line %.80q", l)
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("pop3: bad UIDL line %.80q", l)
		}
		index[n] = len(msgs)
		msgs = append(msgs, pop3Msg{n: n, uidl: f[1], size: -1})
	}
	lines, err = c.multi("LIST", "LIST")
	if err != nil {
		return nil, err
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 {
			return nil, fmt.Errorf("pop3: bad LIST line %.80q", l)
		}
		n, err1 := strconv.Atoi(f[0])
		size, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("pop3: bad LIST line %.80q", l)
		}
		if i, ok := index[n]; ok {
			msgs[i].size = size
		}
	}
	return msgs, nil
}

// retrAhead sends RETR for each of ns without waiting for the replies
// (RFC 2449 PIPELINING: the server answers them in order), so messages
// come one after another without a round trip each; retr then reads the
// replies, in the same order. Only with a server that offers PIPELINING.
func (c *pop3Client) retrAhead(ns []int) error {
	if len(ns) == 0 {
		return nil
	}
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	for _, n := range ns {
		if _, err := c.w.WriteString("RETR " + strconv.Itoa(n) + "\r\n"); err != nil {
			return fmt.Errorf("pop3: sending RETR: %w", err)
		}
		c.ahead = append(c.ahead, n)
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("pop3: sending RETR: %w", err)
	}
	return nil
}

// retr returns message n, dot-unstuffed, as a reader that ends at the
// terminating "." line: the reply to a RETR sent ahead (which must be the
// next one), else to a RETR sent now. The caller reads it to the end
// before the next command; the deadline is extended while it reads.
func (c *pop3Client) retr(n int) (io.Reader, error) {
	if len(c.ahead) > 0 {
		if c.ahead[0] != n {
			return nil, fmt.Errorf("pop3: RETR %d read before RETR %d sent ahead", n, c.ahead[0])
		}
		c.ahead = c.ahead[1:]
		if _, err := c.status("RETR"); err != nil {
			return nil, err
		}
	} else if _, err := c.cmd("RETR", "RETR "+strconv.Itoa(n)); err != nil {
		return nil, err
	}
	return &deadlineReader{r: textproto.NewReader(c.r).DotReader(), conn: c.conn, timeout: c.timeout}, nil
}

// dele marks messages deleted; QUIT applies it. With PIPELINING the
// commands go at once and the replies are read after.
func (c *pop3Client) dele(ns []int, pipelining bool) error {
	if !pipelining {
		for _, n := range ns {
			if _, err := c.cmd("DELE", "DELE "+strconv.Itoa(n)); err != nil {
				return err
			}
		}
		return nil
	}
	// In groups, so the replies the server writes meanwhile never fill
	// the buffers of a connection neither side reads.
	for group := range slices.Chunk(ns, pipelineWindow) {
		c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
		for _, n := range group {
			if _, err := c.w.WriteString("DELE " + strconv.Itoa(n) + "\r\n"); err != nil {
				return fmt.Errorf("pop3: sending DELE: %w", err)
			}
		}
		if err := c.w.Flush(); err != nil {
			return fmt.Errorf("pop3: sending DELE: %w", err)
		}
		for range group {
			if _, err := c.status("DELE"); err != nil {
				return err
			}
		}
	}
	return nil
}

// pipelineWindow bounds the commands sent ahead of their replies.
const pipelineWindow = 32

// quit ends the session; with DELE sent, a +OK means the server removed
// the messages (RFC 1939 UPDATE state).
func (c *pop3Client) quit() error {
	_, err := c.cmd("QUIT", "QUIT")
	return err
}

// deadlineReader extends the connection's read deadline before each read,
// so a long message is bounded by progress, not by its total time.
type deadlineReader struct {
	r       io.Reader
	conn    net.Conn
	timeout time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	d.conn.SetReadDeadline(time.Now().Add(d.timeout))
	return d.r.Read(p)
}

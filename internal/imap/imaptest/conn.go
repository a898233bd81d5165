package imaptest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Options configure a Conn.
type Options struct {
	// Timeout bounds every read of a response and every write (default
	// 10 s).
	Timeout time.Duration
	// TLS, when set, makes Dial use implicit TLS (IMAPS).
	TLS *tls.Config
	// Limits bound what is accepted from the server.
	Limits Limits
}

// Conn is one client connection. It is not safe for concurrent use.
type Conn struct {
	nc       net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	o        Options
	n        int
	Greeting *Response
}

// Dial connects to addr and reads the greeting.
func Dial(addr string, o Options) (*Conn, error) {
	d := net.Dialer{Timeout: o.timeout()}
	var nc net.Conn
	var err error
	if o.TLS != nil {
		nc, err = tls.DialWithDialer(&d, "tcp", addr, o.TLS)
	} else {
		nc, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c, err := NewConn(nc, o)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// NewConn wraps an established connection and reads the greeting.
func NewConn(nc net.Conn, o Options) (*Conn, error) {
	c := &Conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriter(nc), o: o}
	g, err := c.ReadResponse()
	if err != nil {
		return nil, fmt.Errorf("reading the greeting: %w", err)
	}
	if g.Tag != "*" || (g.Name != "OK" && g.Name != "PREAUTH" && g.Name != "BYE") {
		return nil, fmt.Errorf("greeting is not an untagged OK, PREAUTH or BYE: %s", trunc(g.Raw))
	}
	c.Greeting = g
	return c, nil
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return 10 * time.Second
	}
	return o.Timeout
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// ReadResponse reads the next response within the connection's timeout.
func (c *Conn) ReadResponse() (*Response, error) {
	return c.ReadResponseTimeout(c.o.timeout())
}

// ReadResponseTimeout reads the next response, waiting at most d.
func (c *Conn) ReadResponseTimeout(d time.Duration) (*Response, error) {
	if err := c.nc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return nil, err
	}
	return ReadResponse(c.r, c.o.Limits)
}

// Buffered reports whether response bytes are already buffered.
func (c *Conn) Buffered() bool { return c.r.Buffered() > 0 }

// Write sends raw bytes (for hostile input and IDLE's DONE).
func (c *Conn) Write(b []byte) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.o.timeout())); err != nil {
		return err
	}
	if _, err := c.w.Write(b); err != nil {
		return err
	}
	return c.w.Flush()
}

// WriteLine sends s followed by CRLF.
func (c *Conn) WriteLine(s string) error { return c.Write([]byte(s + "\r\n")) }

// LiteralMode is how a Literal is sent.
type LiteralMode uint8

const (
	Sync          LiteralMode = iota // {n}: waits for the server's "+"
	NonSync                          // {n+}: LITERAL+ / LITERAL-
	Binary                           // ~{n}: literal8 (BINARY), synchronising
	BinaryNonSync                    // ~{n+}
)

// Literal is a command argument sent as a literal.
type Literal struct {
	Data string
	Mode LiteralMode
}

// Lit, LitPlus and Lit8 make literal arguments.
func Lit(data string) Literal     { return Literal{Data: data, Mode: Sync} }
func LitPlus(data string) Literal { return Literal{Data: data, Mode: NonSync} }
func Lit8(data string) Literal    { return Literal{Data: data, Mode: Binary} }

// Quote returns s as an IMAP quoted string.
func Quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Result is what a command got: the untagged responses read while it ran
// (continuations excluded) and its tagged completion.
type Result struct {
	Command  string // the command as sent, literals abbreviated
	Untagged []*Response
	Status   *Response // nil until the command completed
	tag      string
}

// OK reports whether the command completed with OK.
func (r *Result) OK() bool { return r.Status != nil && r.Status.Name == "OK" }

// Err returns nil for OK, else an error naming the command and the status.
func (r *Result) Err() error {
	if r.OK() {
		return nil
	}
	if r.Status == nil {
		return fmt.Errorf("%s: not completed", r.Command)
	}
	return fmt.Errorf("%s: %s", r.Command, strings.TrimRight(r.Status.Raw, "\r\n"))
}

// Named returns the untagged responses with the given name.
func (r *Result) Named(name string) []*Response {
	var out []*Response
	for _, u := range r.Untagged {
		if u.Name == name {
			out = append(out, u)
		}
	}
	return out
}

// NextTag returns the tag the next command will use.
func (c *Conn) NextTag() string { return "t" + strconv.Itoa(c.n+1) }

// Do sends a command and reads responses up to its tagged completion. The
// arguments are joined with spaces: strings are sent as they are, Literal
// values as literals (a synchronising literal waits for "+"; a tagged
// refusal instead ends the command without sending the data).
func (c *Conn) Do(args ...any) (*Result, error) {
	res, done, err := c.Start(args...)
	if err != nil || done {
		return res, err
	}
	return c.Wait(res)
}

// Start sends a command without waiting for its completion (IDLE,
// pipelining). done is set when the server already completed it (a
// refused literal). Follow with Wait, or ReadResponse for IDLE.
func (c *Conn) Start(args ...any) (res *Result, done bool, err error) {
	c.n++
	tag := "t" + strconv.Itoa(c.n)
	res = &Result{tag: tag}
	var shown strings.Builder
	shown.WriteString(tag)
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.o.timeout())); err != nil {
		return nil, false, err
	}
	c.w.WriteString(tag)
	for _, a := range args {
		c.w.WriteByte(' ')
		shown.WriteByte(' ')
		switch a := a.(type) {
		case string:
			c.w.WriteString(a)
			shown.WriteString(a)
		case Literal:
			prefix, plus := "", ""
			if a.Mode == Binary || a.Mode == BinaryNonSync {
				prefix = "~"
			}
			if a.Mode == NonSync || a.Mode == BinaryNonSync {
				plus = "+"
			}
			fmt.Fprintf(c.w, "%s{%d%s}\r\n", prefix, len(a.Data), plus)
			fmt.Fprintf(&shown, "%s{%d%s}", prefix, len(a.Data), plus)
			if plus == "" {
				if err := c.w.Flush(); err != nil {
					return nil, false, err
				}
				for {
					r, err := c.ReadResponse()
					if err != nil {
						return nil, false, fmt.Errorf("%s: waiting for the continuation: %w", shown.String(), err)
					}
					if r.Tag == "+" {
						break
					}
					if r.Tag == tag {
						res.Command, res.Status = shown.String(), r
						return res, true, nil
					}
					res.Untagged = append(res.Untagged, r)
				}
				if err := c.nc.SetWriteDeadline(time.Now().Add(c.o.timeout())); err != nil {
					return nil, false, err
				}
			}
			c.w.WriteString(a.Data)
		default:
			return nil, false, fmt.Errorf("imaptest: argument of type %T", a)
		}
	}
	c.w.WriteString("\r\n")
	res.Command = shown.String()
	return res, false, c.w.Flush()
}

// Wait reads responses until the tagged completion of res's command.
func (c *Conn) Wait(res *Result) (*Result, error) {
	tag := res.tag
	for {
		r, err := c.ReadResponse()
		if err != nil {
			return res, fmt.Errorf("%s: %w", res.Command, err)
		}
		switch r.Tag {
		case tag:
			res.Status = r
			return res, nil
		case "*":
			res.Untagged = append(res.Untagged, r)
			if r.Name == "BYE" {
				// The server may close after BYE; the tagged
				// response may still follow (LOGOUT).
				continue
			}
		case "+":
			return res, fmt.Errorf("%s: unexpected continuation request %q", res.Command, r.Raw)
		default:
			return res, fmt.Errorf("%s: response for another tag: %s", res.Command, trunc(r.Raw))
		}
	}
}

// Tag returns the tag of a started command.
func (r *Result) Tag() string { return r.tag }

// MustOK runs a command that must succeed.
func (c *Conn) MustOK(args ...any) (*Result, error) {
	res, err := c.Do(args...)
	if err != nil {
		return res, err
	}
	return res, res.Err()
}

// Login sends LOGIN with quoted credentials.
func (c *Conn) Login(user, pass string) error {
	_, err := c.MustOK("LOGIN", Quote(user), Quote(pass))
	return err
}

// StartTLS sends STARTTLS and upgrades the connection.
func (c *Conn) StartTLS(cfg *tls.Config) error {
	if _, err := c.MustOK("STARTTLS"); err != nil {
		return err
	}
	if c.r.Buffered() > 0 {
		return errors.New("STARTTLS: server sent data after its OK, before the handshake")
	}
	tc := tls.Client(c.nc, cfg)
	if err := tc.SetDeadline(time.Now().Add(c.o.timeout())); err != nil {
		return err
	}
	if err := tc.Handshake(); err != nil {
		return err
	}
	c.nc = tc
	c.r = bufio.NewReaderSize(tc, 64<<10)
	c.w = bufio.NewWriter(tc)
	return nil
}

// Idle runs IDLE: it waits for the continuation, calls during (which may
// read responses with ReadResponseTimeout), sends DONE and returns the
// result with every untagged response read meanwhile that during did not
// consume.
func (c *Conn) Idle(during func() ([]*Response, error)) (*Result, error) {
	res, done, err := c.Start("IDLE")
	if err != nil || done {
		return res, err
	}
	for {
		r, err := c.ReadResponse()
		if err != nil {
			return res, fmt.Errorf("IDLE: %w", err)
		}
		if r.Tag == "+" {
			break
		}
		if r.Tag == res.Tag() {
			res.Status = r
			return res, nil // refused
		}
		res.Untagged = append(res.Untagged, r)
	}
	if during != nil {
		got, err := during()
		res.Untagged = append(res.Untagged, got...)
		if err != nil {
			return res, err
		}
	}
	if err := c.WriteLine("DONE"); err != nil {
		return res, err
	}
	return c.Wait(res)
}

// Capabilities returns the capability list from an untagged CAPABILITY
// response or a CAPABILITY response code in rs, upper-cased; nil if none.
func Capabilities(rs ...*Response) []string {
	for _, r := range rs {
		var vs []Value
		switch {
		case r.Name == "CAPABILITY":
			vs = r.Args
		case r.Code == "CAPABILITY":
			vs = r.CodeArgs
		default:
			continue
		}
		out := make([]string, 0, len(vs))
		for _, v := range vs {
			out = append(out, strings.ToUpper(v.S))
		}
		return out
	}
	return nil
}

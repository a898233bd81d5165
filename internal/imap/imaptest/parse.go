// Package imaptest is a small raw-socket IMAP client for tests: it sends
// tagged commands (with synchronising, non-synchronising and binary
// literals) and parses every server response into a structured form
// (untagged data, tagged status with its response code, literals), with a
// deadline on every read. It knows nothing of any server's internals, so
// the same test can run against Pochta and against another IMAP server.
//
// Stress runs a bounded multi-client stress test on top of it: random
// sessions, each checked against a model of its mailbox built only from
// what the server announced (model.go).
package imaptest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits bound what the parser accepts from a server, so a broken server
// fails a test instead of exhausting the machine.
type Limits struct {
	MaxLiteral int64 // largest literal (default 64 MiB)
	MaxLine    int   // longest run of non-literal bytes in one response (default 1 MiB)
	MaxDepth   int   // deepest list nesting (default 100)
}

func (l Limits) withDefaults() Limits {
	if l.MaxLiteral <= 0 {
		l.MaxLiteral = 64 << 20
	}
	if l.MaxLine <= 0 {
		l.MaxLine = 1 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 100
	}
	return l
}

// ErrSyntax is wrapped by every error about a malformed response.
var ErrSyntax = errors.New("malformed response")

// parser reads one response from a bufio.Reader.
type parser struct {
	r     *bufio.Reader
	lim   Limits
	raw   strings.Builder
	plain int // non-literal bytes read so far
	// inCode is set inside "[...]" of a status response, where ']' ends
	// an atom; elsewhere (mailbox names) an atom may contain it.
	inCode bool
}

// ReadResponse reads and parses one response from r.
func ReadResponse(r *bufio.Reader, lim Limits) (*Response, error) {
	p := &parser{r: r, lim: lim.withDefaults()}
	resp, err := p.response()
	if err != nil {
		return nil, err
	}
	resp.Raw = p.raw.String()
	return resp, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s (after %q)", ErrSyntax, fmt.Sprintf(format, args...), trunc(p.raw.String()))
}

func (p *parser) peek() (byte, error) {
	b, err := p.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (p *parser) next() (byte, error) {
	c, err := p.r.ReadByte()
	if err != nil {
		return 0, err
	}
	p.plain++
	if p.plain > p.lim.MaxLine {
		return 0, p.errorf("response longer than %d bytes", p.lim.MaxLine)
	}
	p.raw.WriteByte(c)
	return c, nil
}

func (p *parser) expect(want byte) error {
	c, err := p.next()
	if err != nil {
		return err
	}
	if c != want {
		return p.errorf("got %q, want %q", c, want)
	}
	return nil
}

// crlf reads the end of the response.
func (p *parser) crlf() error {
	c, err := p.next()
	if err != nil {
		return err
	}
	if c == '\r' {
		c, err = p.next()
		if err != nil {
			return err
		}
	}
	if c != '\n' {
		return p.errorf("got %q, want CRLF", c)
	}
	return nil
}

// restOfLine returns the text up to CRLF (consumed).
func (p *parser) restOfLine() (string, error) {
	var b strings.Builder
	for {
		c, err := p.next()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			return strings.TrimSuffix(b.String(), "\r"), nil
		}
		b.WriteByte(c)
	}
}

// word reads atom characters (no bracket handling): tags, names, codes.
func (p *parser) word() (string, error) {
	var b strings.Builder
	for {
		c, err := p.peek()
		if err != nil {
			return "", err
		}
		if !atomChar(c) || c == '[' {
			break
		}
		p.next()
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		c, _ := p.peek()
		return "", p.errorf("expected an atom at %q", c)
	}
	return b.String(), nil
}

// atomChar: any CHAR except atom-specials, ']' (resp-specials) included
// here as a terminator; '%' and '*' are allowed (list-wildcards appear
// in responses such as CAPABILITY and flags like \*).
func atomChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '"', ']':
		return false
	}
	return true
}

func (p *parser) response() (*Response, error) {
	c, err := p.peek()
	if err != nil {
		return nil, err
	}
	r := &Response{}
	switch c {
	case '+':
		p.next()
		r.Tag = "+"
		if c, err := p.peek(); err == nil && c == ' ' {
			p.next()
		}
		r.Text, err = p.restOfLine()
		return r, err
	case '*':
		p.next()
		r.Tag = "*"
	default:
		if r.Tag, err = p.word(); err != nil {
			return nil, err
		}
	}
	if err := p.expect(' '); err != nil {
		return nil, err
	}
	name, err := p.word()
	if err != nil {
		return nil, err
	}
	if r.Tag == "*" && isDigits(name) {
		n, err := strconv.ParseUint(name, 10, 32)
		if err != nil {
			return nil, p.errorf("number %s: %v", name, err)
		}
		r.Num, r.HasNum = uint32(n), true
		if err := p.expect(' '); err != nil {
			return nil, err
		}
		if name, err = p.word(); err != nil {
			return nil, err
		}
	}
	r.Name = strings.ToUpper(name)
	if r.IsStatus() {
		return r, p.status(r)
	}
	if r.Tag != "*" {
		return nil, p.errorf("tagged response %q is not a status", r.Name)
	}
	if c, err := p.peek(); err == nil && c == ' ' {
		p.next()
	}
	r.Args, err = p.values(0, '\n')
	if err != nil {
		return nil, err
	}
	return r, p.crlf()
}

// status reads "[code args] text" after OK/NO/BAD/BYE/PREAUTH.
func (p *parser) status(r *Response) error {
	c, err := p.peek()
	if err != nil {
		return err
	}
	if c == '\r' || c == '\n' {
		return p.crlf() // RFC 9051 requires text, but be lenient: report it as empty
	}
	if err := p.expect(' '); err != nil {
		return err
	}
	if c, err = p.peek(); err != nil {
		return err
	}
	if c == '[' {
		p.next()
		code, err := p.word()
		if err != nil {
			return err
		}
		r.Code = strings.ToUpper(code)
		if c, err = p.peek(); err != nil {
			return err
		}
		if c == ' ' {
			p.next()
			p.inCode = true
			r.CodeArgs, err = p.values(0, ']')
			p.inCode = false
			if err != nil {
				return err
			}
		}
		if err := p.expect(']'); err != nil {
			return err
		}
		if c, err = p.peek(); err != nil {
			return err
		}
		if c == ' ' {
			p.next()
		}
	}
	r.Text, err = p.restOfLine()
	return err
}

// values reads space-separated values up to (not including) end, which
// is '\n' (end of response: CR or LF), ')' or ']'.
func (p *parser) values(depth int, end byte) ([]Value, error) {
	var vs []Value
	for {
		c, err := p.peek()
		if err != nil {
			return nil, err
		}
		if c == end || (end == '\n' && c == '\r') {
			return vs, nil
		}
		if len(vs) > 0 && c == '(' && vs[len(vs)-1].Kind == List {
			// "((a)(b))": address lists and multipart body
			// structures have no SP between their elements.
		} else if len(vs) > 0 {
			if c != ' ' {
				return nil, p.errorf("got %q between values", c)
			}
			p.next()
			if c, err = p.peek(); err != nil {
				return nil, err
			}
			if c == end && end == ']' {
				return vs, nil // "[CODE arg ]" is sloppy but harmless
			}
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
}

func (p *parser) value(depth int) (Value, error) {
	c, err := p.peek()
	if err != nil {
		return Value{}, err
	}
	switch {
	case c == '(':
		if depth >= p.lim.MaxDepth {
			return Value{}, p.errorf("lists nested deeper than %d", p.lim.MaxDepth)
		}
		p.next()
		l, err := p.values(depth+1, ')')
		if err != nil {
			return Value{}, err
		}
		if err := p.expect(')'); err != nil {
			return Value{}, err
		}
		return Value{Kind: List, L: l}, nil
	case c == '"':
		s, err := p.quoted()
		return Value{Kind: String, S: s}, err
	case c == '{':
		s, err := p.literal()
		return Value{Kind: String, S: s, Literal: true}, err
	case c == '~':
		p.next()
		if c, err := p.peek(); err != nil || c != '{' {
			return Value{}, p.errorf("'~' not followed by a literal")
		}
		s, err := p.literal()
		return Value{Kind: String, S: s, Literal: true, Binary: true}, err
	}
	a, err := p.atom()
	if err != nil {
		return Value{}, err
	}
	if strings.EqualFold(a, "NIL") {
		return Value{Kind: Nil}, nil
	}
	return Value{Kind: Atom, S: a}, nil
}

// atom reads an atom; a '[' inside it opens a section read up to the
// matching ']' (quoted strings inside kept as they are), so
// BODY[HEADER.FIELDS (FROM TO)]<0> is one atom.
func (p *parser) atom() (string, error) {
	var b strings.Builder
	for {
		c, err := p.peek()
		if err != nil {
			return "", err
		}
		if c == '[' {
			if err := p.section(&b); err != nil {
				return "", err
			}
			continue
		}
		if !atomChar(c) && (c != ']' || p.inCode) {
			break
		}
		p.next()
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		c, _ := p.peek()
		return "", p.errorf("unexpected %q", c)
	}
	return b.String(), nil
}

func (p *parser) section(b *strings.Builder) error {
	inQuote, depth := false, 0
	for {
		c, err := p.next()
		if err != nil {
			return err
		}
		if c == '\r' || c == '\n' {
			return p.errorf("unterminated section")
		}
		b.WriteByte(c)
		switch {
		case inQuote && c == '\\':
			e, err := p.next()
			if err != nil {
				return err
			}
			b.WriteByte(e)
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '[':
			depth++
		case c == ']':
			depth--
			if depth == 0 {
				return nil
			}
		}
	}
}

func (p *parser) quoted() (string, error) {
	p.next() // the opening quote
	var b strings.Builder
	for {
		c, err := p.next()
		if err != nil {
			return "", err
		}
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			e, err := p.next()
			if err != nil {
				return "", err
			}
			if e != '\\' && e != '"' {
				return "", p.errorf("bad escape \\%c in quoted string", e)
			}
			b.WriteByte(e)
		case '\r', '\n':
			return "", p.errorf("CR or LF in quoted string")
		default:
			b.WriteByte(c)
		}
	}
}

// literal reads "{n}" CRLF and n octets ("{n+}" is accepted as well).
func (p *parser) literal() (string, error) {
	p.next() // '{'
	var digits strings.Builder
	for {
		c, err := p.next()
		if err != nil {
			return "", err
		}
		if c == '}' {
			break
		}
		if c == '+' {
			continue
		}
		if c < '0' || c > '9' || digits.Len() > 19 {
			return "", p.errorf("bad literal length")
		}
		digits.WriteByte(c)
	}
	n, err := strconv.ParseInt(digits.String(), 10, 64)
	if err != nil {
		return "", p.errorf("literal length %q", digits.String())
	}
	if n > p.lim.MaxLiteral {
		return "", p.errorf("literal of %d bytes exceeds the test limit %d", n, p.lim.MaxLiteral)
	}
	if err := p.expect('\r'); err != nil {
		return "", err
	}
	if err := p.expect('\n'); err != nil {
		return "", err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(p.r, buf); err != nil {
		return "", fmt.Errorf("reading a literal of %d bytes: %w", n, err)
	}
	p.raw.Write(buf)
	return string(buf), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// Package wire is the IMAP wire layer: a bounded, streaming command parser
// and a response writer (RFC 9051 §9 grammar, with RFC 3501, RFC 7888
// LITERAL+/LITERAL- and RFC 3516 literal8).
//
// The parser reads one command at a time from a *bufio.Reader. A command is
// a sequence of line segments: each segment ends with CRLF, and every
// segment but the last ends with a literal announcement ("{n}", "{n+}",
// "~{n}") whose n octets of data follow the CRLF. Handlers pull tokens in
// recursive-descent style (Tag, SP, Atom, AString, ...); literals are read
// when the handler reaches them, so a synchronising literal gets its "+"
// continuation only once everything before it parsed, and an APPEND
// literal streams straight from the socket (Literal).
//
// Everything is bounded: the length of a segment (Limits.MaxLine), the size
// of a literal read into memory (Limits.MaxLiteral) or streamed (the max
// given to Literal), the tokens per command and the nesting of lists.
package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Limits bound what one command may make the parser hold or read.
type Limits struct {
	// MaxLine is the longest line segment in octets, CRLF excluded.
	MaxLine int
	// MaxLiteral is the largest literal read into memory (AString,
	// String, ...). Literal takes its own bound.
	MaxLiteral int64
	// MaxTokens bounds the tokens one command may have.
	MaxTokens int
	// MaxDepth bounds the nesting of parenthesised lists.
	MaxDepth int
	// MaxCommand bounds the octets one command makes the parser hold:
	// its line segments and the literals read into memory together
	// (literals streamed with Literal, such as APPEND's, are not
	// counted). Each segment and literal has its own bound above, but
	// their number is bounded only by MaxTokens. 0: no bound.
	MaxCommand int64
	// MaxSkip bounds the non-synchronising literal data SkipCommand may
	// discard after an error; more ends the session.
	MaxSkip int64
}

// DefaultLimits are the limits of an authenticated session.
var DefaultLimits = Limits{MaxLine: 64 << 10, MaxLiteral: 64 << 10, MaxTokens: 100_000, MaxDepth: 32, MaxCommand: 1 << 20, MaxSkip: 64 << 10}

// Error is a parse failure. Code is an RFC 5530 response code ("" = none).
// A Fatal error ends the session (the stream can no longer be followed);
// otherwise the command gets a tagged BAD, or NO when No is set, and
// SkipCommand discards its rest.
type Error struct {
	Code  string
	Text  string
	No    bool
	Fatal bool
}

func (e *Error) Error() string { return "imap wire: " + e.Text }

func bad(format string, args ...any) *Error {
	return &Error{Text: fmt.Sprintf(format, args...)}
}

// IsFatal reports whether err is a parse error that ends the session.
func IsFatal(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Fatal
}

// literal is the announcement at the end of the current segment.
type literal struct {
	present bool
	start   int // index of '{' or '~' in line
	size    int64
	sync    bool
	binary  bool
}

// Parser reads IMAP commands. It is not safe for concurrent use.
type Parser struct {
	r   *bufio.Reader
	lim Limits
	// Continue is called before the data of a synchronising literal is
	// read: it must send "+ ..." and flush.
	Continue func() error

	buf    []byte // accumulates segments longer than r's buffer
	line   []byte // current segment without its line end
	pos    int
	lit    literal
	inCmd  bool
	tokens int
	depth  int
	// held is what the command holds so far (Limits.MaxCommand).
	held int64
	// open is a streamed literal handed out by Literal, drained before
	// the next segment is read.
	open *litReader
	// needSegment: a literal was consumed, the next segment is read when
	// the command goes on; err is a failure of that read.
	needSegment bool
	err         error
}

// NewParser returns a parser reading r with the given limits.
func NewParser(r *bufio.Reader, lim Limits) *Parser {
	return &Parser{r: r, lim: lim}
}

// SetLimits changes the limits (after login, say); it applies from the
// next command on.
func (p *Parser) SetLimits(lim Limits) { p.lim = lim }

// Limits returns the current limits.
func (p *Parser) Limits() Limits { return p.lim }

// Reset makes p read from r (after STARTTLS) and forget any command.
func (p *Parser) Reset(r *bufio.Reader) {
	p.r = r
	p.line, p.pos, p.lit, p.inCmd, p.open = nil, 0, literal{}, false, nil
	p.needSegment, p.err = false, nil
}

// Wait blocks until the first byte of the next command is available.
func (p *Parser) Wait() error {
	_, err := p.r.Peek(1)
	return err
}

// CommandBuffered reports whether a whole line is already buffered, so
// the caller may delay flushing (pipelining).
func (p *Parser) CommandBuffered() bool {
	n := p.r.Buffered()
	if n == 0 {
		return false
	}
	b, _ := p.r.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

// InCommand reports whether a command has begun and not ended.
func (p *Parser) InCommand() bool { return p.inCmd }

// Begin starts the next command by reading its first segment.
func (p *Parser) Begin() error {
	if p.inCmd {
		if err := p.SkipCommand(); err != nil {
			return err
		}
	}
	if cap(p.buf) > 4096 {
		p.buf = nil // do not keep a long command's buffer while idle
	}
	p.tokens, p.depth, p.held = 0, 0, 0
	p.needSegment, p.err = false, nil
	p.inCmd = true
	return p.readSegment(true)
}

var (
	errLineTooLong    = &Error{Text: "Line too long", Fatal: true, Code: "TOOBIG"}
	errCommandTooLong = &Error{Text: "Command too long", Fatal: true, Code: "TOOBIG"}
)

// readSegment reads the next line segment, bounded before it is buffered.
// A clean EOF is io.EOF only before the first byte of a command.
func (p *Parser) readSegment(first bool) error {
	if p.open != nil {
		if err := p.open.drain(); err != nil {
			return err
		}
		p.open = nil
	}
	p.buf = p.buf[:0]
	var seg []byte
	for {
		frag, err := p.r.ReadSlice('\n')
		if len(p.buf)+len(frag) > p.lim.MaxLine+2 {
			return errLineTooLong
		}
		if err == nil {
			if len(p.buf) == 0 {
				seg = frag
			} else {
				p.buf = append(p.buf, frag...)
				seg = p.buf
			}
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			p.buf = append(p.buf, frag...)
			continue
		}
		if errors.Is(err, io.EOF) && (len(p.buf)+len(frag) > 0 || !first) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	seg = seg[:len(seg)-1]
	if n := len(seg); n > 0 && seg[n-1] == '\r' {
		seg = seg[:n-1]
	}
	if len(p.buf) == 0 {
		// frag points into the reader's buffer, which the next read
		// overwrites: keep our own copy.
		p.buf = append(p.buf, seg...)
		seg = p.buf
	}
	p.line, p.pos = seg, 0
	p.lit = literal{}
	if p.held += int64(len(seg)); p.lim.MaxCommand > 0 && p.held > p.lim.MaxCommand {
		return errCommandTooLong
	}
	return p.scanLiteral()
}

// scanLiteral recognises a literal announcement ending the segment.
func (p *Parser) scanLiteral() error {
	l := p.line
	n := len(l)
	if n < 3 || l[n-1] != '}' {
		return nil
	}
	i := n - 2
	sync := true
	if l[i] == '+' { // LITERAL+ and LITERAL- (RFC 7888) share "{n+}"
		sync = false
		i--
	}
	end := i + 1
	for i >= 0 && '0' <= l[i] && l[i] <= '9' {
		i--
	}
	if i < 0 || l[i] != '{' || i+1 == end {
		return nil // not a literal; a syntax error wherever it is parsed
	}
	digits := l[i+1 : end]
	if len(digits) > 18 {
		return &Error{Text: "Literal size too large", Fatal: !sync, No: true, Code: "TOOBIG"}
	}
	var size int64
	for _, c := range digits {
		size = size*10 + int64(c-'0')
	}
	start, binary := i, false
	if i > 0 && l[i-1] == '~' {
		start, binary = i-1, true
	}
	p.lit = literal{present: true, start: start, size: size, sync: sync, binary: binary}
	return nil
}

// end is the end of the current segment's parsable text.
func (p *Parser) end() int {
	if p.lit.present {
		return p.lit.start
	}
	return len(p.line)
}

// fill reads the segment that follows a consumed literal.
func (p *Parser) fill() bool {
	if p.needSegment && p.err == nil {
		p.needSegment = false
		p.err = p.readSegment(false)
	}
	return p.err == nil
}

func (p *Parser) peek() (byte, bool) {
	if !p.fill() {
		return 0, false
	}
	if p.pos < p.end() {
		return p.line[p.pos], true
	}
	return 0, false
}

func (p *Parser) token() error {
	if !p.fill() {
		return p.err
	}
	p.tokens++
	if p.lim.MaxTokens > 0 && p.tokens > p.lim.MaxTokens {
		return &Error{Text: "Too many arguments", Code: "LIMIT"}
	}
	return nil
}

// Peek returns the next byte of the command without consuming it; ok is
// false at a literal or the end of the command.
func (p *Parser) Peek() (c byte, ok bool) { return p.peek() }

// AtEnd reports whether the command has no more arguments.
func (p *Parser) AtEnd() bool { return p.fill() && p.pos == len(p.line) && !p.lit.present }

// AtLiteral reports whether a literal comes next.
func (p *Parser) AtLiteral() bool { return p.fill() && p.lit.present && p.pos == p.lit.start }

// End checks that the command ends here and finishes it.
func (p *Parser) End() error {
	if !p.AtEnd() {
		if p.err != nil {
			return p.err
		}
		return bad("Unexpected characters at end of command")
	}
	p.inCmd = false
	return nil
}

// SkipCommand discards the rest of the current command after an error:
// the rest of its segment and every non-synchronising literal that
// follows (whose data the client sends unasked). A synchronising literal
// ends the command: its data is never sent without our "+".
func (p *Parser) SkipCommand() error {
	if !p.inCmd {
		return nil
	}
	p.inCmd = false
	if p.err != nil {
		return p.err
	}
	if p.needSegment {
		p.needSegment = false
		if err := p.readSegment(false); err != nil {
			return err
		}
	}
	skipped := int64(0)
	for p.lit.present && !p.lit.sync {
		skipped += p.lit.size
		if skipped > p.lim.MaxSkip {
			return &Error{Text: "Literal too large", Fatal: true, Code: "TOOBIG"}
		}
		if _, err := io.CopyN(io.Discard, p.r, p.lit.size); err != nil {
			return eof(err)
		}
		if err := p.readSegment(false); err != nil {
			return err
		}
	}
	p.line, p.pos, p.lit = nil, 0, literal{}
	return nil
}

func eof(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// SP consumes one space.
func (p *Parser) SP() error { return p.Expect(' ') }

// Expect consumes c or fails. '(' and ')' count list nesting.
func (p *Parser) Expect(c byte) error {
	if !p.Accept(c) {
		if p.err != nil {
			return p.err // the segment after a literal could not be read
		}
		if p.depth > p.lim.MaxDepth && p.lim.MaxDepth > 0 {
			return &Error{Text: "Too deeply nested", Code: "LIMIT"}
		}
		if b, ok := p.peek(); ok {
			return bad("Expected %q, got %q", c, b)
		}
		return bad("Expected %q", c)
	}
	return nil
}

// Accept consumes c if it comes next. '(' and ')' count list nesting; an
// opening parenthesis beyond MaxDepth is refused (Expect reports it).
func (p *Parser) Accept(c byte) bool {
	b, ok := p.peek()
	if !ok || b != c {
		return false
	}
	switch c {
	case '(':
		if p.lim.MaxDepth > 0 && p.depth >= p.lim.MaxDepth {
			p.depth = p.lim.MaxDepth + 1 // reported by Expect
			return false
		}
		p.depth++
	case ')':
		p.depth--
	}
	p.pos++
	return true
}

// Depth is the current list nesting.
func (p *Parser) Depth() int { return p.depth }

// literalBytes reads the literal that comes next into memory.
func (p *Parser) literalBytes() ([]byte, error) {
	if p.AtLiteral() && p.lim.MaxCommand > 0 && p.held+p.lit.size > p.lim.MaxCommand {
		// Like a literal over MaxLiteral: a synchronising one is refused
		// before its data is asked for, a non-synchronising one is on
		// its way and ends the session.
		return nil, &Error{Text: "Command too long", Fatal: !p.lit.sync, No: p.lit.sync, Code: "TOOBIG"}
	}
	r, size, _, err := p.literal(p.lim.MaxLiteral)
	if err != nil {
		return nil, err
	}
	p.held += size
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, eof(err)
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return nil, bad("NUL in literal")
	}
	return b, nil
}

// PeekLiteral describes the literal that comes next without reading it
// (so a handler can refuse it, e.g. over quota, before its "+" is sent).
func (p *Parser) PeekLiteral() (size int64, binary, sync, ok bool) {
	if !p.AtLiteral() {
		return 0, false, false, false
	}
	return p.lit.size, p.lit.binary, p.lit.sync, true
}

// Literal returns the literal (or literal8, then binary is set) that comes
// next as a stream of exactly size octets, at most max. For a
// synchronising literal, Continue is called first. A synchronising literal
// over max fails with NO [TOOBIG] before any of its data is read; a
// non-synchronising one ends the session. The caller should read r to its
// end; the parser discards what is left before reading on. r fails with
// io.ErrUnexpectedEOF when the connection ends early.
func (p *Parser) Literal(max int64) (r io.Reader, size int64, binary bool, err error) {
	if err := p.token(); err != nil {
		return nil, 0, false, err
	}
	return p.literal(max)
}

func (p *Parser) literal(max int64) (io.Reader, int64, bool, error) {
	if !p.AtLiteral() {
		return nil, 0, false, p.expected("literal")
	}
	l := p.lit
	if l.size > max {
		if !l.sync {
			return nil, 0, false, &Error{Text: "Literal too large", Fatal: true, Code: "TOOBIG"}
		}
		return nil, 0, false, &Error{Text: "Literal too large", No: true, Code: "TOOBIG"}
	}
	if l.sync && p.Continue != nil {
		if err := p.Continue(); err != nil {
			return nil, 0, false, err
		}
	}
	// The segment is consumed; what follows the data is a new one.
	p.pos = len(p.line)
	p.lit = literal{}
	lr := &litReader{p: p, n: l.size}
	p.open = lr
	p.needSegment = true
	return lr, l.size, l.binary, nil
}

// litReader streams a literal's data from the parser's reader.
type litReader struct {
	p   *Parser
	n   int64
	err error
}

func (l *litReader) Read(b []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	n, err := l.p.r.Read(b)
	l.n -= int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) && l.n > 0 {
			err = io.ErrUnexpectedEOF
		}
		if l.n > 0 || !errors.Is(err, io.EOF) {
			l.err = err
			return n, err
		}
	}
	return n, nil
}

func (l *litReader) drain() error {
	if l.err != nil {
		return l.err
	}
	if l.n > 0 {
		if _, err := io.CopyN(io.Discard, l.p.r, l.n); err != nil {
			l.err = eof(err)
			return l.err
		}
		l.n = 0
	}
	return nil
}

// Rest returns the rest of the current segment unparsed (for trace and
// for commands like AUTHENTICATE whose arguments are atoms anyway).
func (p *Parser) Rest() string { return string(p.line[p.pos:p.end()]) }

// ReadLine reads one line outside any command (a SASL response, IDLE's
// DONE), bounded by MaxLine, without its line end.
func (p *Parser) ReadLine() (string, error) {
	if err := p.readSegment(false); err != nil {
		return "", err
	}
	if p.lit.present {
		p.lit = literal{}
	}
	s := string(p.line)
	p.line, p.pos = nil, 0
	return s, nil
}

package sieve

import (
	"fmt"
	"strings"
)

// Pos is a position in a script: 1-based line and column (in bytes).
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Error is a compile error with the position it was found at.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Pos.Line, e.Pos.Col, e.Msg)
}

func errAt(p Pos, format string, args ...any) *Error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tTag
	tNumber
	tString
	tLBracket
	tRBracket
	tLParen
	tRParen
	tLBrace
	tRBrace
	tComma
	tSemicolon
)

var tokNames = [...]string{
	tEOF: "end of script", tIdent: "identifier", tTag: "tag", tNumber: "number",
	tString: "string", tLBracket: `"["`, tRBracket: `"]"`, tLParen: `"("`, tRParen: `")"`,
	tLBrace: `"{"`, tRBrace: `"}"`, tComma: `","`, tSemicolon: `";"`,
}

func (k tokKind) String() string { return tokNames[k] }

type token struct {
	kind tokKind
	pos  Pos
	text string // identifier or tag name (lower-cased), or string value
	num  uint64
}

// lexer turns a script into tokens (RFC 5228 section 8.1).
type lexer struct {
	src       string
	off       int
	line, col int
	maxString int
}

func newLexer(src string, maxString int) *lexer {
	return &lexer{src: src, line: 1, col: 1, maxString: maxString}
}

func (l *lexer) pos() Pos { return Pos{l.line, l.col} }

func (l *lexer) advance(n int) {
	for i := 0; i < n; i++ {
		if l.src[l.off] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.off++
	}
}

func (l *lexer) peekByte(i int) byte {
	if l.off+i < len(l.src) {
		return l.src[l.off+i]
	}
	return 0
}

// skipSpace skips white space and both comment forms.
func (l *lexer) skipSpace() error {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance(1)
		case c == '#':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.advance(1)
			}
		case c == '/' && l.peekByte(1) == '*':
			start := l.pos()
			end := strings.Index(l.src[l.off+2:], "*/")
			if end < 0 {
				return errAt(start, "unterminated /* comment")
			}
			l.advance(end + 4)
		default:
			return nil
		}
	}
	return nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

var punct = map[byte]tokKind{'[': tLBracket, ']': tRBracket, '(': tLParen, ')': tRParen,
	'{': tLBrace, '}': tRBrace, ',': tComma, ';': tSemicolon}

func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := l.src[l.off]
	if k, ok := punct[c]; ok {
		l.advance(1)
		return token{kind: k, pos: p}, nil
	}
	switch {
	case c == '"':
		s, err := l.quoted()
		return token{kind: tString, pos: p, text: s}, err
	case c == ':':
		if !isAlpha(l.peekByte(1)) {
			return token{}, errAt(p, "expected a tag name after \":\"")
		}
		l.advance(1)
		return token{kind: tTag, pos: p, text: l.ident()}, nil
	case isDigit(c):
		n, err := l.number(p)
		return token{kind: tNumber, pos: p, num: n}, err
	case isAlpha(c):
		id := l.ident()
		if id == "text" && l.peekByte(0) == ':' {
			l.advance(1)
			s, err := l.multiline(p)
			return token{kind: tString, pos: p, text: s}, err
		}
		return token{kind: tIdent, pos: p, text: id}, nil
	}
	return token{}, errAt(p, "unexpected character %q", c)
}

func (l *lexer) ident() string {
	start := l.off
	for l.off < len(l.src) && (isAlpha(l.src[l.off]) || isDigit(l.src[l.off])) {
		l.advance(1)
	}
	return strings.ToLower(l.src[start:l.off])
}

// number reads digits with an optional K, M or G quantifier (RFC 5228 2.4.1).
func (l *lexer) number(p Pos) (uint64, error) {
	var n uint64
	for l.off < len(l.src) && isDigit(l.src[l.off]) {
		d := uint64(l.src[l.off] - '0')
		if n > (1<<63-1-d)/10 {
			return 0, errAt(p, "number too large")
		}
		n = n*10 + d
		l.advance(1)
	}
	shift := 0
	switch l.peekByte(0) {
	case 'k', 'K':
		shift = 10
	case 'm', 'M':
		shift = 20
	case 'g', 'G':
		shift = 30
	}
	if shift > 0 {
		if n > (1<<63-1)>>shift {
			return 0, errAt(p, "number too large")
		}
		n <<= shift
		l.advance(1)
	}
	if isAlpha(l.peekByte(0)) {
		return 0, errAt(l.pos(), "unexpected %q after number", l.peekByte(0))
	}
	return n, nil
}

// quoted reads a quoted string. A backslash makes the next character literal;
// "\a" for any other a is just "a" (RFC 5228 2.4.2).
func (l *lexer) quoted() (string, error) {
	start := l.pos()
	l.advance(1)
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return "", errAt(start, "unterminated string")
		}
		c := l.src[l.off]
		switch c {
		case '"':
			l.advance(1)
			return b.String(), nil
		case '\\':
			if l.off+1 >= len(l.src) {
				return "", errAt(start, "unterminated string")
			}
			l.advance(1)
			c = l.src[l.off]
		}
		b.WriteByte(c)
		l.advance(1)
		if b.Len() > l.maxString {
			return "", errAt(start, "string longer than %d bytes", l.maxString)
		}
	}
}

// multiline reads the rest of a "text:" string: optional blanks, an optional
// hash comment, the line end, then lines up to a line holding only ".".
// A line starting with ".." loses its first dot (RFC 5228 2.4.2).
func (l *lexer) multiline(start Pos) (string, error) {
	for l.off < len(l.src) && (l.src[l.off] == ' ' || l.src[l.off] == '\t') {
		l.advance(1)
	}
	if l.peekByte(0) == '#' {
		for l.off < len(l.src) && l.src[l.off] != '\n' {
			l.advance(1)
		}
	}
	if l.peekByte(0) == '\r' {
		l.advance(1)
	}
	if l.peekByte(0) != '\n' {
		return "", errAt(l.pos(), "expected end of line after \"text:\"")
	}
	l.advance(1)
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return "", errAt(start, "unterminated multi-line string")
		}
		end := strings.IndexByte(l.src[l.off:], '\n')
		if end < 0 {
			return "", errAt(start, "unterminated multi-line string")
		}
		line := l.src[l.off : l.off+end+1]
		l.advance(end + 1)
		if body := strings.TrimRight(line, "\r\n"); body == "." {
			return b.String(), nil
		}
		if strings.HasPrefix(line, "..") {
			line = line[1:]
		}
		// Normalize line ends to CRLF: the RFC's strings are CRLF-terminated.
		b.WriteString(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"))
		b.WriteString("\r\n")
		if b.Len() > l.maxString {
			return "", errAt(start, "string longer than %d bytes", l.maxString)
		}
	}
}

package wire

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// The tokens of RFC 9051 §9 that handlers read: atoms, strings, numbers,
// flags, dates and sequence sets. Literals come from literal (parser.go).

// isAtomChar: ATOM-CHAR of RFC 9051 §9 (any CHAR except atom-specials).
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return c > 0x20 && c < 0x7f
}

// isAStringChar: ASTRING-CHAR (atom chars and "]").
func isAStringChar(c byte) bool { return isAtomChar(c) || c == ']' }

func isListChar(c byte) bool { return isAStringChar(c) || c == '%' || c == '*' }

func (p *Parser) run(ok func(byte) bool) string {
	start := p.pos
	for p.pos < p.end() && ok(p.line[p.pos]) {
		p.pos++
	}
	return string(p.line[start:p.pos])
}

// Tag reads a command tag: astring chars except "+".
func (p *Parser) Tag() (string, error) {
	s := p.run(func(c byte) bool { return isAStringChar(c) && c != '+' })
	if s == "" {
		return "", bad("Missing or invalid tag")
	}
	return s, nil
}

// Atom reads an atom.
func (p *Parser) Atom() (string, error) {
	if err := p.token(); err != nil {
		return "", err
	}
	s := p.run(isAtomChar)
	if s == "" {
		return "", p.expected("atom")
	}
	return s, nil
}

// AtomStop reads an atom that also stops at any byte of stop (for FETCH
// items like "BODY.PEEK[1]<0.10>").
func (p *Parser) AtomStop(stop string) (string, error) {
	if err := p.token(); err != nil {
		return "", err
	}
	s := p.run(func(c byte) bool { return isAtomChar(c) && strings.IndexByte(stop, c) < 0 })
	if s == "" {
		return "", p.expected("atom")
	}
	return s, nil
}

func (p *Parser) expected(what string) error {
	if p.err != nil {
		return p.err
	}
	if b, ok := p.peek(); ok {
		return bad("Expected %s, got %q", what, b)
	}
	if p.AtLiteral() {
		return bad("Expected %s, got a literal", what)
	}
	return bad("Expected %s", what)
}

// AcceptFold consumes word (ASCII, case-insensitive) when it comes next
// and is not followed by another atom char.
func (p *Parser) AcceptFold(word string) bool {
	e := p.end()
	n := len(word)
	if p.pos+n > e || !strings.EqualFold(string(p.line[p.pos:p.pos+n]), word) {
		return false
	}
	if p.pos+n < e && isAtomChar(p.line[p.pos+n]) {
		return false
	}
	p.pos += n
	return true
}

// AcceptPrefixFold consumes word (case-insensitive) when it comes next,
// whatever follows it (for "BODY.PEEK[", "RFC822.SIZE" and the like).
func (p *Parser) AcceptPrefixFold(word string) bool {
	n := len(word)
	if p.pos+n > p.end() || !strings.EqualFold(string(p.line[p.pos:p.pos+n]), word) {
		return false
	}
	p.pos += n
	return true
}

// Quoted reads a quoted string. UTF-8 is accepted when valid.
func (p *Parser) Quoted() (string, error) {
	if err := p.token(); err != nil {
		return "", err
	}
	return p.quoted()
}

func (p *Parser) quoted() (string, error) {
	if !p.Accept('"') {
		return "", p.expected("quoted string")
	}
	var b []byte
	start := p.pos
	e := p.end()
	for p.pos < e {
		c := p.line[p.pos]
		switch {
		case c == '"':
			var s string
			if b == nil {
				s = string(p.line[start:p.pos])
			} else {
				s = string(b)
			}
			p.pos++
			if !utf8.ValidString(s) {
				return "", bad("Invalid UTF-8 in quoted string")
			}
			return s, nil
		case c == '\\':
			if b == nil {
				b = append([]byte{}, p.line[start:p.pos]...)
			}
			p.pos++
			if p.pos >= e || (p.line[p.pos] != '"' && p.line[p.pos] != '\\') {
				return "", bad("Invalid escape in quoted string")
			}
			b = append(b, p.line[p.pos])
		case c == 0 || c == '\r' || c == '\n':
			return "", bad("Invalid character in quoted string")
		default:
			if b != nil {
				b = append(b, c)
			}
		}
		p.pos++
	}
	return "", bad("Unterminated quoted string")
}

// String reads a quoted string or a literal (read into memory, bounded by
// MaxLiteral).
func (p *Parser) String() (string, error) {
	if err := p.token(); err != nil {
		return "", err
	}
	if p.AtLiteral() {
		b, err := p.literalBytes()
		return string(b), err
	}
	return p.quoted()
}

// StringBytes is String returning bytes (for SASL and search strings that
// need not be UTF-8).
func (p *Parser) StringBytes() ([]byte, error) {
	if err := p.token(); err != nil {
		return nil, err
	}
	if p.AtLiteral() {
		return p.literalBytes()
	}
	s, err := p.quoted()
	return []byte(s), err
}

// AString reads an astring: an atom (with "]"), a quoted string or a
// literal.
func (p *Parser) AString() (string, error) {
	return p.stringOr(isAStringChar, "string")
}

// NString reads an nstring: NIL or a string.
func (p *Parser) NString() (s string, isNil bool, err error) {
	if p.AcceptFold("NIL") {
		return "", true, p.token()
	}
	s, err = p.String()
	return s, false, err
}

// ListMailbox reads a list-mailbox: list chars (atom chars, "%", "*",
// "]") or a string.
func (p *Parser) ListMailbox() (string, error) {
	return p.stringOr(isListChar, "mailbox pattern")
}

// stringOr reads a literal, a quoted string, or a non-empty run of the
// characters bare accepts (what makes an astring or a list-mailbox).
func (p *Parser) stringOr(bare func(byte) bool, what string) (string, error) {
	if err := p.token(); err != nil {
		return "", err
	}
	if p.AtLiteral() {
		b, err := p.literalBytes()
		return string(b), err
	}
	if c, ok := p.peek(); ok && c == '"' {
		return p.quoted()
	}
	s := p.run(bare)
	if s == "" {
		return "", p.expected(what)
	}
	return s, nil
}

// Flag reads a flag: "\" atom (a system flag or "\*", which the caller
// accepts only where the grammar does) or a keyword atom.
func (p *Parser) Flag() (string, error) {
	if err := p.token(); err != nil {
		return "", err
	}
	if p.Accept('\\') {
		if p.Accept('*') {
			return `\*`, nil
		}
		s := p.run(isAtomChar)
		if s == "" {
			return "", bad("Invalid flag")
		}
		return `\` + s, nil
	}
	s := p.run(isAtomChar)
	if s == "" {
		return "", p.expected("flag")
	}
	return s, nil
}

// FlagList reads "(" [flag *(SP flag)] ")".
func (p *Parser) FlagList() ([]string, error) {
	if err := p.Expect('('); err != nil {
		return nil, err
	}
	var flags []string
	for !p.Accept(')') {
		if len(flags) > 0 {
			if err := p.SP(); err != nil {
				return nil, err
			}
		}
		f, err := p.Flag()
		if err != nil {
			return nil, err
		}
		flags = append(flags, f)
	}
	return flags, nil
}

// Number reads a number that fits 32 bits.
func (p *Parser) Number() (uint32, error) {
	n, err := p.Number64()
	if err != nil {
		return 0, err
	}
	if n > math.MaxUint32 {
		return 0, bad("Number too large")
	}
	return uint32(n), nil
}

// NZNumber reads a non-zero 32-bit number.
func (p *Parser) NZNumber() (uint32, error) {
	n, err := p.Number()
	if err == nil && n == 0 {
		return 0, bad("Number must not be zero")
	}
	return n, err
}

// Number64 reads a number up to 2^63-1 (RFC 9051 number64).
func (p *Parser) Number64() (uint64, error) {
	if err := p.token(); err != nil {
		return 0, err
	}
	s := p.run(func(c byte) bool { return '0' <= c && c <= '9' })
	if s == "" {
		return 0, p.expected("number")
	}
	if len(s) > 19 {
		return 0, bad("Number too large")
	}
	var n uint64
	for _, c := range []byte(s) {
		n = n*10 + uint64(c-'0')
	}
	if n > math.MaxInt64 {
		return 0, bad("Number too large")
	}
	return n, nil
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// DateTime reads a quoted date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (the day
// may be " d").
func (p *Parser) DateTime() (time.Time, error) {
	if err := p.token(); err != nil {
		return time.Time{}, err
	}
	s, err := p.quoted()
	if err != nil {
		return time.Time{}, err
	}
	if len(s) == 26 && s[0] == ' ' {
		s = "0" + s[1:]
	}
	t, err := time.Parse("02-Jan-2006 15:04:05 -0700", s)
	if err != nil || len(s) != 26 {
		return time.Time{}, bad("Invalid date-time")
	}
	return t, nil
}

// Date reads a search date: date-text ("d-Mon-yyyy" or "dd-Mon-yyyy"),
// quoted or not. The result is midnight UTC of that day.
func (p *Parser) Date() (time.Time, error) {
	if err := p.token(); err != nil {
		return time.Time{}, err
	}
	var s string
	var err error
	if c, ok := p.peek(); ok && c == '"' {
		s, err = p.quoted()
	} else {
		s = p.run(isAtomChar)
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse("2-Jan-2006", s)
	if err != nil || len(s) < 10 || len(s) > 11 {
		return time.Time{}, bad("Invalid date")
	}
	return t, nil
}

// SeqSet reads a sequence set (also a UID set) or "$" (RFC 5182).
func (p *Parser) SeqSet() (SeqSet, error) {
	if err := p.token(); err != nil {
		return SeqSet{}, err
	}
	if p.Accept('$') {
		return SeqSet{Dollar: true}, nil
	}
	var set SeqSet
	for {
		lo, err := p.seqNumber()
		if err != nil {
			return SeqSet{}, err
		}
		hi := lo
		if p.Accept(':') {
			if hi, err = p.seqNumber(); err != nil {
				return SeqSet{}, err
			}
		}
		if len(set.Ranges) >= p.lim.MaxTokens && p.lim.MaxTokens > 0 {
			return SeqSet{}, &Error{Text: "Sequence set too long", Code: "LIMIT"}
		}
		set.Ranges = append(set.Ranges, Range{Lo: lo, Hi: hi})
		if !p.Accept(',') {
			return set, nil
		}
	}
}

func (p *Parser) seqNumber() (uint32, error) {
	if p.Accept('*') {
		return Star, nil
	}
	s := p.run(func(c byte) bool { return '0' <= c && c <= '9' })
	if s == "" {
		return 0, p.expected("sequence number")
	}
	var n uint64
	for _, c := range []byte(s) {
		n = n*10 + uint64(c-'0')
		if n > math.MaxUint32 {
			return 0, bad("Sequence number too large")
		}
	}
	if n == 0 {
		return 0, bad("Invalid sequence number 0")
	}
	return uint32(n), nil
}

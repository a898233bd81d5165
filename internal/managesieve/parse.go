package managesieve

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// RFC 5804 section 4 grammar, as far as commands go:
//
//	command = atom *(SP argument) CRLF
//	argument = string / number
//	string = quoted / literal-c2s
//	quoted = DQUOTE *(SAFE-CHAR / "\" QUOTED-SPECIALS) DQUOTE
//	literal-c2s = "{" number "+}" CRLF *OCTET
//
// The synchronizing form "{n}" is accepted too (no continuation is ever
// sent: a client using it must not wait for one, as RFC 5804 2.7 lets
// servers decide). Lines are bounded before they are buffered, literals
// before they are allocated.

type argKind uint8

const (
	argAtom argKind = iota + 1
	argString
	argNumber
)

type arg struct {
	kind argKind
	s    string // atom or string
	n    int64  // number
}

var (
	errLineTooLong = errors.New("managesieve: line too long")
	errSyntax      = errors.New("managesieve: syntax error")
	// errLiteralTooLarge: a literal over the limit. One up to
	// maxDiscard octets has been read and dropped with the rest of its
	// command; a larger one leaves the stream unusable.
	errLiteralTooLarge = errors.New("managesieve: literal too large")
	errTooManyArgs     = errors.New("managesieve: too many arguments")
	// errLiteralUnreadable joins errLiteralTooLarge for a literal too
	// large to skip.
	errLiteralUnreadable = errors.New("managesieve: literal too large to skip")
)

// Bounds of one command.
const (
	maxLine    = 8 << 10 // one line outside literals (SASL responses included)
	maxArgs    = 8
	maxDiscard = 1 << 20 // a literal over the limit is skipped up to this size
)

// commandReader reads commands from a client.
type commandReader struct {
	br         *bufio.Reader
	maxLiteral int64
}

// readLine returns one line without CRLF (a bare LF is accepted). A line
// over maxLine octets is consumed and reported as errLineTooLong.
func (r *commandReader) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(line)+len(chunk) > maxLine+2 {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.br.ReadSlice('\n')
			}
			if err != nil {
				return nil, err
			}
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
		return line, nil
	}
}

// readCommand reads one command: its name (an atom, upper-cased by the
// caller) and arguments, literals included.
func (r *commandReader) readCommand() ([]arg, error) {
	var args []arg
	for {
		line, err := r.readLine()
		if err != nil {
			return nil, err
		}
		toks, lit, err := tokenize(line)
		if err != nil {
			return nil, err
		}
		args = append(args, toks...)
		if len(args) > maxArgs {
			return nil, r.skipCommand(lit, errTooManyArgs)
		}
		if lit < 0 {
			if len(args) == 0 || args[0].kind != argAtom {
				return nil, errSyntax
			}
			return args, nil
		}
		if lit > r.maxLiteral {
			return nil, r.skipCommand(lit, errLiteralTooLarge)
		}
		buf := make([]byte, lit)
		if _, err := io.ReadFull(r.br, buf); err != nil {
			return nil, err
		}
		args = append(args, arg{kind: argString, s: string(buf)})
	}
}

// skipCommand drops the rest of a refused command: the literal announced
// (when not too large to read through) and the lines after it.
func (r *commandReader) skipCommand(lit int64, why error) error {
	for lit >= 0 {
		if lit > maxDiscard {
			return errors.Join(why, errLiteralUnreadable) // the caller closes
		}
		if _, err := io.CopyN(io.Discard, r.br, lit); err != nil {
			return err
		}
		line, err := r.readLine()
		if err != nil {
			return err
		}
		if _, lit, err = tokenize(line); err != nil {
			return why
		}
	}
	return why
}

// tokenize splits one line into arguments. lit is the size of a literal
// announced at the end of the line, or -1.
func tokenize(line []byte) (args []arg, lit int64, err error) {
	i := 0
	for i < len(line) {
		if line[i] == ' ' {
			i++
			continue
		}
		switch c := line[i]; {
		case c == '"':
			s, n, ok := unquote(line[i:])
			if !ok {
				return nil, -1, errSyntax
			}
			args = append(args, arg{kind: argString, s: s})
			i += n
		case c == '{':
			n, ok := literalSize(line[i:])
			if !ok {
				return nil, -1, errSyntax
			}
			return args, n, nil
		case c >= '0' && c <= '9':
			j := i
			for j < len(line) && line[j] >= '0' && line[j] <= '9' {
				j++
			}
			n, err := strconv.ParseInt(string(line[i:j]), 10, 64)
			if err != nil || n > 1<<32-1 { // RFC 5804: number < 4294967296
				return nil, -1, errSyntax
			}
			args = append(args, arg{kind: argNumber, n: n})
			i = j
		default:
			j := i
			for j < len(line) && line[j] != ' ' {
				if line[j] < 0x21 || line[j] > 0x7e || line[j] == '"' || line[j] == '{' {
					return nil, -1, errSyntax
				}
				j++
			}
			args = append(args, arg{kind: argAtom, s: string(line[i:j])})
			i = j
		}
		if i < len(line) && line[i] != ' ' {
			return nil, -1, errSyntax
		}
	}
	return args, -1, nil
}

// unquote reads a quoted string at the start of b and returns it and the
// octets it took. Only \" and \\ are escapes; CR, LF and NUL are not
// allowed; the content must be UTF-8.
func unquote(b []byte) (string, int, bool) {
	var out []byte
	for i := 1; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			if !utf8.Valid(out) {
				return "", 0, false
			}
			return string(out), i + 1, true
		case '\\':
			i++
			if i >= len(b) || (b[i] != '"' && b[i] != '\\') {
				return "", 0, false
			}
			out = append(out, b[i])
		case 0, '\r', '\n':
			return "", 0, false
		default:
			out = append(out, c)
		}
	}
	return "", 0, false
}

// literalSize parses "{n+}" or "{n}", which must end the line.
func literalSize(b []byte) (int64, bool) {
	if len(b) < 3 || b[len(b)-1] != '}' {
		return 0, false
	}
	digits := b[1 : len(b)-1]
	digits = bytes.TrimSuffix(digits, []byte("+"))
	if len(digits) == 0 || len(digits) > 10 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	return n, err == nil
}

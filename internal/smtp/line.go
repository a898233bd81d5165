package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// errLineTooLongRead is a command line over the limit; the session answers
// 500 5.4.0 and closes (the rest of the line cannot be trusted to be a
// command).
var errLineTooLongRead = errors.New("smtp: line too long")

// readLine returns one line without its CRLF (or bare LF). The line is
// bounded before it is buffered: ReadSlice never holds more than the
// reader's fixed buffer, and the fragments are collected only up to
// limit octets. A line cut by EOF or a timeout is not a line: it is never
// executed. The slice is valid until the next read.
func (ss *session) readLine(limit int) ([]byte, error) {
	ss.line = ss.line[:0]
	for {
		frag, err := ss.r.ReadSlice('\n')
		if len(ss.line)+len(frag) > limit {
			return nil, errLineTooLongRead
		}
		switch {
		case err == nil && len(ss.line) == 0:
			return trimEOL(frag), nil // the common case: no copy
		case err == nil:
			ss.line = append(ss.line, frag...)
			return trimEOL(ss.line), nil
		case errors.Is(err, bufio.ErrBufferFull):
			ss.line = append(ss.line, frag...)
		default:
			if len(ss.line)+len(frag) > 0 && errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

func trimEOL(b []byte) []byte {
	b = b[:len(b)-1] // the LF
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// splitCommand splits a command line into its verb (upper-cased) and the
// argument text after the first space. A verb is letters only (RFC 5321
// section 4.1.1: four of them for every command we know); anything else
// is an unrecognised command.
func splitCommand(line []byte) (verb string, arg []byte) {
	v := line
	if i := bytes.IndexByte(line, ' '); i >= 0 {
		v, arg = line[:i], line[i+1:]
	}
	if len(v) == 0 || len(v) > 8 {
		return "", nil
	}
	var up [8]byte
	for i, c := range v {
		switch {
		case 'A' <= c && c <= 'Z':
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		default:
			return "", nil
		}
		up[i] = c
	}
	return string(up[:len(v)]), arg
}

// hasControl reports whether a command line holds a control character
// (NUL, a bare CR, ...): such a line is refused whole.
func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

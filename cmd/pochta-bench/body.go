package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// errBareLF marks a body line not ended by CRLF. RFC 1939 §3 requires
// CRLF everywhere, and a server that sends bare LF would report LIST sizes
// that no client can check, so the tool counts it as an error.
var errBareLF = errors.New("line not terminated by CRLF")

// errUnterminated marks a multi-line response cut off before its ".CRLF".
var errUnterminated = errors.New("multi-line response not terminated by .CRLF")

// readBody consumes one multi-line response body, the lines after the +OK
// status line up to and including the terminating ".CRLF", and returns how
// many octets the body had after undoing dot-stuffing. That count is what
// RFC 1939 LIST reports, so a caller compares the two to catch a server
// that stuffs, unstuffs or terminates wrongly.
//
// It reads with ReadSlice so a body costs no allocation per line: a line
// longer than the reader's buffer arrives in fragments, and only the first
// fragment of a line can carry the stuffed dot or be the terminator.
func readBody(r *bufio.Reader) (int64, error) {
	var n int64
	lineStart := true
	prevCR := false // last fragment of a long line ended in CR
	for {
		frag, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if lineStart && frag[0] == '.' {
				frag = frag[1:]
			}
			n += int64(len(frag))
			prevCR = len(frag) > 0 && frag[len(frag)-1] == '\r'
			lineStart = false
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("%w: %w", errUnterminated, err)
		}
		if lineStart {
			if len(frag) == 3 && frag[0] == '.' && frag[1] == '\r' {
				return n, nil
			}
			if frag[0] == '.' { // RFC 1939 §3: a leading "." was doubled
				frag = frag[1:]
			}
		}
		crlf := len(frag) >= 2 && frag[len(frag)-2] == '\r' ||
			len(frag) == 1 && prevCR
		if !crlf {
			// Keep reading to the terminator so the connection stays
			// usable, but report the damage.
			rest, err := readBody(r)
			if err != nil {
				return n + int64(len(frag)) + rest, err
			}
			return n + int64(len(frag)) + rest, errBareLF
		}
		n += int64(len(frag))
		lineStart, prevCR = true, false
	}
}

// countLines consumes a multi-line response body and returns its number of
// lines (for UIDL and LIST, one line per message).
func countLines(r *bufio.Reader, each func(line []byte) error) (int, error) {
	count := 0
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return count, fmt.Errorf("%w: %w", errUnterminated, err)
		}
		if len(line) == 3 && line[0] == '.' && line[1] == '\r' {
			return count, nil
		}
		if each != nil {
			if err := each(line); err != nil {
				return count, err
			}
		}
		count++
	}
}

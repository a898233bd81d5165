package pop3

import (
	"bufio"
	"bytes"
	"errors"
)

// errTopDone stops the body copy once TOP has sent its lines.
var errTopDone = errors.New("pop3: TOP line limit reached")

// bodyWriter writes a message body into the response. With stuff set it
// doubles a "." that starts a line (RFC 1939 §3 byte-stuffing); with
// lines >= 0 it is TOP: it stops (errTopDone) after the header, the blank
// line that ends it and that many body lines. Bodies are CRLF already
// (store contract), so unlike net/textproto's dotWriter it never rewrites
// line endings; it only follows line starts.
type bodyWriter struct {
	w      *bufio.Writer
	stuff  bool
	lines  int64 // body lines still to send; < 0 means all
	inBody bool  // the blank line ending the header has been sent
	n      int   // bytes sent of the current line; 0 = at a line start
	cr     bool  // the last byte sent was CR
	werr   error // a write to the client failed
}

func (bw *bodyWriter) atLineStart() bool { return bw.n == 0 }

func (bw *bodyWriter) Write(p []byte) (int, error) {
	if !bw.stuff && bw.lines < 0 {
		// Nothing to look at but the last byte.
		if len(p) > 0 {
			bw.n = 0
			if p[len(p)-1] != '\n' {
				bw.n = 1
			}
		}
		return bw.write(p)
	}
	if bw.lines < 0 {
		return bw.stuffAll(p)
	}
	// Only line starts matter: find each line end with the vectorised
	// IndexByte and look at the byte after it, never at every byte.
	start := 0 // p[:start] is written
	ls := 0    // where the current line starts in p (len(p): beyond p)
	for {
		if bw.n == 0 && bw.stuff && ls < len(p) && p[ls] == '.' {
			if _, err := bw.write(p[start:ls]); err != nil {
				return start, err
			}
			if _, err := bw.write(dot); err != nil {
				return ls, err
			}
			start = ls // the original dot goes out with the next run
		}
		k := bytes.IndexByte(p[ls:], '\n')
		if k < 0 {
			if ls < len(p) {
				bw.n += len(p) - ls
				bw.cr = p[len(p)-1] == '\r'
			}
			break
		}
		end := ls + k // the line's LF
		length, crBefore := bw.n+k, k == 0 && bw.cr || k > 0 && p[end-1] == '\r'
		bw.n, bw.cr = 0, false
		ls = end + 1
		if bw.lines >= 0 && bw.top(length, crBefore) {
			if _, err := bw.write(p[start:ls]); err != nil {
				return start, err
			}
			return ls, errTopDone
		}
	}
	if _, err := bw.write(p[start:]); err != nil {
		return start, err
	}
	return len(p), nil
}

// stuffAll is Write for RETR of a body with dot lines: no line count to
// follow, so only a "." after an LF matters, found by the vectorised
// two-octet search; the lines between are never looked at. (Finding each
// line end instead was a call per line, 5% of a RETR's CPU.)
func (bw *bodyWriter) stuffAll(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	start := 0 // p[:start] is written
	if bw.n == 0 && p[0] == '.' {
		if _, err := bw.write(dot); err != nil {
			return 0, err
		}
	}
	for from := 0; ; {
		k := bytes.Index(p[from:], lfDot)
		if k < 0 {
			break
		}
		d := from + k + 1 // the dot starting a line
		if _, err := bw.write(p[start:d]); err != nil {
			return start, err
		}
		if _, err := bw.write(dot); err != nil {
			return d, err
		}
		start, from = d, d // the original dot goes out with the next run
	}
	if _, err := bw.write(p[start:]); err != nil {
		return start, err
	}
	bw.n, bw.cr = 0, p[len(p)-1] == '\r'
	if p[len(p)-1] != '\n' {
		bw.n = 1 // within a line; only whether it is 0 matters here
	}
	return len(p), nil
}

var lfDot = []byte("\n.")

// top follows TOP's count at the end of a line of length octets before
// its LF (crBefore: the last of them is CR) and reports whether the
// requested lines are all sent.
func (bw *bodyWriter) top(length int, crBefore bool) bool {
	blank := length == 0 || length == 1 && crBefore
	switch {
	case !bw.inBody:
		bw.inBody = blank
		return blank && bw.lines == 0
	case bw.lines > 0:
		bw.lines--
		return bw.lines == 0
	}
	return false
}

var dot = []byte{'.'}

func (bw *bodyWriter) write(p []byte) (int, error) {
	n, err := bw.w.Write(p)
	if err != nil {
		bw.werr = err
	}
	return n, err
}

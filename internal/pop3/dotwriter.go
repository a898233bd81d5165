package pop3

import (
	"bufio"
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
	start := 0
	for i, c := range p {
		if c == '.' && bw.n == 0 && bw.stuff {
			if _, err := bw.write(p[start:i]); err != nil {
				return start, err
			}
			if _, err := bw.write(dot); err != nil {
				return i, err
			}
			start = i // the original dot goes out with the next run
		}
		if c != '\n' {
			bw.n++
			bw.cr = c == '\r'
			continue
		}
		blank := bw.n == 0 || (bw.n == 1 && bw.cr)
		bw.n, bw.cr = 0, false
		stop := false
		switch {
		case !bw.inBody:
			bw.inBody = blank
			stop = blank && bw.lines == 0
		case bw.lines > 0:
			bw.lines--
			stop = bw.lines == 0
		}
		if stop {
			if _, err := bw.write(p[start : i+1]); err != nil {
				return start, err
			}
			return i + 1, errTopDone
		}
	}
	if _, err := bw.write(p[start:]); err != nil {
		return start, err
	}
	return len(p), nil
}

var dot = []byte{'.'}

func (bw *bodyWriter) write(p []byte) (int, error) {
	n, err := bw.w.Write(p)
	if err != nil {
		bw.werr = err
	}
	return n, err
}

// Package message holds message handling shared by the protocols and the
// storage engines: line-ending normalisation and size accounting today,
// header parsing and IMAP structure later.
package message

import (
	"bytes"
	"io"
)

// CRLFWriter normalises line endings while streaming a message into W:
// CRLF stays as is, a bare LF or a bare CR becomes CRLF. In the same pass it
// counts the octets written and notes whether any line starts with ".".
//
// Stored messages must use CRLF so that a POP3 LIST size and an IMAP
// RFC822.SIZE equal the octets later sent; doing it while streaming means
// the body is read once and never held in memory.
//
// Call Close after the last Write: it terminates an unterminated last line,
// so every non-empty stored message ends with CRLF (a POP3 multi-line
// response needs that before its terminating ".").
type CRLFWriter struct {
	w           io.Writer
	buf         []byte // scratch output, reused between writes
	size        int64
	dotLines    bool
	afterCR     bool // last input byte was CR, already written as CRLF
	atLineStart bool // the next output byte starts a line
	closed      bool
}

// NewCRLFWriter returns a CRLFWriter writing to w.
func NewCRLFWriter(w io.Writer) *CRLFWriter {
	return &CRLFWriter{w: w, atLineStart: true}
}

// Write normalises p and writes it to the underlying writer. It reports
// len(p) on success; after an error of the underlying writer the state is
// undefined and the message must be discarded.
func (c *CRLFWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	// Mail arrives over SMTP with CRLF line ends already: then p is
	// written as it is, with no copy. Otherwise it is rewritten into buf.
	var out []byte
	if c.alreadyNormal(p) {
		out = p
	} else {
		out = c.normalise(p)
		if len(out) == 0 { // the LF of a CRLF split between writes
			return len(p), nil
		}
	}
	n, err := c.w.Write(out)
	c.size += int64(n)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// alreadyNormal reports whether p needs no change: every CR is followed
// by an LF and every LF follows a CR, within p. If so it notes what
// normalise would have noted (a line starting with "."). Line ends are
// found with the vectorised IndexByte, and only line starts are looked at.
// A p ending in CR is left to normalise: whether that CR is bare depends
// on the next write, and normalise turns it into CRLF at once.
func (c *CRLFWriter) alreadyNormal(p []byte) bool {
	if c.afterCR && p[0] == '\n' || p[len(p)-1] == '\r' {
		return false
	}
	dot := c.dotLines
	atStart := c.atLineStart
	for start := 0; start < len(p); {
		if atStart && p[start] == '.' {
			dot = true
		}
		rest := p[start:]
		k := bytes.IndexByte(rest, '\n')
		if k < 0 {
			if bytes.IndexByte(rest, '\r') >= 0 {
				return false
			}
			break
		}
		if k == 0 || rest[k-1] != '\r' || bytes.IndexByte(rest[:k-1], '\r') >= 0 {
			return false
		}
		start += k + 1
		atStart = true
	}
	c.dotLines = dot
	c.atLineStart = p[len(p)-1] == '\n'
	c.afterCR = false
	return true
}

// normalise rewrites p into buf, each bare CR or LF as CRLF.
func (c *CRLFWriter) normalise(p []byte) []byte {
	// At most one octet added per input octet; an eighth more is enough
	// for text with bare line ends, and append grows it otherwise.
	if cap(c.buf) < len(p)+len(p)/8 {
		c.buf = make([]byte, 0, len(p)+len(p)/8)
	}
	out := c.buf[:0]
	for _, b := range p {
		switch {
		case b == '\n' && c.afterCR:
			// Second half of a CRLF whose CR already produced "\r\n".
			c.afterCR = false
			continue
		case b == '\r' || b == '\n':
			out = append(out, '\r', '\n')
			c.afterCR = b == '\r'
			c.atLineStart = true
			continue
		}
		c.afterCR = false
		if c.atLineStart && b == '.' {
			c.dotLines = true
		}
		c.atLineStart = false
		out = append(out, b)
	}
	c.buf = out
	return out
}

// Close terminates the last line with CRLF if the message is not empty and
// does not already end with a line break. It does not close the underlying
// writer. Calling it twice is harmless.
func (c *CRLFWriter) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if c.size == 0 || c.atLineStart {
		return nil
	}
	n, err := c.w.Write([]byte("\r\n"))
	c.size += int64(n)
	c.atLineStart = true
	return err
}

// Size reports the octets written to the underlying writer so far.
func (c *CRLFWriter) Size() int64 { return c.size }

// DotLines reports whether any line written so far starts with ".".
func (c *CRLFWriter) DotLines() bool { return c.dotLines }

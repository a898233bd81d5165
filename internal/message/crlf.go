// Package message holds message handling shared by the protocols and the
// storage engines: line-ending normalisation and size accounting today,
// header parsing and IMAP structure later.
package message

import "io"

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
	if len(out) == 0 {
		return len(p), nil
	}
	n, err := c.w.Write(out)
	c.size += int64(n)
	if err != nil {
		return 0, err
	}
	return len(p), nil
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

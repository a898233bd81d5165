package message

import (
	"io"
	"strings"
)

// NewDecoder returns a reader that undoes the content transfer encoding
// enc (as in Part.Encoding) while reading r, for IMAP BINARY. ok is false
// for an encoding it does not know (RFC 3516 UNKNOWN-CTE). The decoders
// are lenient, as mail in the wild needs: characters outside the base64
// alphabet are skipped, a malformed quoted-printable escape is kept as
// sent. They stream with a small fixed buffer.
func NewDecoder(enc string, r io.Reader) (dec io.Reader, ok bool) {
	switch strings.ToLower(enc) {
	case "", "7bit", "8bit", "binary":
		return r, true
	case "base64":
		return &b64Reader{src: r}, true
	case "quoted-printable":
		return &qpReader{src: r}, true
	}
	return nil, false
}

// decodeBuf is the decoders' input buffer size.
const decodeBuf = 8192

type b64Reader struct {
	src io.Reader
	in  []byte
	i   int
	acc uint32 // sextets of the current quantum
	n   int    // sextets in acc
	pending
}

func (d *b64Reader) Read(p []byte) (int, error) { return d.read(p, d.fill) }

// pending is a decoder's output not yet read, and how its input ended.
type pending struct {
	buf  []byte // the output buffer, reused: fill runs only once out is read
	out  []byte
	done bool // the input ended
	err  error
}

// read returns decoded octets, calling fill for more until the end.
func (q *pending) read(p []byte, fill func()) (int, error) {
	for len(q.out) == 0 {
		if q.done {
			if q.err != nil {
				return 0, q.err
			}
			return 0, io.EOF
		}
		fill()
	}
	n := copy(p, q.out)
	q.out = q.out[n:]
	return n, nil
}

// fill decodes the next input block into d.out.
func (d *b64Reader) fill() {
	if d.in == nil {
		d.in = make([]byte, decodeBuf)
	}
	n, err := d.src.Read(d.in)
	out := d.buf[:0]
	if cap(out) == 0 {
		out = make([]byte, 0, decodeBuf)
	}
	for _, c := range d.in[:n] {
		if c == '=' {
			d.flush(&out) // padding ends a group
			continue
		}
		v := b64Values[c] // shared with the matcher's decoder
		if v < 0 {
			continue
		}
		d.acc = d.acc<<6 | uint32(v)
		if d.n++; d.n == 4 {
			out = append(out, byte(d.acc>>16), byte(d.acc>>8), byte(d.acc))
			d.acc, d.n = 0, 0
		}
	}
	if err != nil {
		d.done = true
		if err != io.EOF {
			d.err = err
		}
	}
	if d.done {
		d.flush(&out)
	}
	d.buf, d.out = out, out
}

// flush appends the whole octets of a short last group.
func (d *b64Reader) flush(out *[]byte) {
	switch d.n {
	case 2:
		*out = append(*out, byte(d.acc>>4))
	case 3:
		*out = append(*out, byte(d.acc>>10), byte(d.acc>>2))
	}
	d.acc, d.n = 0, 0
}

// qpReader decodes quoted-printable (RFC 2045 section 6.7): "=XX"
// escapes, soft line breaks ("=" at a line end), and white space at the
// end of a line removed.
type qpReader struct {
	src   io.Reader
	in    []byte
	state uint8
	hi    byte   // value of the first hex digit after "="
	hiC   byte   // that digit as sent
	ws    []byte // white space that may turn out to end a line
	pending
}

const (
	qpNormal uint8 = iota
	qpEq           // after "="
	qpEqHex        // after "=" and one hex digit
	qpEqWS         // after "=" and white space (a soft break if the line ends)
	qpCR           // after a CR
	qpEqCR         // after "=" [white space] CR
)

func (d *qpReader) Read(p []byte) (int, error) { return d.read(p, d.fill) }

// maxQPSpace bounds the white space held back while waiting to see
// whether a line ends: longer runs are not trailing space worth removing.
const maxQPSpace = 1024

func (d *qpReader) fill() {
	if d.in == nil {
		d.in = make([]byte, decodeBuf)
	}
	n, err := d.src.Read(d.in)
	out := d.buf[:0]
	for i := 0; i < n; i++ {
		c := d.in[i]
		switch d.state {
		case qpNormal:
			switch {
			case c == '=':
				out = append(out, d.ws...) // space before "=" is not at a line end
				d.ws, d.state = d.ws[:0], qpEq
			case c == ' ' || c == '\t':
				if len(d.ws) >= maxQPSpace {
					out = append(out, d.ws...)
					d.ws = d.ws[:0]
				}
				d.ws = append(d.ws, c)
			case c == '\r':
				d.state = qpCR
			case c == '\n':
				d.ws = d.ws[:0]
				out = append(out, c)
			default:
				out = append(append(out, d.ws...), c)
				d.ws = d.ws[:0]
			}
			continue
		case qpEq:
			if h := unhex(c); h >= 0 {
				d.hi, d.hiC, d.state = byte(h), c, qpEqHex
				continue
			}
			switch c {
			case '\r':
				d.state = qpEqCR
				continue
			case '\n':
				d.state = qpNormal // soft line break
				d.ws = d.ws[:0]
				continue
			case ' ', '\t':
				d.state = qpEqWS
				d.ws = append(d.ws, '=')
				d.ws = append(d.ws, c)
				continue
			}
			out = append(append(out, d.ws...), '=')
			d.ws = d.ws[:0]
		case qpEqHex:
			if h := unhex(c); h >= 0 {
				out = append(append(out, d.ws...), d.hi<<4|byte(h))
				d.ws, d.state = d.ws[:0], qpNormal
				continue
			}
			out = append(append(out, d.ws...), '=', d.hiC)
			d.ws = d.ws[:0]
		case qpEqWS:
			switch c {
			case ' ', '\t':
				if len(d.ws) < maxQPSpace {
					d.ws = append(d.ws, c)
					continue
				}
			case '\r':
				d.state = qpEqCR
				continue
			case '\n':
				d.ws, d.state = d.ws[:0], qpNormal
				continue
			}
			out = append(out, d.ws...)
			d.ws = d.ws[:0]
		case qpCR:
			if c == '\n' {
				out = append(out, '\r', '\n')
				d.ws, d.state = d.ws[:0], qpNormal
				continue
			}
			out = append(append(out, d.ws...), '\r')
			d.ws = d.ws[:0]
		case qpEqCR:
			if c == '\n' {
				d.ws, d.state = d.ws[:0], qpNormal // soft line break
				continue
			}
			if len(d.ws) == 0 {
				d.ws = append(d.ws, '=')
			}
			out = append(append(out, d.ws...), '\r')
			d.ws = d.ws[:0]
		}
		// Not consumed by the escape: read c again as ordinary text.
		d.state = qpNormal
		i--
	}
	if err != nil {
		d.done = true
		if err != io.EOF {
			d.err = err
		}
		// The data ends: white space at its end is trailing space.
		switch d.state {
		case qpEq:
			out = append(out, '=')
		case qpEqHex:
			out = append(out, '=', d.hiC)
		case qpCR:
			out = append(out, '\r')
		}
		d.ws = d.ws[:0]
	}
	d.buf, d.out = out, out
}

package message

import (
	"encoding/base64"
	"io"
	"mime"
	"strings"
	"sync"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Streaming decoders for the matcher: a body line goes through the
// transfer decoding (quoted-printable, base64 or none), then the charset
// decoding, then into the Matcher as runes. Each stage keeps only a few
// bytes of state between writes; malformed input is passed on as it is
// rather than refused (a search must see what a reader would see).

type transferEncoding uint8

const (
	teIdentity transferEncoding = iota
	teQuotedPrintable
	teBase64
)

// textDecoder undoes the transfer encoding of one body part. The walker
// gives it each line's text without its CRLF (write, in pieces for long
// lines) and calls newline between lines.
type textDecoder struct {
	m   *Matcher
	te  transferEncoding
	out []byte // decoded bytes waiting for the charset stage
	cs  charsetDecoder

	// quoted-printable: what follows a pending '='
	qpEq     bool // an '=' was seen
	qpHex    byte // its first hex digit, 0 = none yet
	qpSpaces int  // whitespace after the '=' (a soft line break with padding)

	// base64: bits of the group being assembled
	b64acc uint32
	b64n   int
}

const decodeChunk = 4096

func (d *textDecoder) start(cte, charset string) {
	switch strings.TrimSpace(cte) {
	case "quoted-printable":
		d.te = teQuotedPrintable
	case "base64":
		d.te = teBase64
	default:
		d.te = teIdentity
	}
	if d.out == nil {
		d.out = make([]byte, 0, decodeChunk)
	}
	d.out = d.out[:0]
	d.qpEq, d.qpHex, d.qpSpaces = false, 0, 0
	d.b64acc, d.b64n = 0, 0
	d.cs.start(d.m, charset)
}

func (d *textDecoder) emit(b byte) {
	if len(d.out) == cap(d.out) {
		d.cs.write(d.out)
		d.out = d.out[:0]
	}
	d.out = append(d.out, b)
}

func (d *textDecoder) emitString(s string) {
	for i := 0; i < len(s); i++ {
		d.emit(s[i])
	}
}

func (d *textDecoder) write(p []byte) {
	switch d.te {
	case teIdentity:
		if len(d.out) > 0 {
			d.cs.write(d.out)
			d.out = d.out[:0]
		}
		d.cs.write(p)
		return
	case teQuotedPrintable:
		for _, b := range p {
			d.qp(b)
		}
	case teBase64:
		for len(p) > 0 {
			if d.b64n == 0 {
				p = d.b64run(p)
			}
			if len(p) > 0 {
				d.b64(p[0])
				p = p[1:]
			}
		}
	}
	d.cs.write(d.out)
	d.out = d.out[:0]
}

// qp decodes one quoted-printable octet (RFC 2045 section 6.7). A
// malformed escape is passed through literally.
func (d *textDecoder) qp(b byte) {
	if !d.qpEq {
		if b == '=' {
			d.qpEq = true
		} else {
			d.emit(b)
		}
		return
	}
	if d.qpHex == 0 && (b == ' ' || b == '\t') {
		d.qpSpaces++ // maybe "=" + padding before the line end
		return
	}
	if d.qpSpaces == 0 {
		if v := unhex(b); v >= 0 {
			if d.qpHex == 0 {
				d.qpHex = b
				return
			}
			hi := unhex(d.qpHex)
			d.qpEq, d.qpHex = false, 0
			d.emit(byte(hi<<4 | v))
			return
		}
	}
	d.qpLiteral()
	d.qp(b)
}

// qpLiteral passes an unfinished escape on as it was written.
func (d *textDecoder) qpLiteral() {
	d.emit('=')
	if d.qpHex != 0 {
		d.emit(d.qpHex)
	}
	for range d.qpSpaces {
		d.emit(' ')
	}
	d.qpEq, d.qpHex, d.qpSpaces = false, 0, 0
}

func unhex(b byte) int {
	switch {
	case b >= '0' && b <= '9':
		return int(b - '0')
	case b >= 'A' && b <= 'F':
		return int(b-'A') + 10
	case b >= 'a' && b <= 'f':
		return int(b-'a') + 10
	}
	return -1
}

var b64Values = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range len(alphabet) {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

// b64 decodes one base64 octet; characters outside the alphabet are
// ignored (RFC 2045 section 6.8), "=" ends a group.
func (d *textDecoder) b64(b byte) {
	if b == '=' {
		d.b64flush()
		return
	}
	v := b64Values[b]
	if v < 0 {
		return
	}
	d.b64acc = d.b64acc<<6 | uint32(v)
	d.b64n++
	if d.b64n == 4 {
		d.emit(byte(d.b64acc >> 16))
		d.emit(byte(d.b64acc >> 8))
		d.emit(byte(d.b64acc))
		d.b64acc, d.b64n = 0, 0
	}
}

// b64run decodes the longest prefix of p made of whole groups of
// alphabet characters at once and returns the rest.
func (d *textDecoder) b64run(p []byte) []byte {
	n := 0
	for n < len(p) && b64Values[p[n]] >= 0 {
		n++
	}
	n -= n % 4
	for n > 0 {
		if cap(d.out)-len(d.out) < 3 {
			d.cs.write(d.out)
			d.out = d.out[:0]
		}
		k := min(n, (cap(d.out)-len(d.out))/3*4)
		m, _ := base64.StdEncoding.Decode(d.out[len(d.out):cap(d.out)], p[:k]) // whole valid groups: no error
		d.out = d.out[:len(d.out)+m]
		p, n = p[k:], n-k
	}
	return p
}

// b64flush emits the whole octets of an incomplete group.
func (d *textDecoder) b64flush() {
	switch d.b64n {
	case 2:
		d.emit(byte(d.b64acc >> 4))
	case 3:
		d.emit(byte(d.b64acc >> 10))
		d.emit(byte(d.b64acc >> 2))
	}
	d.b64acc, d.b64n = 0, 0
}

// newline is the CRLF between two lines of the part.
func (d *textDecoder) newline() {
	switch d.te {
	case teBase64:
		return // line breaks are not data
	case teQuotedPrintable:
		if d.qpEq && d.qpHex == 0 {
			d.qpEq, d.qpSpaces = false, 0 // a soft line break
			return
		}
		if d.qpEq {
			d.qpLiteral()
		}
	}
	d.emitString("\r\n")
	d.cs.write(d.out)
	d.out = d.out[:0]
}

// flush ends the part.
func (d *textDecoder) flush() {
	switch d.te {
	case teQuotedPrintable:
		if d.qpEq {
			d.qpLiteral()
		}
	case teBase64:
		d.b64flush()
	}
	d.cs.write(d.out)
	d.out = d.out[:0]
	d.cs.flush()
}

// charsetDecoder turns a part's text into runes for the Matcher:
// UTF-8 (also for US-ASCII and unknown charsets) directly, single-octet
// charsets through a table, others through a golang.org/x/text decoder.
type charsetDecoder struct {
	m     *Matcher
	table *[256]rune
	tr    transform.Transformer // nil: UTF-8 or table
	src   []byte                // transformer input not consumed yet
	dst   []byte
	tail  utf8Tail
}

func (c *charsetDecoder) start(m *Matcher, charset string) {
	c.m, c.table, c.tr = m, nil, nil
	c.src = c.src[:0]
	c.tail = utf8Tail{}
	enc := lookupCharset(charset)
	if enc == nil {
		return
	}
	if cm, ok := enc.(*charmap.Charmap); ok {
		c.table = charmapTable(cm)
		return
	}
	c.tr = enc.NewDecoder()
	if c.dst == nil {
		c.dst = make([]byte, decodeChunk)
	}
}

func (c *charsetDecoder) write(p []byte) {
	switch {
	case len(p) == 0 || len(c.m.active) == 0 && !c.m.collecting:
	case c.table != nil:
		for _, b := range p {
			c.m.feedRune(c.table[b])
		}
	case c.tr != nil:
		c.src = append(c.src, p...)
		c.transform(false)
	default:
		c.m.feedUTF8(&c.tail, p)
	}
}

// transform runs the transformer over c.src, keeping what it cannot
// decode yet (an incomplete sequence) for the next write.
func (c *charsetDecoder) transform(atEOF bool) {
	for len(c.src) > 0 {
		nDst, nSrc, err := c.tr.Transform(c.dst, c.src, atEOF)
		c.m.feedUTF8(&c.tail, c.dst[:nDst])
		c.src = c.src[:copy(c.src, c.src[nSrc:])]
		switch {
		case err == transform.ErrShortDst && (nDst > 0 || nSrc > 0):
			continue
		case err == transform.ErrShortSrc && !atEOF:
			return
		case err != nil:
			// Undecodable input: count one octet as U+FFFD and go on.
			c.m.feedRune(unicodeReplacement)
			if len(c.src) > 0 {
				c.src = c.src[:copy(c.src, c.src[1:])]
			}
			c.tr.Reset()
		}
	}
}

const unicodeReplacement = '\uFFFD'

func (c *charsetDecoder) flush() {
	if c.tr != nil {
		c.transform(true)
	}
	c.m.flushUTF8(&c.tail)
}

// lookupCharset returns the decoder for a MIME charset name, nil for
// UTF-8, US-ASCII and names it does not know (their text is read as
// UTF-8, invalid octets becoming U+FFFD).
func lookupCharset(name string) encoding.Encoding {
	name = strings.ToLower(strings.Trim(strings.TrimSpace(name), `"`))
	switch name {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "unknown-8bit", "x-unknown":
		return nil
	}
	enc, err := htmlindex.Get(name)
	if err != nil || enc == unicode.UTF8 {
		return nil
	}
	return enc
}

var charmapTables sync.Map // *charmap.Charmap -> *[256]rune

func charmapTable(cm *charmap.Charmap) *[256]rune {
	if t, ok := charmapTables.Load(cm); ok {
		return t.(*[256]rune)
	}
	var t [256]rune
	for b := range 256 {
		t[b] = cm.DecodeByte(byte(b))
	}
	v, _ := charmapTables.LoadOrStore(cm, &t)
	return v.(*[256]rune)
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	enc := lookupCharset(charset)
	if enc == nil {
		return r, nil
	}
	return transform.NewReader(r, enc.NewDecoder()), nil
}}

// decodeWords decodes the RFC 2047 encoded words of an unfolded header
// value; a value that does not decode is returned as it is.
func decodeWords(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

package wire

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// BufferSize is the size of a Writer's output buffer.
const BufferSize = 32 << 10

var buffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, BufferSize) }}

// Writer writes IMAP responses. Its buffer comes from a pool when output
// starts and goes back at Release, so an idle connection holds none. The
// first error sticks: later writes do nothing and Flush returns it.
type Writer struct {
	dst io.Writer
	b   *bufio.Writer
	err error
	// UTF8 allows 8-bit text in quoted strings (IMAP4rev2 or UTF8=ACCEPT
	// enabled); otherwise such strings go out as literals.
	UTF8 bool
	lim  io.LimitedReader
}

// NewWriter returns a Writer that writes to dst.
func NewWriter(dst io.Writer) *Writer { return &Writer{dst: dst} }

// Reset points w at a new destination (after STARTTLS), dropping
// anything buffered.
func (w *Writer) Reset(dst io.Writer) {
	if w.b != nil {
		w.b.Reset(dst)
	}
	w.dst = dst
}

func (w *Writer) buf() *bufio.Writer {
	if w.b == nil {
		w.b = buffers.Get().(*bufio.Writer)
		w.b.Reset(w.dst)
	}
	return w.b
}

// Err returns the sticky error.
func (w *Writer) Err() error { return w.err }

func (w *Writer) fail(err error) {
	if err != nil && w.err == nil {
		w.err = err
	}
}

// Raw writes s as it is.
func (w *Writer) Raw(s string) {
	if w.err == nil {
		_, err := w.buf().WriteString(s)
		w.fail(err)
	}
}

// Bytes writes b as it is.
func (w *Writer) Bytes(b []byte) {
	if w.err == nil {
		_, err := w.buf().Write(b)
		w.fail(err)
	}
}

// Byte writes one byte.
func (w *Writer) Byte(c byte) {
	if w.err == nil {
		w.fail(w.buf().WriteByte(c))
	}
}

// SP writes a space.
func (w *Writer) SP() { w.Byte(' ') }

// CRLF ends a response line.
func (w *Writer) CRLF() { w.Raw("\r\n") }

// Atom writes s, which the caller knows is an atom (flags, keywords,
// capability names).
func (w *Writer) Atom(s string) { w.Raw(s) }

// Number writes a decimal number.
func (w *Writer) Number(n uint64) {
	if w.err == nil {
		// Formatted into the buffer's free space: an array of our own
		// would escape through Write and cost an allocation per number.
		b := w.buf()
		_, err := b.Write(strconv.AppendUint(b.AvailableBuffer(), n, 10))
		w.fail(err)
	}
}

// quotable reports whether s can be a quoted string.
func (w *Writer) quotable(s string) bool {
	if len(s) > 1024 {
		return false
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 || c == '\r' || c == '\n' {
			return false
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	return ascii || (w.UTF8 && utf8.ValidString(s))
}

// Quoted writes s as a quoted string, escaping '"' and '\'. The caller
// makes sure s is quotable (no CR, LF or NUL); use String otherwise.
func (w *Writer) Quoted(s string) {
	if w.err != nil {
		return
	}
	b := w.buf()
	_ = b.WriteByte('"')
	// Runs without specials go out whole: ENVELOPE writes a dozen
	// quoted strings per message.
	for {
		i := strings.IndexAny(s, `"\`)
		if i < 0 {
			break
		}
		_, _ = b.WriteString(s[:i])
		_ = b.WriteByte('\\')
		_ = b.WriteByte(s[i])
		s = s[i+1:]
	}
	_, _ = b.WriteString(s)
	w.fail(b.WriteByte('"'))
}

// String writes s quoted when it can be, else as a literal.
func (w *Writer) String(s string) {
	if w.quotable(s) {
		w.Quoted(s)
		return
	}
	w.Raw("{")
	w.Number(uint64(len(s)))
	w.Raw("}\r\n")
	w.Raw(s)
}

// AString writes s as an atom when it is one (ASTRING-CHARs), else as a
// string.
func (w *Writer) AString(s string) {
	if s != "" && len(s) <= 1024 {
		atom := true
		for i := 0; i < len(s); i++ {
			if !isAStringChar(s[i]) {
				atom = false
				break
			}
		}
		if atom && !(len(s) == 3 && (s[0]|0x20) == 'n' && (s[1]|0x20) == 'i' && (s[2]|0x20) == 'l') {
			w.Raw(s)
			return
		}
	}
	w.String(s)
}

// NString writes NIL or s as a string.
func (w *Writer) NString(s string, isNil bool) {
	if isNil {
		w.Raw("NIL")
		return
	}
	w.String(s)
}

// ErrShortLiteral is returned when a literal's reader ends before size
// octets: the response can no longer be completed and the session must
// end (a padded literal would be corrupt data).
var ErrShortLiteral = errors.New("imap wire: literal source shorter than announced")

// Literal writes "{size}" CRLF and then exactly size octets from r.
func (w *Writer) Literal(size int64, r io.Reader) error {
	w.Raw("{")
	return w.literal(size, r)
}

// Literal8 writes "~{size}" CRLF and size octets from r (RFC 3516).
func (w *Writer) Literal8(size int64, r io.Reader) error {
	w.Raw("~{")
	return w.literal(size, r)
}

func (w *Writer) literal(size int64, r io.Reader) error {
	w.Number(uint64(size))
	w.Raw("}\r\n")
	if w.err != nil {
		return w.err
	}
	w.lim = io.LimitedReader{R: r, N: size} // reused: no allocation per literal
	n, err := io.Copy(w.buf(), &w.lim)
	w.lim.R = nil
	if n < size {
		if err == nil || errors.Is(err, io.EOF) {
			err = ErrShortLiteral
		}
		w.fail(err)
	}
	return w.err
}

// Flush sends what is buffered.
func (w *Writer) Flush() error {
	if w.b != nil && w.err == nil {
		w.fail(w.b.Flush())
	}
	return w.err
}

// Release flushes and returns the buffer to the pool. A destination with
// buffers of its own (a compressor) releases them too, if it has a
// Release method.
func (w *Writer) Release() error {
	err := w.Flush()
	if w.b != nil {
		w.b.Reset(nil)
		buffers.Put(w.b)
		w.b = nil
	}
	if r, ok := w.dst.(interface{ Release() }); ok {
		r.Release()
	}
	return err
}

// NumSet writes n ascending numbers, the i-th being at(i), as a compact
// sequence set ("1:3,7,9:10"), straight into the output buffer: an
// ESEARCH ALL over a million messages costs no string of its own, only
// the 32 KiB buffer that flushes to the connection as it fills. Nothing
// is written for none.
func (w *Writer) NumSet(n int, at func(i int) uint32) {
	for i := 0; i < n && w.err == nil; {
		lo := at(i)
		hi, j := lo, i+1
		for ; j < n; j++ {
			next := at(j)
			if next != hi+1 {
				break
			}
			hi = next
		}
		if i > 0 {
			w.Byte(',')
		}
		w.Number(uint64(lo))
		if hi != lo {
			w.Byte(':')
			w.Number(uint64(hi))
		}
		i = j
	}
}

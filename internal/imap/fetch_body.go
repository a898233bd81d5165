package imap

import (
	"bytes"
	"io"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// bodySource reads ranges of one stored message body. A file body is
// read with Seek; an in-memory body is opened again when a range lies
// behind the current position. Ranges are never copied whole: they are
// skipped (Seek) and streamed.
type bodySource struct {
	s   *session
	m   *store.Message
	rc  io.ReadCloser
	pos int64 // offset of rc's next byte
	lim io.LimitedReader
}

func (b *bodySource) open() error {
	if b.rc != nil {
		b.rc.Close()
		b.rc, b.pos = nil, 0
	}
	var rc io.ReadCloser
	var err error
	if b.m.Open != nil {
		rc, err = b.m.Open()
	} else {
		rc, err = b.s.srv.Store.OpenMessage(b.s.ctx, b.s.sel.mb.ID, b.m.UID)
	}
	if err != nil {
		return err
	}
	b.rc = rc
	return nil
}

func (b *bodySource) close() {
	if b.rc != nil {
		b.rc.Close()
		b.rc = nil
	}
}

// section returns a reader of the n octets at off.
func (b *bodySource) section(off, n int64) (io.Reader, error) {
	if b.rc == nil {
		if err := b.open(); err != nil {
			return nil, err
		}
	}
	if off != b.pos {
		if sk, ok := b.rc.(io.Seeker); ok {
			if _, err := sk.Seek(off, io.SeekStart); err != nil {
				return nil, err
			}
			b.pos = off
		} else if off < b.pos {
			if err := b.open(); err != nil {
				return nil, err
			}
		}
		if off > b.pos {
			skipped, err := io.CopyN(io.Discard, b.rc, off-b.pos)
			b.pos += skipped
			if err != nil {
				return nil, err
			}
		}
	}
	// One range is read at a time: the limited reader is reused.
	b.lim = io.LimitedReader{R: b, N: n}
	return &b.lim, nil
}

// Read reads the body from the current position, keeping it.
func (b *bodySource) Read(p []byte) (int, error) {
	k, err := b.rc.Read(p)
	b.pos += int64(k)
	return k, err
}

// binaryPart returns the part a BINARY item names and whether its body is
// decoded (a leaf part); BINARY[] is the whole message, as stored.
func binaryPart(sec *fetchSection, sum *message.Summary) (p *message.Part, leaf, ok bool) {
	if len(sec.path) == 0 {
		return nil, false, true
	}
	p, ok = sum.Find(sec.path)
	return p, ok && !p.IsMultipart() && p.Embedded == nil, ok
}

// checkBinary refuses a BINARY item on a part whose transfer encoding is
// unknown (RFC 3516 section 4.2: tagged NO [UNKNOWN-CTE]).
func checkBinary(sec *fetchSection, sum *message.Summary) error {
	if sec.kind == kindBody {
		return nil
	}
	p, leaf, ok := binaryPart(sec, sum)
	if !ok || !leaf {
		return nil
	}
	if _, known := message.NewDecoder(p.Encoding, nil); !known {
		return no(codeUnknownCTE, "Unknown Content-Transfer-Encoding "+p.Encoding)
	}
	return nil
}

// maxHeaderBuffer bounds the filtered header a HEADER.FIELDS item keeps
// in memory to learn its length; a longer one is filtered twice.
const maxHeaderBuffer = 256 << 10

// writeSection writes one body item's name and value. The response line
// has started: an error here ends the session.
func (s *session) writeSection(sec *fetchSection, m *store.Message, sum *message.Summary, body *bodySource) error {
	w := s.w
	sec.writeName(w)
	w.SP()
	switch sec.kind {
	case kindBinary, kindBinarySize:
		return s.writeBinary(sec, m, sum, body)
	}
	var off, n int64
	ok := true
	if sec.whole() { // no summary needed (sum may be nil or envelope-only)
		n = m.Size
	} else {
		off, n, ok = sum.Range(sec.path, sec.spec)
	}
	if !ok {
		w.Raw(`""`) // no such part: empty, as Dovecot answers
		return nil
	}
	if sec.spec == message.SpecHeaderFields || sec.spec == message.SpecHeaderNot {
		return s.writeHeaderFields(sec, off, n, body)
	}
	skip, count := window(sec, n)
	r, err := body.section(off+skip, count)
	if err != nil {
		return &endSession{reason: "reading message failed", cause: err}
	}
	return s.literal(count, r, false)
}

// window applies a partial <off.n> to a value of total octets.
func window(sec *fetchSection, total int64) (skip, n int64) {
	if !sec.partial {
		return 0, total
	}
	skip = min(sec.off, total)
	return skip, min(sec.n, total-skip)
}

// literal writes n octets from r as a literal ("" when empty), as a
// literal8 when binary. A short source ends the session: a literal is
// never padded.
func (s *session) literal(n int64, r io.Reader, binary bool) error {
	w := s.w
	switch {
	case n == 0:
		w.Raw(`""`)
	case binary:
		w.Literal8(n, r)
	default:
		w.Literal(n, r)
	}
	if err := w.Err(); err != nil {
		return &endSession{reason: "writing message failed", cause: err}
	}
	return nil
}

// writeHeaderFields writes HEADER.FIELDS (.NOT) of the header at
// [off, off+n).
func (s *session) writeHeaderFields(sec *fetchSection, off, n int64, body *bodySource) error {
	filter := func(dst io.Writer) (int64, error) {
		r, err := body.section(off, n)
		if err != nil {
			return 0, err
		}
		return message.FilterHeader(dst, r, sec.fields, sec.spec == message.SpecHeaderNot)
	}
	var buf bytes.Buffer
	var total int64
	var err error
	if n <= maxHeaderBuffer {
		total, err = filter(&buf)
	} else {
		total, err = filter(io.Discard)
	}
	if err != nil {
		return &endSession{reason: "reading message failed", cause: err}
	}
	skip, count := window(sec, total)
	if n <= maxHeaderBuffer {
		return s.literal(count, bytes.NewReader(buf.Bytes()[skip:skip+count]), false)
	}
	// Too long to hold: filter again, streaming the window.
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := filter(&windowWriter{w: pw, skip: skip, n: count})
		pw.CloseWithError(err)
	}()
	err = s.literal(count, pr, false)
	pr.Close() // stops the filter if the literal ended early
	<-done
	return err
}

// windowWriter passes on the n octets after the first skip.
type windowWriter struct {
	w       io.Writer
	skip, n int64
}

func (ww *windowWriter) Write(p []byte) (int, error) {
	all := len(p)
	if ww.skip > 0 {
		k := min(ww.skip, int64(len(p)))
		ww.skip -= k
		p = p[k:]
	}
	if k := min(ww.n, int64(len(p))); k > 0 {
		if _, err := ww.w.Write(p[:k]); err != nil {
			return 0, err
		}
		ww.n -= k
	}
	return all, nil
}

// writeBinary writes BINARY[...] (the part's body with its transfer
// encoding undone, RFC 3516) or BINARY.SIZE[...]. The decoded length is
// learnt by decoding once, then the data is decoded again as it is sent.
func (s *session) writeBinary(sec *fetchSection, m *store.Message, sum *message.Summary, body *bodySource) error {
	off, n, enc := int64(0), m.Size, ""
	if len(sec.path) > 0 {
		p, leaf, ok := binaryPart(sec, sum)
		if !ok {
			if sec.kind == kindBinarySize {
				s.w.Raw("0")
			} else {
				s.w.Raw(`""`)
			}
			return nil
		}
		off, n = p.BodyStart, p.Size()
		if leaf {
			enc = p.Encoding
		}
	}
	decoded := func() (io.Reader, error) {
		r, err := body.section(off, n)
		if err != nil {
			return nil, err
		}
		dec, _ := message.NewDecoder(enc, r) // checked by checkBinary
		return dec, nil
	}
	r, err := decoded()
	if err != nil {
		return &endSession{reason: "reading message failed", cause: err}
	}
	sc := nulScanner{from: 0, to: 1 << 62}
	if sec.partial {
		sc.from, sc.to = sec.off, sec.off+sec.n
	}
	total, err := io.Copy(&sc, r)
	if err != nil {
		return &endSession{reason: "reading message failed", cause: err}
	}
	if sec.kind == kindBinarySize {
		s.w.Number(uint64(total))
		return nil
	}
	skip, count := window(sec, total)
	if r, err = decoded(); err == nil && skip > 0 {
		_, err = io.CopyN(io.Discard, r, skip)
	}
	if err != nil {
		return &endSession{reason: "reading message failed", cause: err}
	}
	// RFC 3516 section 4.3: literal8 when the data sent has NUL octets.
	return s.literal(count, r, sc.nul)
}

// nulScanner notes whether the octets at [from, to) of what it is given
// include a NUL.
type nulScanner struct {
	pos, from, to int64
	nul           bool
}

func (sc *nulScanner) Write(p []byte) (int, error) {
	lo, hi := max(sc.from-sc.pos, 0), min(sc.to-sc.pos, int64(len(p)))
	if lo < hi && !sc.nul {
		sc.nul = bytes.IndexByte(p[lo:hi], 0) >= 0
	}
	sc.pos += int64(len(p))
	return len(p), nil
}

package message

import (
	"bytes"
	"io"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Index terms for a full-text index that answers IMAP SEARCH BODY, TEXT
// and HEADER as a candidate filter: it may name messages that do not
// match (the Matcher then says no), never miss one that does.
//
// The terms of a message are the trigrams of the text the Matcher
// compares TEXT queries with (every header field of the message, its
// parts and embedded messages as "Name: value" with RFC 2047 words
// decoded; the body's text parts with transfer encoding and charset
// undone), folded as the Matcher folds, and only trigrams of three
// consecutive word runes (letters, digits, marks) within one field or
// one part: a trigram spanning a space or punctuation is not a term,
// which keeps the index small. Each trigram is hashed to 32 bits.
//
// Why it never misses: a needle found in a message is a run of folded
// runes inside one field or one part, so every trigram of three word
// runes in the needle is one of the message's terms. QueryTerms returns
// those trigrams (nil when the needle has none: shorter than three word
// runes in a row, and the index cannot help). Collisions of the hash
// only add candidates.

// MaxTerms bounds the distinct terms of one message. A message with more
// (tens of megabytes of varied text) is not indexable: IndexTerms and
// TermWriter.Terms report ok = false, and an engine keeps it as a message
// every search reads.
const MaxTerms = 1 << 16

// termSet collects the distinct terms of one message.
type termSet struct {
	a, b rune // the last two word runes of the current text
	n    int  // how many of a, b are set (0-2)
	// table is an open-addressing set of terms (0 = empty; no term is
	// 0), count its entries.
	table []uint32
	count int
	over  bool // more than MaxTerms
}

// cut ends the current text: no trigram spans two fields or parts.
func (t *termSet) cut() { t.n = 0 }

// add takes the next folded rune.
func (t *termSet) add(r rune) {
	if !isWordRune(r) {
		t.n = 0
		return
	}
	if t.n == 2 {
		t.insert(trigramTerm(t.a, t.b, r))
	} else {
		t.n++
	}
	t.a, t.b = t.b, r
}

func (t *termSet) insert(h uint32) {
	if t.over {
		return
	}
	if t.count >= len(t.table)/2 {
		if t.count >= MaxTerms {
			t.over = true
			return
		}
		t.grow()
	}
	mask := uint32(len(t.table) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t.table[i] {
		case h:
			return
		case 0:
			t.table[i] = h
			t.count++
			return
		}
	}
}

func (t *termSet) grow() {
	old := t.table
	t.table = make([]uint32, max(1024, 2*len(old)))
	t.count = 0
	for _, h := range old {
		if h != 0 {
			t.insert(h)
		}
	}
}

// sorted returns the terms in ascending order.
func (t *termSet) sorted() []uint32 {
	out := make([]uint32, 0, t.count)
	for _, h := range t.table {
		if h != 0 {
			out = append(out, h)
		}
	}
	sortTerms(out)
	return out
}

// sortTerms sorts terms ascending: a body's few thousand terms by radix
// (four passes of eight bits), in under half the time pdqsort took
// (BenchmarkSortTerms: 4,000 terms in 46-63 µs against 98-139 µs), which
// was a sixth of the PostgreSQL indexer's CPU in BenchmarkIndexText.
func sortTerms(terms []uint32) {
	if len(terms) < 256 {
		slices.Sort(terms)
		return
	}
	src, dst := terms, make([]uint32, len(terms))
	for shift := 0; shift < 32; shift += 8 {
		var count [257]int
		for _, h := range src {
			count[h>>shift&0xff+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for _, h := range src {
			d := h >> shift & 0xff
			dst[count[d]] = h
			count[d]++
		}
		src, dst = dst, src
	}
	// After an even number of passes the result is back in terms.
}

// collectUTF8 is feedUTF8 for a TermWriter's Matcher (t holds no
// partial rune): ASCII goes to the terms without a call per rune.
func (m *Matcher) collectUTF8(t *utf8Tail, p []byte) {
	ts := m.terms
	for i := 0; i < len(p); {
		b := p[i]
		if b < utf8.RuneSelf {
			r := foldTable[b]
			if !asciiWord[b] {
				ts.n = 0
			} else if ts.n == 2 {
				ts.insert(trigramTerm(ts.a, ts.b, r))
				ts.a, ts.b = ts.b, r
			} else {
				ts.n++
				ts.a, ts.b = ts.b, r
			}
			i++
			continue
		}
		if !utf8.FullRune(p[i:]) {
			t.n = copy(t.b[:], p[i:])
			return
		}
		r, size := utf8.DecodeRune(p[i:])
		ts.add(foldRune(r))
		i += size
	}
}

// asciiWord[b] says whether the ASCII octet b is a word rune.
var asciiWord = func() (t [utf8.RuneSelf]bool) {
	for b := range rune(utf8.RuneSelf) {
		t[b] = isWordRune(foldTable[b])
	}
	return t
}()

// isWordRune reports whether a folded rune can be part of a term.
func isWordRune(r rune) bool {
	if r < 0x80 {
		// Folded ASCII letters are upper case (foldRune picks the
		// smallest rune of the orbit).
		return r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// trigramTerm hashes three runes (21 bits each) to a non-zero term.
func trigramTerm(a, b, c rune) uint32 {
	x := uint64(a)<<42 | uint64(b)<<21 | uint64(c)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb93fe53d9b1a
	x ^= x >> 33
	if h := uint32(x); h != 0 {
		return h
	}
	return 1
}

// QueryTerms returns the distinct terms of a search string, ascending:
// every message that contains it (as MatchBody, MatchText or MatchHeader
// see text) has all of them among its terms. Nil means the string has no
// term and an index cannot narrow the search.
func QueryTerms(needle string) []uint32 {
	var t termSet
	for _, r := range needle {
		t.add(foldRune(r))
	}
	if t.count == 0 {
		return nil
	}
	return t.sorted()
}

// TermWriter collects the index terms of one message written to it
// (CRLF line endings, as stored), in one pass with bounded memory: lines
// are cut into pieces as the Matcher's read buffer cuts them, so both
// see the same text.
type TermWriter struct {
	m   Matcher
	ts  termSet
	buf []byte // the line being assembled, at most termBufSize octets
}

// termBufSize is the size of the Matcher's read buffer (readerPool).
const termBufSize = 32 << 10

// NewTermWriter returns a TermWriter for one message.
func NewTermWriter() *TermWriter {
	return newTermWriter(make([]byte, 0, termBufSize))
}

// newTermWriter returns a TermWriter assembling lines in buf, which must
// have room for termBufSize octets.
func newTermWriter(buf []byte) *TermWriter {
	t := &TermWriter{buf: buf[:0]}
	t.m.terms = &t.ts
	t.m.headerOnly = false
	t.m.w.begin(&t.m)
	return t
}

// Write feeds more of the message. It never fails.
func (t *TermWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := cap(t.buf) - len(t.buf)
		chunk := p[:min(len(p), room)]
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			t.buf = append(t.buf, chunk[:i+1]...)
			p = p[i+1:]
			t.m.w.piece(t.buf, true)
			t.buf = t.buf[:0]
			continue
		}
		t.buf = append(t.buf, chunk...)
		p = p[len(chunk):]
		if len(t.buf) == cap(t.buf) {
			t.m.w.piece(t.buf, false) // bufio.ErrBufferFull
			t.buf = t.buf[:0]
		}
	}
	return n, nil
}

// Terms ends the message and returns its distinct terms, ascending; ok
// is false when it has more than MaxTerms (it cannot be indexed).
func (t *TermWriter) Terms() (terms []uint32, ok bool) {
	if len(t.buf) > 0 {
		t.m.w.piece(t.buf, true) // the last line, without LF
		t.buf = t.buf[:0]
	}
	t.m.w.finish()
	if t.ts.over {
		return nil, false
	}
	return t.ts.sorted(), true
}

// IndexTerms returns the index terms of the message r holds, as
// TermWriter does.
func IndexTerms(r io.Reader) (terms []uint32, ok bool, err error) {
	lines := termBuffers.Get().(*[]byte)
	defer termBuffers.Put(lines)
	t := newTermWriter(*lines)
	if wt, isWriterTo := r.(io.WriterTo); isWriterTo {
		_, err = wt.WriteTo(t) // a body in memory: no copy into a read buffer
	} else {
		reads := termBuffers.Get().(*[]byte)
		_, err = io.CopyBuffer(t, r, *reads)
		termBuffers.Put(reads)
	}
	if err != nil {
		return nil, false, err
	}
	terms, ok = t.Terms()
	return terms, ok, nil
}

// termBuffers holds IndexTerms' line and read buffers: the indexers call
// it for every message they index, and two fresh 32 KiB buffers each were
// a third of what a PostgreSQL node allocated under SMTP load.
var termBuffers = sync.Pool{New: func() any { b := make([]byte, termBufSize); return &b }}

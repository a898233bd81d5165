package message

import (
	"bufio"
	"io"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MatchKind says where a MatchQuery looks for its text.
type MatchKind uint8

const (
	// MatchHeader: a field of the message's own header named Field whose
	// value (unfolded, RFC 2047 words decoded) contains Value
	// (IMAP HEADER, SUBJECT).
	MatchHeader MatchKind = iota + 1
	// MatchAddress: an address field named Field whose addresses, written
	// out without comments as `Name <mailbox@host>`, contain Value (IMAP
	// FROM, TO, CC, BCC; RFC 9051 compares them to the ENVELOPE).
	MatchAddress
	// MatchBody: the decoded text of the body (IMAP BODY): text/* and
	// message/* parts after their transfer encoding and charset are
	// undone; headers (the message's, its parts' and those of embedded
	// messages) are not searched.
	MatchBody
	// MatchText: the body as for MatchBody and every header of the message
	// and its parts, decoded (IMAP TEXT).
	MatchText
)

// MatchQuery is one substring criterion. Comparison is case-insensitive
// under Unicode simple case folding; Value is UTF-8. An empty Value
// matches every message for MatchBody and MatchText, and every message
// that has the field for MatchHeader and MatchAddress.
type MatchQuery struct {
	Kind  MatchKind
	Field string // header field name (MatchHeader, MatchAddress)
	Value string
}

// MatchResult tells which queries matched one message.
type MatchResult struct {
	Found []bool // Found[i] is the answer for the i-th query
	// Date is the message's own Date field, zero if it has none or it
	// does not parse.
	Date time.Time
}

// Matcher checks any number of MatchQuery against messages, each in one
// pass over the stored message with bounded memory: the message is read
// through a fixed buffer, decoded as it streams (transfer encodings,
// charsets, RFC 2047 words) and compared rune by rune, each query keeping
// only its position in a Knuth-Morris-Pratt automaton. Nothing is copied
// whole, nothing lower-cased. Time is linear in the message size whatever
// its MIME nesting: at most maxBoundaries multipart boundaries are tracked,
// deeper multiparts are searched as plain text.
//
// Memory per Match: the read buffer (32 KiB), one header field (at most
// maxFieldLen, longer fields are searched in their first maxFieldLen
// octets), small decoding buffers and the boundary stack.
//
// A Matcher is not safe for concurrent use; it may be reused for many
// messages.
type Matcher struct {
	queries []MatchQuery
	needles []needle
	date    bool // keep the Date field

	headerOnly bool // no body or text query: reading stops after the header
	left       int  // needles not found yet in the current message
	active     []*needle
	// idle is set while every active needle is at its start; then only
	// octets in start can begin a match and the rest are skipped.
	idle    bool
	start   [256]bool
	w       walker
	bufSize int // tests: a read buffer of this size instead of the pooled one

	// terms, when set, makes the Matcher a TermWriter's: it has no
	// queries and every rune of TEXT's scope goes to terms (collecting
	// is set while such text is fed).
	terms      *termSet
	collecting bool
}

// needle is one query's folded pattern and its matching state.
type needle struct {
	q     *MatchQuery
	pat   []rune  // folded
	fail  []int32 // KMP failure function
	pos   int32   // runes of pat matched so far
	found bool
}

func newNeedle(q *MatchQuery) needle {
	pat := foldString(q.Value)
	fail := make([]int32, len(pat))
	var k int32
	for i := 1; i < len(pat); i++ {
		for k > 0 && pat[i] != pat[k] {
			k = fail[k-1]
		}
		if pat[i] == pat[k] {
			k++
		}
		fail[i] = k
	}
	return needle{q: q, pat: pat, fail: fail}
}

// step advances the automaton by one folded rune and reports a match.
func (n *needle) step(r rune) bool {
	j := n.pos
	for j > 0 && n.pat[j] != r {
		j = n.fail[j-1]
	}
	if n.pat[j] == r {
		j++
	}
	if int(j) == len(n.pat) {
		n.pos = 0
		return true
	}
	n.pos = j
	return false
}

// NewMatcher returns a Matcher for the queries. The Date field of each
// message is reported when wantDate is set (reading then always covers
// the whole header).
func NewMatcher(queries []MatchQuery, wantDate bool) *Matcher {
	m := &Matcher{queries: queries, date: wantDate, headerOnly: true}
	m.needles = make([]needle, len(queries))
	for i := range queries {
		m.needles[i] = newNeedle(&queries[i])
		if k := queries[i].Kind; k == MatchBody || k == MatchText {
			m.headerOnly = false
		}
	}
	return m
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

// Match reads one message (CRLF line endings, as stored) from r and
// reports which queries it matches. Reading stops as soon as the answer is
// known. Malformed MIME is searched as far as it parses; only errors of r
// are returned.
func (m *Matcher) Match(r io.Reader) (MatchResult, error) {
	res := MatchResult{Found: make([]bool, len(m.queries))}
	m.left = 0
	for i := range m.needles {
		n := &m.needles[i]
		n.found, n.pos = false, 0
		if len(n.pat) == 0 && (n.q.Kind == MatchBody || n.q.Kind == MatchText) {
			n.found = true
			continue
		}
		m.left++
	}
	var br *bufio.Reader
	if m.bufSize > 0 {
		br = bufio.NewReaderSize(r, m.bufSize)
	} else {
		br = readerPool.Get().(*bufio.Reader)
		br.Reset(r)
		defer func() {
			br.Reset(nil)
			readerPool.Put(br)
		}()
	}
	date, err := m.w.run(m, br)
	for i := range m.needles {
		res.Found[i] = m.needles[i].found
	}
	if date != "" {
		if t, err := mail.ParseDate(strings.TrimSpace(date)); err == nil {
			res.Date = t
		}
	}
	return res, err
}

// done reports whether reading can stop: every query answered and, if
// the Date is wanted, the message's header read.
func (m *Matcher) done(inTopHeader bool) bool {
	if m.terms != nil {
		return false
	}
	if inTopHeader && m.date {
		return false
	}
	return m.left == 0 || (m.headerOnly && !inTopHeader)
}

// scope selects the needles fed by the text that follows.
type scope uint8

const (
	scopeField      scope = iota // a field of the message's own header, for MatchHeader
	scopeAddress                 // the same, written out as addresses, for MatchAddress
	scopeHeaderText              // any header field, for MatchText
	scopeBody                    // decoded body text, for MatchBody and MatchText
)

// activate sets the needles that the text fed next is compared with and
// resets their positions: a match never spans two fields or two parts.
func (m *Matcher) activate(sc scope, field string) {
	m.active = m.active[:0]
	for i := range m.needles {
		n := &m.needles[i]
		n.pos = 0
		if n.found {
			continue
		}
		var on bool
		switch n.q.Kind {
		case MatchText:
			on = sc == scopeHeaderText || sc == scopeBody
		case MatchBody:
			on = sc == scopeBody
		case MatchHeader:
			on = sc == scopeField && strings.EqualFold(n.q.Field, field)
		case MatchAddress:
			on = sc == scopeAddress && strings.EqualFold(n.q.Field, field)
		}
		if on {
			m.active = append(m.active, n)
		}
	}
	m.collecting = m.terms != nil && (sc == scopeHeaderText || sc == scopeBody)
	if m.collecting {
		m.terms.cut()
	}
	m.idle = m.terms == nil
	m.start = [256]bool{}
	wide := false // a non-ASCII rune can start a match
	for _, n := range m.active {
		if len(n.pat) == 0 {
			continue
		}
		f := n.pat[0]
		if f >= utf8.RuneSelf || asciiWide[f] {
			wide = true
		}
		for b := range utf8.RuneSelf {
			if foldTable[b] == f {
				m.start[b] = true
			}
		}
	}
	if wide {
		for b := utf8.RuneSelf; b < 256; b++ {
			m.start[b] = true
		}
	}
}

// wants reports whether a query of kind k (MatchHeader or MatchAddress)
// not answered yet looks at field.
func (m *Matcher) wants(k MatchKind, field string) bool {
	for i := range m.needles {
		n := &m.needles[i]
		if !n.found && n.q.Kind == k && strings.EqualFold(n.q.Field, field) {
			return true
		}
	}
	return false
}

// wantsText reports whether a TEXT query is not answered yet.
func (m *Matcher) wantsText() bool {
	if m.terms != nil {
		return true
	}
	for i := range m.needles {
		if n := &m.needles[i]; !n.found && n.q.Kind == MatchText {
			return true
		}
	}
	return false
}

// hit marks an active needle found.
func (m *Matcher) hit(n *needle) {
	if !n.found {
		n.found = true
		m.left--
	}
}

// present marks the active needles with an empty pattern found: the
// field they look for exists.
func (m *Matcher) present() {
	for _, n := range m.active {
		if len(n.pat) == 0 {
			m.hit(n)
		}
	}
}

// feedRune compares one (unfolded) rune with the active needles.
func (m *Matcher) feedRune(r rune) {
	m.feedFolded(foldRune(r))
}

// feedFolded compares one folded rune with the active needles.
func (m *Matcher) feedFolded(r rune) {
	if m.collecting {
		m.terms.add(r)
		return
	}
	idle := true
	for _, n := range m.active {
		if !n.found && len(n.pat) > 0 && n.step(r) {
			m.hit(n)
		}
		idle = idle && n.pos == 0
	}
	m.idle = idle
}

// utf8Tail holds the first bytes of a rune split between two writes.
type utf8Tail struct {
	b [utf8.UTFMax]byte
	n int
}

// feedUTF8 feeds UTF-8 text (invalid bytes count as U+FFFD). A rune cut
// at the end of p is kept in t for the next call.
func (m *Matcher) feedUTF8(t *utf8Tail, p []byte) {
	if len(m.active) == 0 && !m.collecting {
		return
	}
	if t.n > 0 {
		for len(p) > 0 && t.n < len(t.b) && !utf8.FullRune(t.b[:t.n]) {
			t.b[t.n] = p[0]
			t.n++
			p = p[1:]
		}
		if !utf8.FullRune(t.b[:t.n]) {
			return // p was used up; more to come
		}
		r, size := utf8.DecodeRune(t.b[:t.n])
		m.feedRune(r)
		var rest [utf8.UTFMax]byte
		k := copy(rest[:], t.b[size:t.n])
		t.n = 0
		if k > 0 {
			m.feedUTF8(t, rest[:k]) // bytes after an invalid lead, in order
		}
	}
	if m.collecting {
		m.collectUTF8(t, p)
		return
	}
	for i := 0; i < len(p); {
		if m.idle {
			// Octets that cannot start a match leave every needle
			// at its start: skip them.
			for i < len(p) && !m.start[p[i]] {
				i++
			}
			if i == len(p) {
				return
			}
		}
		b := p[i]
		if b < utf8.RuneSelf {
			m.feedFolded(foldTable[b])
			i++
			continue
		}
		if !utf8.FullRune(p[i:]) {
			t.n = copy(t.b[:], p[i:])
			return
		}
		r, size := utf8.DecodeRune(p[i:])
		m.feedRune(r)
		i += size
	}
}

// flushUTF8 ends a text: an incomplete rune left over is one U+FFFD.
func (m *Matcher) flushUTF8(t *utf8Tail) {
	if t.n > 0 {
		t.n = 0
		m.feedRune(utf8.RuneError)
	}
}

// feedString feeds a complete UTF-8 string.
func (m *Matcher) feedString(s string) {
	if len(m.active) == 0 && !m.collecting {
		return
	}
	for _, r := range s {
		m.feedRune(r)
	}
}

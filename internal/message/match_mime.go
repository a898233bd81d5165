package message

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"strings"
)

// The walker drives a Matcher through one message, line by line, as a
// state machine: reading a header, decoding a text body, or skipping
// (preambles, epilogues, non-text bodies). Lines come from a bounded
// bufio.Reader; a line longer than its buffer arrives in pieces, so no
// line is ever held whole.

const (
	// maxBoundaries bounds the multipart nesting that is tracked, and so
	// the memory of the boundary stack (at most maxBoundaries delimiters
	// of up to maxBoundaryLen octets): a multipart deeper than that is
	// searched as plain text, so what it holds can still be found. A line
	// is looked up among the open delimiters in a map, so the work per
	// line does not grow with the nesting.
	maxBoundaries = 1000
	// maxBoundaryLen: RFC 2046 allows 70 characters; a multipart with a
	// longer boundary is searched as plain text.
	maxBoundaryLen = 200
	// maxBoundaryLine: a longer line (a boundary padded with whitespace)
	// is never a delimiter, so that what is a delimiter does not depend on
	// the read buffer's size.
	maxBoundaryLine = 400
	// maxFieldLen bounds one unfolded header field; the rest of a longer
	// field is not searched.
	maxFieldLen = 128 << 10
	// maxDateLen bounds the Date field kept for SENTBEFORE and friends.
	maxDateLen = 256
)

type phase uint8

const (
	phaseHeader phase = iota // reading a header block
	phaseText                // a text body: decoded and searched
	phaseSkip                // preamble, epilogue, non-text body
)

// frame is one multipart being read.
type frame struct {
	delim  []byte // "--" + boundary
	digest bool   // multipart/digest: parts default to message/rfc822
	prev   int    // the frame open[delim] named before this one was pushed, -1 none
}

// partHeader is what a header block says about its part's body.
type partHeader struct {
	typ, sub string // lower-case media type; "" = not given
	boundary string
	charset  string
	encoding string // Content-Transfer-Encoding, lower-case
	digest   bool   // the enclosing multipart is a digest
}

type walker struct {
	m     *Matcher
	stack []frame
	// open maps each delimiter of the stack to the innermost frame using
	// it (a nested multipart may reuse its parent's boundary).
	open  map[string]int
	phase phase
	top   bool // the header being read is the message's own

	field    []byte // the header field being read, unfolded, without CRLF
	hasField bool
	ph       partHeader
	date     string

	atLineStart bool
	heldCR      bool // a piece of a long line ended in CR, maybe half a CRLF
	pendingNL   bool // a body line ended: its CRLF is text unless a boundary follows

	text textDecoder
}

// run walks the message in br and returns the raw Date field of the
// message's own header.
func (w *walker) run(m *Matcher, br *bufio.Reader) (string, error) {
	w.begin(m)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			w.piece(line, err != bufio.ErrBufferFull)
		}
		if err != nil && err != bufio.ErrBufferFull {
			w.finish()
			if err == io.EOF {
				err = nil
			}
			return w.date, err
		}
		if m.done(w.top && w.phase == phaseHeader) {
			return w.date, nil
		}
	}
}

// begin readies the walker for a new message.
func (w *walker) begin(m *Matcher) {
	w.m = m
	w.pop(0)
	if w.open == nil {
		w.open = make(map[string]int)
	}
	w.phase, w.top = phaseHeader, true
	w.field, w.hasField = w.field[:0], false
	w.ph = partHeader{}
	w.date = ""
	w.atLineStart, w.heldCR, w.pendingNL = true, false, false
	w.text.m = m
}

// piece handles one line or one piece of a long line; lineEnd is set on
// the last piece of a line (the one with its LF, or the end of input).
func (w *walker) piece(p []byte, lineEnd bool) {
	content := p
	if lineEnd && len(content) > 0 && content[len(content)-1] == '\n' {
		content = content[:len(content)-1]
		if len(content) > 0 && content[len(content)-1] == '\r' {
			content = content[:len(content)-1]
		} else if len(content) == 0 && w.heldCR {
			w.heldCR = false // the held CR and this LF were a CRLF
		}
	}
	hold := false
	if !lineEnd && len(content) > 0 && content[len(content)-1] == '\r' {
		content, hold = content[:len(content)-1], true
	}
	start := w.atLineStart
	w.atLineStart = lineEnd
	if w.heldCR {
		w.heldCR = false
		w.content([]byte{'\r'}, false, false)
	}
	w.heldCR = hold
	if start && lineEnd && len(content) <= maxBoundaryLine && len(w.stack) > 0 && bytes.HasPrefix(content, []byte("--")) && w.boundary(content) {
		return
	}
	w.content(content, start, lineEnd)
}

// boundary handles a delimiter line of one of the open multiparts:
// "--" boundary ["--"] followed by nothing but whitespace (RFC 2046
// §5.1.1); the innermost multipart it can belong to wins.
func (w *walker) boundary(line []byte) bool {
	rest := bytes.TrimRight(line, " \t")
	i, closing := -1, false
	if j, ok := w.open[string(rest)]; ok {
		i = j
	}
	if d, ok := bytes.CutSuffix(rest, []byte("--")); ok {
		if j, ok := w.open[string(d)]; ok && j > i {
			i, closing = j, true
		}
	}
	if i < 0 {
		return false
	}
	w.endPart()
	if closing {
		// What follows is frame i's epilogue: not searched.
		w.pop(i)
		w.phase = phaseSkip
		return true
	}
	w.pop(i + 1)
	w.phase, w.top = phaseHeader, false
	w.ph = partHeader{digest: w.stack[i].digest}
	w.field, w.hasField = w.field[:0], false
	return true
}

// pop closes the frames above the first n.
func (w *walker) pop(n int) {
	for len(w.stack) > n {
		f := &w.stack[len(w.stack)-1]
		if f.prev >= 0 {
			w.open[string(f.delim)] = f.prev
		} else {
			delete(w.open, string(f.delim))
		}
		w.stack = w.stack[:len(w.stack)-1]
	}
}

// content handles the text of a line (or of a piece of it); start tells
// whether it begins the line.
func (w *walker) content(p []byte, start, lineEnd bool) {
	switch w.phase {
	case phaseHeader:
		w.headerContent(p, start, lineEnd)
	case phaseText:
		if start && w.pendingNL {
			w.text.newline()
		}
		w.pendingNL = false
		w.text.write(p)
		if lineEnd {
			w.pendingNL = true
		}
	}
}

func (w *walker) headerContent(p []byte, start, lineEnd bool) {
	if !start {
		w.appendField(p)
		return
	}
	if len(p) == 0 {
		if lineEnd {
			w.endHeader()
		}
		return
	}
	if (p[0] == ' ' || p[0] == '\t') && w.hasField {
		w.appendField(p) // a folded line: unfolding removes the CRLF only
		return
	}
	w.flushField()
	w.hasField = true
	w.appendField(p)
}

func (w *walker) appendField(p []byte) {
	if room := maxFieldLen - len(w.field); room < len(p) {
		p = p[:max(room, 0)]
	}
	w.field = append(w.field, p...)
}

// flushField processes the header field read so far.
func (w *walker) flushField() {
	if !w.hasField {
		return
	}
	w.hasField = false
	raw := w.field
	w.field = w.field[:0]
	nameB, valueB, ok := bytes.Cut(raw, []byte(":"))
	if !ok {
		nameB, valueB = nil, raw
	}
	name := string(bytes.TrimRight(nameB, " \t"))
	value := bytes.TrimSpace(valueB)
	switch {
	case strings.EqualFold(name, "Content-Type"):
		w.ph.contentType(string(value))
	case strings.EqualFold(name, "Content-Transfer-Encoding"):
		w.ph.encoding = strings.ToLower(string(value))
	}
	m := w.m
	if w.top {
		if m.date && w.date == "" && strings.EqualFold(name, "Date") {
			w.date = string(value[:min(len(value), maxDateLen)])
		}
		if m.wants(MatchHeader, name) {
			m.activate(scopeField, name)
			m.present()
			m.feedString(decodeWords(string(value)))
		}
		if m.wants(MatchAddress, name) {
			m.activate(scopeAddress, name)
			m.present()
			m.feedString(addressText(string(value)))
		}
	}
	if m.wantsText() {
		m.activate(scopeHeaderText, "")
		m.feedString(name)
		m.feedString(": ")
		m.feedString(decodeWords(string(value)))
	}
}

// endHeader ends a header block and sets up reading the body it heads.
func (w *walker) endHeader() {
	w.flushField()
	ph := w.ph
	w.top = false
	if ph.typ == "" {
		// RFC 2046 section 5.1.5: parts of a digest default to
		// message/rfc822, all else to text/plain.
		ph.typ, ph.sub = "text", "plain"
		if ph.digest {
			ph.typ, ph.sub = "message", "rfc822"
		}
	}
	identity := ph.encoding == "" || ph.encoding == "7bit" || ph.encoding == "8bit" || ph.encoding == "binary"
	embedded := ph.typ == "message" && (ph.sub == "rfc822" || ph.sub == "global")
	switch {
	case ph.typ == "multipart" && len(w.stack) >= maxBoundaries:
		ph.encoding, ph.charset = "", ""
		fallthrough // too deep: plain text
	case ph.typ == "text" || ph.typ == "message" && !embedded:
		w.phase = phaseText
		w.pendingNL = false
		w.text.start(ph.encoding, ph.charset)
		w.m.activate(scopeBody, "")
	case ph.typ == "multipart" && ph.boundary != "" && len(ph.boundary) <= maxBoundaryLen:
		w.push(ph)
		w.phase = phaseSkip // the preamble
	case embedded && identity:
		w.phase = phaseHeader // the embedded message's header
		w.ph = partHeader{}
		w.field, w.hasField = w.field[:0], false
	default:
		// Not text: other media types, a multipart without a usable
		// boundary, an embedded message with a transfer encoding
		// (RFC 2046 §5.2.1 forbids one). Dovecot does not search them
		// either.
		w.phase = phaseSkip
	}
}

func (w *walker) push(ph partHeader) {
	n := len(w.stack)
	if n < cap(w.stack) {
		w.stack = w.stack[:n+1]
	} else {
		w.stack = append(w.stack, frame{})
	}
	f := &w.stack[n]
	f.delim = append(append(f.delim[:0], "--"...), ph.boundary...)
	f.digest = ph.sub == "digest"
	f.prev = -1
	if j, ok := w.open[string(f.delim)]; ok {
		f.prev = j
	}
	w.open[string(f.delim)] = n
}

// endPart ends the part being read at a boundary.
func (w *walker) endPart() {
	switch w.phase {
	case phaseHeader:
		w.flushField()
	case phaseText:
		w.text.flush()
	}
	w.pendingNL = false
}

// finish ends the message.
func (w *walker) finish() {
	if w.heldCR {
		w.heldCR = false
		w.content([]byte{'\r'}, false, false)
	}
	if w.phase == phaseHeader {
		w.endHeader()
	}
	w.endPart()
}

// contentType notes the media type, boundary and charset of a
// Content-Type value, leniently: a value mime.ParseMediaType refuses
// still gives its type and the parameters that can be picked out.
func (ph *partHeader) contentType(v string) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil && mt == "" {
		mt, _, _ = strings.Cut(v, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || typ == "" {
		return // RFC 2045 section 5.2: an invalid type is text/plain
	}
	ph.typ, ph.sub = typ, sub
	if params != nil {
		ph.boundary, ph.charset = params["boundary"], params["charset"]
		return
	}
	ph.boundary, ph.charset = looseParam(v, "boundary"), looseParam(v, "charset")
}

// looseParam finds name=value or name="value" in a Content-Type that
// does not parse.
func looseParam(v, name string) string {
	// ASCII lower case only: the indexes must stay those of v (ToLower
	// would turn an invalid octet into three).
	lb := []byte(v)
	for i, c := range lb {
		if c >= 'A' && c <= 'Z' {
			lb[i] = c + 'a' - 'A'
		}
	}
	lower := string(lb)
	for i := 0; ; {
		j := strings.Index(lower[i:], name)
		if j < 0 {
			return ""
		}
		i += j + len(name)
		if j := i - len(name) - 1; j >= 0 && lower[j] != ';' && lower[j] != ' ' && lower[j] != '\t' {
			continue
		}
		rest := strings.TrimLeft(v[i:], " \t")
		if !strings.HasPrefix(rest, "=") {
			continue
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		if strings.HasPrefix(rest, `"`) {
			if end := strings.IndexByte(rest[1:], '"'); end >= 0 {
				return rest[1 : 1+end]
			}
			return rest[1:]
		}
		end := strings.IndexAny(rest, "; \t")
		if end < 0 {
			end = len(rest)
		}
		return rest[:end]
	}
}

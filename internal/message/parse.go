package message

import (
	"bufio"
	"io"
	"math"
	"sync"
)

// The MIME parser: one pass over the stored message, line by line, that
// records for every part where its header starts, where its body starts
// and where it ends. It never nests readers per level: the active
// multipart boundaries live in one map from boundary to the stack entity
// that owns it, so each line costs the same whatever the nesting, and the
// stack of open entities is bounded (deeper nesting is opaque content).
// A 10,000-deep message therefore parses in time linear in its size.

const (
	// maxDepth bounds the open entities (parts and embedded messages).
	// A multipart or message/rfc822 part that would open a deeper
	// level is described as opaque application/octet-stream data.
	maxDepth = 64
	// maxParts bounds the parts described: after it, delimiter lines
	// still end the part before them but open no new part, so the
	// structure, the cache and BODYSTRUCTURE stay small.
	maxParts = 10000
	// maxField bounds each kept header field value (unfolded).
	maxField = 64 << 10
	// readSize is the parser's read buffer; longer lines are read in
	// pieces (only a line's first piece can be a boundary).
	readSize = 32 << 10
)

// readers recycles the parser's read buffers.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readSize) }}

// entity is one open entity: a part (header then body), which may be a
// message (top-level or embedded) whose header gives an envelope.
type entity struct {
	part     *Part
	msg      *Summary // the message this entity is, or nil for a MIME part
	inHeader bool
	depth    int
	nlBody   int64  // line ends before BodyStart
	boundary string // the active boundary of a multipart body, or ""
	shadowed int    // entity index the boundary shadowed in the map, or -1
	digest   bool   // children default to message/rfc822 (RFC 2046 5.1.5)
	isMulti  bool   // a multipart whose body is being split
}

type parser struct {
	br      *bufio.Reader
	off     int64 // offset of the next byte read
	nl      int64 // line ends ('\n') before off
	prevEOL int   // length of the last complete line's end ("\r\n" 2, "\n" 1)
	midLine bool  // the next chunk continues a line
	frames  []*entity
	bounds  map[string]int // active boundary -> index of its entity
	parts   int
	hdr     headerFields // the header being read (only the top entity reads one)
	// ops counts the parser's steps (lines and entity operations); a test
	// asserts it grows linearly with the input.
	ops int64
}

// parse reads a whole message and returns its summary with offsets. Only
// a failure of r is an error; malformed MIME is described as far as it goes.
func parse(r io.Reader) (*Summary, int64, error) {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	p := &parser{br: br, bounds: map[string]int{}}
	sum := &Summary{Version: summaryVersion, Structure: &Part{}}
	p.push(&entity{part: sum.Structure, msg: sum, inHeader: true, shadowed: -1})
	var err error
	for {
		var chunk []byte
		chunk, err = p.br.ReadSlice('\n')
		if len(chunk) > 0 {
			p.line(chunk, err == nil || err == io.EOF)
		}
		if err != nil && err != bufio.ErrBufferFull {
			break
		}
	}
	p.closeAbove(-1, p.off, p.nl)
	if err != nil && err != io.EOF {
		return nil, p.ops, err
	}
	return sum, p.ops, nil
}

func (p *parser) push(f *entity) {
	p.ops++
	p.frames = append(p.frames, f)
	if f.inHeader {
		p.hdr.reset(f.msg != nil)
	}
}

// line handles one chunk: a whole line, or a piece of a long one
// (complete says whether the chunk reaches the line's end or EOF).
func (p *parser) line(chunk []byte, complete bool) {
	p.ops++
	start := p.off
	lineStart := !p.midLine
	content, eol := chunk, 0
	if n := len(content); n > 0 && content[n-1] == '\n' {
		eol = 1
		if n > 1 && content[n-2] == '\r' {
			eol = 2
		}
		content = content[:n-eol]
	}
	handled := false
	if lineStart && complete && len(p.bounds) > 0 && len(content) >= 2 && content[0] == '-' && content[1] == '-' {
		if idx, closing, ok := p.matchBoundary(content[2:]); ok {
			p.boundary(idx, closing, start, start+int64(len(chunk)))
			handled = true
		}
	}
	if !handled {
		if top := p.frames[len(p.frames)-1]; top.inHeader {
			if lineStart && eol > 0 && len(content) == 0 {
				p.startBody(top, start+int64(len(chunk)), p.nl+1)
			} else {
				p.hdr.add(content, lineStart)
			}
		}
	}
	p.off += int64(len(chunk))
	p.midLine = eol == 0 && !complete
	if eol > 0 {
		p.nl++
		p.prevEOL = eol
	}
}

// matchBoundary looks rest (a line after its leading "--") up among the
// active boundaries: "boundary" then optional "--" (the close delimiter)
// then only white space (RFC 2046 section 5.1.1).
func (p *parser) matchBoundary(rest []byte) (idx int, closing, ok bool) {
	end := len(rest)
	for end > 0 && (rest[end-1] == ' ' || rest[end-1] == '\t' || rest[end-1] == '\r') {
		end--
	}
	rest = rest[:end]
	if i, found := p.bounds[string(rest)]; found {
		return i, false, true
	}
	if n := len(rest); n >= 2 && rest[n-1] == '-' && rest[n-2] == '-' {
		if i, found := p.bounds[string(rest[:n-2])]; found {
			return i, true, true
		}
	}
	return 0, false, false
}

// boundary handles a delimiter line of entity idx's multipart, which spans
// [lineStart, next).
func (p *parser) boundary(idx int, closing bool, lineStart, next int64) {
	// The line end before the delimiter belongs to the delimiter.
	end := lineStart - int64(p.prevEOL)
	nlEnd := p.nl
	if p.prevEOL > 0 {
		nlEnd--
	}
	p.closeAbove(idx, end, nlEnd)
	mp := p.frames[idx]
	if closing {
		p.unregister(mp)
		return
	}
	if p.parts >= maxParts {
		return
	}
	p.parts++
	child := &Part{HeaderStart: next}
	mp.part.Parts = append(mp.part.Parts, child)
	p.push(&entity{part: child, inHeader: true, depth: mp.depth + 1, shadowed: -1, digest: mp.digest})
}

// startBody ends the top entity's header at pos (nl line ends before it)
// and prepares its body: a multipart's boundary becomes active, an
// embedded message opens a entity for its own header.
func (p *parser) startBody(f *entity, pos, nl int64) {
	p.ops++
	f.inHeader = false
	f.part.BodyStart, f.nlBody = pos, nl
	p.hdr.describe(f.part, f.digest)
	if f.msg != nil {
		f.msg.Envelope = p.hdr.envelope()
	}
	deep := f.depth+1 >= maxDepth
	switch {
	case f.part.Type == "multipart":
		b := f.part.Param("boundary")
		if b == "" || deep || len(b) > 200 {
			f.part.Type, f.part.Subtype = "application", "octet-stream"
			return
		}
		f.isMulti, f.digest = true, f.part.Subtype == "digest"
		f.boundary, f.shadowed = b, -1
		if prev, ok := p.bounds[b]; ok {
			f.shadowed = prev
		}
		p.bounds[b] = len(p.frames) - 1
	case f.part.isMessage():
		if deep {
			f.part.Type, f.part.Subtype = "application", "octet-stream"
			return
		}
		emb := &Summary{Version: summaryVersion, Structure: &Part{HeaderStart: pos}}
		f.part.Embedded = emb
		p.push(&entity{part: emb.Structure, msg: emb, inHeader: true, depth: f.depth + 1, shadowed: -1})
	}
}

func (p *parser) unregister(f *entity) {
	if f.boundary == "" {
		return
	}
	if f.shadowed >= 0 {
		p.bounds[f.boundary] = f.shadowed
	} else {
		delete(p.bounds, f.boundary)
	}
	f.boundary = ""
}

// closeAbove ends every entity above index idx at end, with nlEnd line
// ends before end. A part's Lines counts the line ends in its body, as
// Dovecot does (a last line without one is not counted).
func (p *parser) closeAbove(idx int, end, nlEnd int64) {
	if len(p.frames) <= idx+1 {
		return
	}
	// A header cut short by a delimiter or EOF: its body is empty.
	for top := p.frames[len(p.frames)-1]; top.inHeader; top = p.frames[len(p.frames)-1] {
		p.startBody(top, max(end, top.part.HeaderStart), nlEnd)
	}
	// Outer frames first: each part lies inside its parent's range. The
	// line end before a delimiter belongs to the delimiter, so a part
	// that began after end (a header or a blank line took that line end)
	// is empty where it began.
	bound := int64(math.MaxInt64)
	for _, f := range p.frames[idx+1:] {
		p.ops++
		p.unregister(f)
		pt := f.part
		pt.HeaderStart = min(pt.HeaderStart, bound)
		pt.End = min(max(end, pt.HeaderStart), bound)
		pt.BodyStart = min(pt.BodyStart, pt.End)
		pt.Lines = 0
		if pt.End == end && pt.End > pt.BodyStart && (pt.isText() || pt.isMessage()) {
			pt.Lines = nlEnd - f.nlBody
		}
		if f.isMulti && len(pt.Parts) == 0 {
			// RFC 9051 requires a part in every multipart: an empty
			// one is described as one empty text part.
			pt.Parts = []*Part{{Type: "text", Subtype: "plain", Params: []string{"charset", "us-ascii"},
				Encoding: "7bit", HeaderStart: pt.End, BodyStart: pt.End, End: pt.End}}
		}
		bound = pt.End
	}
	clear(p.frames[idx+1:])
	p.frames = p.frames[:idx+1]
}

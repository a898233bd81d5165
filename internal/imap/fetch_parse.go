package imap

import (
	"strings"

	"github.com/pochta-mail/pochta/internal/imap/wire"
	"github.com/pochta-mail/pochta/internal/message"
)

// fetchItems is a parsed FETCH request (RFC 9051 section 6.4.5, RFC 3516).
type fetchItems struct {
	uid, flags, internalDate, size, envelope bool
	modseq                                   bool // RFC 7162 MODSEQ
	// changedSince is the CHANGEDSINCE modifier (RFC 7162 §3.1.4.1):
	// only messages with a greater mod-sequence are answered.
	changedSince        uint64
	hasChangedSince     bool
	partial             *partialRange // the PARTIAL modifier (RFC 9394 §3.3)
	preview             bool          // RFC 8970
	emailID, threadID   bool          // RFC 8474
	saveDate            bool          // RFC 8514
	body, bodyStructure bool          // BODY (non-extensible), BODYSTRUCTURE
	sections            []*fetchSection
}

// sectionKind tells BODY[], BINARY[] and BINARY.SIZE[] apart.
type sectionKind uint8

const (
	kindBody sectionKind = iota
	kindBinary
	kindBinarySize
)

// fetchSection is one BODY[...], BINARY[...] or BINARY.SIZE[...] item,
// or an RFC822, RFC822.HEADER or RFC822.TEXT item (alias set).
type fetchSection struct {
	kind   sectionKind
	peek   bool
	path   []int
	spec   string   // message.Spec*
	fields []string // HEADER.FIELDS (.NOT) names, as sent
	// partial <off.n>
	partial bool
	off, n  int64
	// alias is the RFC822 item name the response uses instead of BODY[...].
	alias string
}

// maxSections bounds the body items of one FETCH; maxFields the header
// field names of one HEADER.FIELDS list; maxPartDepth the numbers of a
// section part.
const (
	maxSections  = 64
	maxFields    = 256
	maxPartDepth = 64
)

// needSummary says whether the message's summary (structure and offsets)
// is needed: for ENVELOPE, BODY[STRUCTURE], and any section that is not
// the whole message.
func (f *fetchItems) needSummary() bool {
	if f.envelope || f.body || f.bodyStructure || f.preview || f.threadID {
		return true
	}
	for _, sec := range f.sections {
		if !sec.whole() {
			return true
		}
	}
	return false
}

// whole says whether the section is the whole message (BODY[], BINARY[],
// RFC822), which needs no summary.
func (sec *fetchSection) whole() bool { return len(sec.path) == 0 && sec.spec == message.SpecNone }

// onlyEnvelope says whether the envelope is all the request needs of the
// summary (ENVELOPE, THREADID): it is then decoded alone
// (message.UnmarshalEnvelope), and the summaries handed to fetchMessage
// have no Structure.
func (f *fetchItems) onlyEnvelope() bool {
	if !(f.envelope || f.threadID) || f.body || f.bodyStructure || f.preview {
		return false
	}
	for _, sec := range f.sections {
		if !sec.whole() {
			return false
		}
	}
	return true
}

// summaryNeed says what of the cached summaries the request needs
// (batchSummaries): all, the envelope, or for ENVELOPE alone the rendered
// envelope.
func (f *fetchItems) summaryNeed() int {
	switch {
	case !f.onlyEnvelope():
		return summaryFull
	case f.threadID:
		return summaryEnvelope
	}
	return summaryWire
}

// setsSeen says whether the request sets \Seen (a body item without .PEEK).
func (f *fetchItems) setsSeen() bool {
	for _, sec := range f.sections {
		if !sec.peek && sec.kind != kindBinarySize {
			return true
		}
	}
	return false
}

// parseFetchItems reads "ALL" / "FAST" / "FULL" / fetch-att / "(" fetch-att
// *(SP fetch-att) ")".
func (s *session) parseFetchItems() (*fetchItems, error) {
	f := &fetchItems{}
	p := s.p
	switch {
	case p.AcceptFold("ALL"):
		f.flags, f.internalDate, f.size, f.envelope = true, true, true, true
		return f, nil
	case p.AcceptFold("FAST"):
		f.flags, f.internalDate, f.size = true, true, true
		return f, nil
	case p.AcceptFold("FULL"):
		f.flags, f.internalDate, f.size, f.envelope, f.body = true, true, true, true, true
		return f, nil
	}
	if !p.Accept('(') {
		return f, s.parseFetchAtt(f)
	}
	for {
		if err := s.parseFetchAtt(f); err != nil {
			return nil, err
		}
		if p.Accept(')') {
			return f, nil
		}
		if err := p.SP(); err != nil {
			return nil, err
		}
	}
}

func (s *session) parseFetchAtt(f *fetchItems) error {
	p := s.p
	name, err := p.AtomStop("[<")
	if err != nil {
		return err
	}
	addSection := func(sec *fetchSection) error {
		if len(f.sections) >= maxSections {
			return badCode(codeLimit, "Too many body items in one FETCH")
		}
		f.sections = append(f.sections, sec)
		return nil
	}
	switch strings.ToUpper(name) {
	case "UID":
		f.uid = true
	case "FLAGS":
		f.flags = true
	case "MODSEQ":
		f.modseq = true
	case "INTERNALDATE":
		f.internalDate = true
	case "RFC822.SIZE":
		f.size = true
	case "ENVELOPE":
		f.envelope = true
	case "BODYSTRUCTURE":
		f.bodyStructure = true
	case "EMAILID":
		f.emailID = true
	case "THREADID":
		f.threadID = true
	case "SAVEDATE":
		f.saveDate = true
	case "PREVIEW":
		// RFC 8970 section 4: PREVIEW (LAZY); a preview is always made
		// at once here, which LAZY allows.
		f.preview = true
		return s.parsePreviewMods()
	case "RFC822":
		return addSection(&fetchSection{alias: "RFC822"})
	case "RFC822.HEADER":
		return addSection(&fetchSection{alias: "RFC822.HEADER", peek: true, spec: message.SpecHeader})
	case "RFC822.TEXT":
		return addSection(&fetchSection{alias: "RFC822.TEXT", spec: message.SpecText})
	case "BODY", "BODY.PEEK":
		peek := len(name) > 4
		if c, ok := p.Peek(); !ok || c != '[' {
			if peek {
				return bad("BODY.PEEK needs a section")
			}
			f.body = true
			return nil
		}
		sec := &fetchSection{kind: kindBody, peek: peek}
		if err := s.parseSection(sec, false); err != nil {
			return err
		}
		return addSection(sec)
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		sec := &fetchSection{kind: kindBinary, peek: strings.EqualFold(name, "BINARY.PEEK")}
		if strings.EqualFold(name, "BINARY.SIZE") {
			sec.kind = kindBinarySize
		}
		if err := s.parseSection(sec, true); err != nil {
			return err
		}
		return addSection(sec)
	default:
		return bad("Unknown FETCH item %q", name)
	}
	return nil
}

// parseSection reads "[" section-spec "]" [partial]; binary allows only
// part numbers (RFC 3516 section-binary).
func (s *session) parseSection(sec *fetchSection, binary bool) error {
	p := s.p
	if err := p.Expect('['); err != nil {
		return err
	}
	dot := false // the part numbers end with "." and a specifier follows
	for {
		if c, ok := p.Peek(); !ok || c < '0' || c > '9' {
			break
		}
		n, err := p.NZNumber()
		if err != nil {
			return err
		}
		if len(sec.path) >= maxPartDepth {
			return badCode(codeLimit, "Section part nested too deep")
		}
		sec.path = append(sec.path, int(n))
		if dot = p.Accept('.'); !dot {
			break
		}
	}
	if dot || !p.Accept(']') {
		if binary {
			return bad("BINARY takes only part numbers")
		}
		if len(sec.path) > 0 && !dot {
			return bad("Expected \".\" or \"]\" after the part number")
		}
		switch {
		case p.AcceptPrefixFold("HEADER.FIELDS.NOT"):
			sec.spec = message.SpecHeaderNot
		case p.AcceptPrefixFold("HEADER.FIELDS"):
			sec.spec = message.SpecHeaderFields
		case p.AcceptPrefixFold("HEADER"):
			sec.spec = message.SpecHeader
		case p.AcceptPrefixFold("TEXT"):
			sec.spec = message.SpecText
		case len(sec.path) > 0 && p.AcceptPrefixFold("MIME"):
			sec.spec = message.SpecMIME
		default:
			return bad("Unknown section")
		}
		if sec.spec == message.SpecHeaderFields || sec.spec == message.SpecHeaderNot {
			if err := p.SP(); err != nil {
				return err
			}
			if err := s.parseFieldList(sec); err != nil {
				return err
			}
			if len(sec.fields) == 0 {
				return bad("HEADER.FIELDS needs at least one field name")
			}
		}
		if err := p.Expect(']'); err != nil {
			return err
		}
	}
	if sec.kind == kindBinarySize || !p.Accept('<') {
		return nil
	}
	off, err := p.Number64()
	if err != nil {
		return err
	}
	if err := p.Expect('.'); err != nil {
		return err
	}
	n, err := p.Number64()
	if err != nil {
		return err
	}
	if n == 0 {
		return bad("A partial's length must not be 0")
	}
	sec.partial, sec.off, sec.n = true, int64(min(off, 1<<62)), int64(min(n, 1<<62))
	return p.Expect('>')
}

// parseFieldList reads SP "(" header-fld-name *(SP header-fld-name) ")".
func (s *session) parseFieldList(sec *fetchSection) error {
	return s.parenList(func() error {
		name, err := s.p.AString()
		if err != nil {
			return err
		}
		if len(sec.fields) >= maxFields {
			return badCode(codeLimit, "Too many header field names")
		}
		sec.fields = append(sec.fields, name)
		return nil
	})
}

// writeName writes the item name the response uses: "BODY[1.HEADER.FIELDS
// (A B)]<0>", "BINARY[2]", "RFC822.TEXT".
func (sec *fetchSection) writeName(w *wire.Writer) {
	if sec.alias != "" {
		w.Raw(sec.alias)
		return
	}
	switch sec.kind {
	case kindBody:
		w.Raw("BODY[")
	case kindBinary:
		w.Raw("BINARY[")
	case kindBinarySize:
		w.Raw("BINARY.SIZE[")
	}
	for i, n := range sec.path {
		if i > 0 {
			w.Byte('.')
		}
		w.Number(uint64(n))
	}
	if sec.spec != "" {
		if len(sec.path) > 0 {
			w.Byte('.')
		}
		w.Raw(sec.spec)
	}
	if len(sec.fields) > 0 {
		w.SP()
		writeList(w, sec.fields, w.AString)
	}
	w.Byte(']')
	if sec.partial {
		w.Byte('<')
		w.Number(uint64(sec.off))
		w.Byte('>')
	}
}

// parseFetchModifiers reads SP "(" fetch-modifier *(SP fetch-modifier)
// ")" (RFC 4466 §2.4): CHANGEDSINCE n and VANISHED (RFC 7162 §3.1.4.1,
// §3.2.6), PARTIAL range (RFC 9394 §3.3). It reports whether VANISHED
// was given.
func (s *session) parseFetchModifiers(f *fetchItems) (vanished bool, err error) {
	if err := s.p.SP(); err != nil {
		return false, err
	}
	err = s.atomList(func(name string) error {
		switch name {
		case "CHANGEDSINCE":
			if err := s.p.SP(); err != nil {
				return err
			}
			n, err := s.p.Number64()
			f.changedSince, f.hasChangedSince, f.modseq = n, true, true
			return err
		case "VANISHED":
			vanished = true
			return nil
		case "PARTIAL":
			if f.partial != nil {
				return bad("PARTIAL given twice")
			}
			var err error
			f.partial, err = s.parsePartialRange()
			return err
		}
		return bad("Unknown FETCH modifier %s", truncate(name, 32))
	})
	return vanished, err
}

// parsePreviewMods reads an optional SP "(" preview-mod *(SP preview-mod)
// ")" after PREVIEW; LAZY is the only modifier (RFC 8970).
func (s *session) parsePreviewMods() error {
	// Past the space, a "(" starts the modifiers; anything else is the
	// next item.
	if !strings.HasPrefix(s.p.Rest(), " (") {
		return nil
	}
	if err := s.p.SP(); err != nil {
		return err
	}
	return s.atomList(func(atom string) error {
		if atom != "LAZY" {
			return bad("Unknown PREVIEW modifier %q", atom)
		}
		return nil
	})
}

package message

import "strings"

// AddressKind tells what an element of a parsed address list is.
type AddressKind uint8

const (
	AddressMailbox    AddressKind = iota // a mailbox: Name, Mailbox, Host
	AddressGroupStart                    // the start of a group: Name is the group's display name
	AddressGroupEnd                      // the end of a group
)

// ListedAddress is one element of an address list, in the order RFC 9051
// ENVELOPE lists them: mailboxes, with groups as start and end markers.
type ListedAddress struct {
	Kind AddressKind
	Address
}

// ParseAddressList parses an address list field value (RFC 5322 section
// 3.4, with the obsolete syntax of section 4.4) leniently: it never
// fails, it returns what it can make out. Comments and folding whitespace
// are dropped wherever they are, also inside an address
// (`<user (comment)@ (comment) domain.org>` is user@domain.org); an
// obsolete source route is dropped; RFC 2047 encoded words in display
// names are decoded. An addr-spec without angle brackets takes the text of
// its last comment as its name, as Dovecot does (`ann@x (Ann)`).
// An address without "@" has an empty Host.
//
// The work is linear in the length of value.
func ParseAddressList(value string) []ListedAddress {
	p := addrParser{s: value}
	p.parse()
	return p.out
}

type addrTokenKind uint8

const (
	tokWord    addrTokenKind = iota // atom, quoted string (unquoted) or domain literal
	tokSpecial                      // one of < > @ , ; : .
)

type addrToken struct {
	kind  addrTokenKind
	text  string
	space bool // whitespace or a comment came before it
}

type addrParser struct {
	s   string
	i   int
	out []ListedAddress

	// the mailbox being read
	words    []addrToken // tokens outside angle brackets
	angle    bool        // inside <...>
	sawAngle bool
	name     string // display name, once '<' was seen
	local    strings.Builder
	domain   strings.Builder
	at       bool // inside <...>: after '@'
	inGroup  bool
	// comment is the last comment read in the mailbox: a bare addr-spec
	// takes it as its display name, as Dovecot does.
	comment string
}

func (p *addrParser) parse() {
	for {
		t, ok := p.next()
		if !ok {
			break
		}
		p.token(t)
	}
	p.endMailbox()
	if p.inGroup {
		p.out = append(p.out, ListedAddress{Kind: AddressGroupEnd})
	}
}

func (p *addrParser) token(t addrToken) {
	if p.angle {
		switch {
		case t.kind == tokSpecial && t.text == ">":
			p.angle = false
		case t.kind == tokSpecial && t.text == ":":
			// the end of an obsolete route "@a,@b:": the address follows
			p.local.Reset()
			p.domain.Reset()
			p.at = false
		case t.kind == tokSpecial && t.text == "@":
			p.at = true
		case t.kind == tokSpecial && (t.text == "," || t.text == "<"):
			// inside a route, or stray: ignored
		case p.at:
			p.domain.WriteString(t.text)
		default:
			p.local.WriteString(t.text)
		}
		return
	}
	if t.kind == tokSpecial {
		switch t.text {
		case "<":
			p.name = joinPhrase(p.words)
			p.words = p.words[:0]
			p.angle, p.sawAngle = true, true
			p.local.Reset()
			p.domain.Reset()
			p.at = false
			return
		case ",":
			p.endMailbox()
			return
		case ";":
			if p.inGroup {
				p.endMailbox()
				p.out = append(p.out, ListedAddress{Kind: AddressGroupEnd})
				p.inGroup = false
			}
			return
		case ":":
			if !p.inGroup && !p.sawAngle && !hasAt(p.words) {
				name := joinPhrase(p.words)
				p.words = p.words[:0]
				p.out = append(p.out, ListedAddress{Kind: AddressGroupStart, Address: Address{Name: name}})
				p.inGroup = true
				p.comment = ""
			}
			return
		case ">":
			return
		}
	}
	if p.sawAngle {
		return // text after the angle address: ignored
	}
	p.words = append(p.words, t)
}

func hasAt(words []addrToken) bool {
	for _, w := range words {
		if w.kind == tokSpecial && w.text == "@" {
			return true
		}
	}
	return false
}

// endMailbox adds the mailbox read so far, if any.
func (p *addrParser) endMailbox() {
	var a Address
	switch {
	case p.sawAngle:
		a = Address{Name: p.name, Mailbox: p.local.String(), Host: p.domain.String()}
	case len(p.words) > 0:
		// An addr-spec: the words are the local part and the domain,
		// whitespace and comments between them dropped.
		var local, domain strings.Builder
		at := false
		for _, w := range p.words {
			switch {
			case w.kind == tokSpecial && w.text == "@" && !at:
				at = true
			case at:
				domain.WriteString(w.text)
			default:
				local.WriteString(w.text)
			}
		}
		a = Address{Mailbox: local.String(), Host: domain.String()}
		if p.comment != "" {
			a.Name = decodeWords(strings.TrimSpace(p.comment))
		}
	}
	if a.Mailbox != "" || a.Host != "" || a.Name != "" {
		p.out = append(p.out, ListedAddress{Kind: AddressMailbox, Address: a})
	}
	p.words = p.words[:0]
	p.angle, p.sawAngle, p.at = false, false, false
	p.name, p.comment = "", ""
	p.local.Reset()
	p.domain.Reset()
}

// joinPhrase writes a display name: words separated by one space where
// the source had whitespace, encoded words decoded.
func joinPhrase(words []addrToken) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 && w.space {
			b.WriteByte(' ')
		}
		b.WriteString(w.text)
	}
	return decodeWords(b.String())
}

const addrSpecials = "<>@,;:."

// next returns the next token, skipping whitespace and comments.
func (p *addrParser) next() (addrToken, bool) {
	space := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
			p.i++
		case c == '(':
			p.comment = p.readEnclosed('(', ')')
			space = true
		case c == '"':
			return addrToken{kind: tokWord, text: p.readEnclosed('"', '"'), space: space}, true
		case c == '[':
			end := strings.IndexByte(p.s[p.i:], ']')
			if end < 0 {
				end = len(p.s) - p.i - 1
			}
			t := p.s[p.i : p.i+end+1]
			p.i += end + 1
			return addrToken{kind: tokWord, text: t, space: space}, true
		case strings.IndexByte(addrSpecials, c) >= 0:
			p.i++
			return addrToken{kind: tokSpecial, text: p.s[p.i-1 : p.i], space: space}, true
		default:
			start := p.i
			for p.i < len(p.s) && !isAddrDelim(p.s[p.i]) {
				p.i++
			}
			return addrToken{kind: tokWord, text: p.s[start:p.i], space: space}, true
		}
	}
	return addrToken{}, false
}

func isAddrDelim(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(' || c == '"' || c == '[' ||
		strings.IndexByte(addrSpecials, c) >= 0
}

// readEnclosed reads a comment (open '(', close ')', nested) or a
// quoted string (both '"') starting at p.i and returns its content,
// quoted-pairs unescaped and line breaks dropped.
func (p *addrParser) readEnclosed(open, close byte) string {
	depth := 0
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case depth == 0: // the opening character
			depth = 1
			continue
		case c == '\\':
			if p.i < len(p.s) {
				b.WriteByte(p.s[p.i])
				p.i++
			}
			continue
		case c == close:
			if depth--; depth == 0 {
				return b.String()
			}
		case c == open:
			depth++
		case c == '\r' || c == '\n':
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// writePhrase writes a display name as RFC 5322 would: as it is when it
// is a single atom, else as a quoted string (as Dovecot writes it for
// SEARCH, so `FROM "\"Ann"` finds "Ann Example" <ann@example.org>).
func writePhrase(b *strings.Builder, name string) {
	atom := true
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x80 && (c <= ' ' || strings.IndexByte(`()<>[]:;@\,."`, c) >= 0) {
			atom = false
			break
		}
	}
	if atom {
		b.WriteString(name)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(name[i])
	}
	b.WriteByte('"')
}

// addressText writes an address field out for MatchAddress as Dovecot
// does, so that SEARCH FROM/TO/CC/BCC agree with it: each mailbox as
// `Name <mailbox@host>` (the name quoted unless it is one atom) or
// `<mailbox@host>`, groups as `Name: members;`. A value in which no address can be made
// out is searched as its decoded text.
func addressText(value string) string {
	list := ParseAddressList(value)
	if len(list) == 0 {
		return decodeWords(value)
	}
	var b strings.Builder
	sep := ""
	for _, a := range list {
		switch a.Kind {
		case AddressGroupStart:
			b.WriteString(sep)
			b.WriteString(a.Name)
			b.WriteString(": ")
			sep = ""
		case AddressGroupEnd:
			b.WriteString(";")
			sep = ", "
		default:
			b.WriteString(sep)
			if a.Name != "" {
				writePhrase(&b, a.Name)
				b.WriteByte(' ')
			}
			b.WriteByte('<')
			b.WriteString(a.Mailbox)
			if a.Host != "" {
				b.WriteByte('@')
				b.WriteString(a.Host)
			}
			b.WriteByte('>')
			sep = ", "
		}
	}
	return b.String()
}

package message

import (
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/transform"
)

// PreviewLimit is the longest preview, in characters (RFC 8970 section 3).
const PreviewLimit = 200

// previewRead bounds what a preview decodes of its part.
const previewRead = 4096

// PreviewPart returns the part a preview is made of: the first text/plain
// leaf, else the first text/html one; nil when the message has neither.
func (s *Summary) PreviewPart() *Part {
	var html *Part
	var walk func(p *Part) *Part
	walk = func(p *Part) *Part {
		switch {
		case p.IsMultipart():
			for _, c := range p.Parts {
				if found := walk(c); found != nil {
					return found
				}
			}
		case p.Embedded != nil:
			// An attached message is not the message's text.
		case p.Type == "text" && p.Subtype == "plain":
			return p
		case p.Type == "text" && p.Subtype == "html" && html == nil:
			html = p
		}
		return nil
	}
	if p := walk(s.Structure); p != nil {
		return p
	}
	return html
}

// Preview makes the RFC 8970 preview of part p from its raw body: the
// transfer encoding and charset undone, HTML tags dropped, white space
// collapsed, at most PreviewLimit characters of valid UTF-8.
func Preview(p *Part, body io.Reader) (string, error) {
	dec, ok := NewDecoder(p.Encoding, body)
	if !ok {
		return "", nil
	}
	r := io.LimitReader(dec, previewRead)
	if enc := lookupCharset(p.Param("charset")); enc != nil {
		r = transform.NewReader(r, enc.NewDecoder())
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	text := strings.ToValidUTF8(string(b), "")
	if p.Subtype == "html" {
		text = stripTags(text)
	}
	text = collapseSpace(text)
	if utf8.RuneCountInString(text) > PreviewLimit {
		runes := []rune(text)
		text = string(runes[:PreviewLimit])
	}
	return text, nil
}

// stripTags drops what lies between "<" and ">" (a rough text of HTML,
// enough for a preview).
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

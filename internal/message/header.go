package message

import (
	"bytes"
	"net/mail"
	"strings"
)

// Header fields the parser keeps: the MIME fields of every part, and the
// envelope fields of messages. Only a field's first occurrence counts.
const (
	fContentType = iota
	fEncoding
	fID
	fDescription
	fDisposition
	fLanguage
	fLocation
	fMD5
	fDate
	fSubject
	fFrom
	fSender
	fReplyTo
	fTo
	fCc
	fBcc
	fInReplyTo
	fMessageID
	fReferences
	nFields
)

// headerFields collects the kept fields of one header, unfolded, each
// bounded by maxField.
type headerFields struct {
	vals  [nFields][]byte
	have  [nFields]bool
	isMsg bool
	cur   int // field being continued, or -1
}

func (h *headerFields) reset(isMsg bool) {
	for i := range h.vals {
		h.vals[i] = h.vals[i][:0]
		h.have[i] = false
	}
	h.isMsg, h.cur = isMsg, -1
}

// add takes one header line (without its line end), or a further piece
// of a long line when lineStart is false.
func (h *headerFields) add(content []byte, lineStart bool) {
	if lineStart && (len(content) == 0 || (content[0] != ' ' && content[0] != '\t')) {
		h.cur = -1
		colon := bytes.IndexByte(content, ':')
		if colon <= 0 {
			return // not a field: ignored
		}
		i := fieldIndex(bytes.TrimRight(content[:colon], " \t"), h.isMsg)
		if i < 0 || h.have[i] {
			return
		}
		h.have[i], h.cur = true, i
		content = content[colon+1:]
	}
	if h.cur < 0 {
		return
	}
	v := h.vals[h.cur]
	h.vals[h.cur] = append(v, content[:min(len(content), maxField-len(v))]...)
}

// fieldIndex maps a field name to its slot, or -1 when not kept.
func fieldIndex(name []byte, isMsg bool) int {
	if len(name) < 2 || len(name) > 25 {
		return -1
	}
	var buf [25]byte
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	lower := buf[:len(name)]
	if bytes.HasPrefix(lower, []byte("content-")) {
		switch string(lower[8:]) {
		case "type":
			return fContentType
		case "transfer-encoding":
			return fEncoding
		case "id":
			return fID
		case "description":
			return fDescription
		case "disposition":
			return fDisposition
		case "language":
			return fLanguage
		case "location":
			return fLocation
		case "md5":
			return fMD5
		}
		return -1
	}
	if !isMsg {
		return -1
	}
	switch string(lower) {
	case "date":
		return fDate
	case "subject":
		return fSubject
	case "from":
		return fFrom
	case "sender":
		return fSender
	case "reply-to":
		return fReplyTo
	case "to":
		return fTo
	case "cc":
		return fCc
	case "bcc":
		return fBcc
	case "in-reply-to":
		return fInReplyTo
	case "message-id":
		return fMessageID
	case "references":
		return fReferences
	}
	return -1
}

// value returns a field's unfolded value without surrounding white space.
func (h *headerFields) value(i int) string {
	if !h.have[i] {
		return ""
	}
	return string(bytes.TrimSpace(h.vals[i]))
}

// describe fills a part's MIME description from the header. Without a
// usable Content-Type a part is text/plain; charset=us-ascii (RFC 2045
// section 5.2), or message/rfc822 inside a multipart/digest.
func (h *headerFields) describe(p *Part, digest bool) {
	mediaType, params := parseParams(h.value(fContentType))
	typ, sub, ok := strings.Cut(strings.ToLower(mediaType), "/")
	typ, sub = strings.TrimSpace(typ), strings.TrimSpace(sub)
	if !ok || !isToken(typ) || !isToken(sub) {
		if digest {
			typ, sub, params = "message", "rfc822", nil
		} else {
			typ, sub, params = "text", "plain", nil
		}
	}
	if typ == "text" && paramValue(params, "charset") == "" {
		params = append(params, "charset", "us-ascii")
	}
	p.Type, p.Subtype, p.Params = typ, sub, params
	p.Encoding = strings.ToLower(h.value(fEncoding))
	if p.Encoding == "" || !isToken(p.Encoding) {
		p.Encoding = "7bit"
	}
	p.ID, p.Description, p.Location, p.MD5 = h.value(fID), h.value(fDescription), h.value(fLocation), h.value(fMD5)
	if disp, dp := parseParams(h.value(fDisposition)); disp != "" {
		p.Disposition, p.DispParams = strings.ToLower(disp), dp
	}
	if lang := h.value(fLanguage); lang != "" {
		for l := range strings.SplitSeq(lang, ",") {
			if l = strings.TrimSpace(stripComments(l)); l != "" {
				p.Language = append(p.Language, l)
			}
		}
	}
}

// envelope builds a message's envelope (RFC 9051 section 7.5.2) from its
// header.
func (h *headerFields) envelope() *Envelope {
	e := &Envelope{
		RawDate: h.value(fDate), Subject: h.value(fSubject),
		From: ParseAddressList(h.value(fFrom)), Sender: ParseAddressList(h.value(fSender)),
		ReplyTo: ParseAddressList(h.value(fReplyTo)), To: ParseAddressList(h.value(fTo)),
		Cc: ParseAddressList(h.value(fCc)), Bcc: ParseAddressList(h.value(fBcc)),
		InReplyTo: h.value(fInReplyTo), MessageID: h.value(fMessageID), References: h.value(fReferences),
	}
	if e.RawDate != "" {
		if t, err := mail.ParseDate(e.RawDate); err == nil {
			e.Date = t
		}
	}
	return e
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// parseParams splits a structured MIME field ("value; name=value; ...")
// into its value and its parameters as name, value pairs in the order
// sent (names lower-case, quoted values unquoted, the first of a repeated
// name kept). RFC 2231 parameters stay as sent ("name*0*"), as IMAP
// clients expect them in BODYSTRUCTURE.
func parseParams(s string) (value string, params []string) {
	s = stripComments(s)
	value, rest, _ := strings.Cut(s, ";")
	value = strings.TrimSpace(value)
	for rest != "" {
		var item string
		item, rest = cutUnquoted(rest, ';')
		name, v, ok := strings.Cut(item, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || !isToken(strings.ReplaceAll(name, "*", "x")) || paramValue(params, name) != "" {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' {
			v = unquote(v)
		}
		params = append(params, name, v)
	}
	return value, params
}

// cutUnquoted cuts s at the first sep outside a quoted string.
func cutUnquoted(s string, sep byte) (before, after string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == sep && !inQuote:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// unquote removes the quotes and backslash escapes of a quoted string
// (an unterminated one runs to the end).
func unquote(s string) string {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			c = s[i]
		} else if c == '"' {
			break
		}
		b.WriteByte(c)
	}
	return b.String()
}

// stripComments removes RFC 5322 comments outside quoted strings.
func stripComments(s string) string {
	if strings.IndexByte(s, '(') < 0 {
		return s
	}
	var b strings.Builder
	depth, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (inQuote || depth > 0):
			if depth == 0 {
				b.WriteByte(c)
				if i+1 < len(s) {
					b.WriteByte(s[i+1])
				}
			}
			i++
			continue
		case c == '"' && depth == 0:
			inQuote = !inQuote
		case c == '(' && !inQuote:
			depth++
			continue
		case c == ')' && !inQuote && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// paramValue returns the value of a name, value pairs list's name.
func paramValue(params []string, name string) string {
	for i := 0; i+1 < len(params); i += 2 {
		if params[i] == name {
			return params[i+1]
		}
	}
	return ""
}

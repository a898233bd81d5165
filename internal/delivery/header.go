package delivery

import (
	"bytes"
	"strings"

	"github.com/pochta-mail/pochta/internal/message"
)

// Header is a message's header section as a filter sees it: fields in
// order, unfolded. It is parsed from at most Deliverer.MaxHeader octets.
type Header struct {
	src    []byte // the section parsed
	fields []headerField
}

type headerField struct {
	name  string // as written
	value string // unfolded, surrounding white space trimmed
	// src[start:end] is the field as received, every line with its line
	// end (a line without a colon is part of the field above it).
	start, end int
}

// ParseHeader parses a header section (the blank line optional). Lines
// without a colon are skipped; continuation lines join the field above.
func ParseHeader(raw []byte) *Header {
	// At most a field per line: one allocation for the fields.
	h := &Header{src: raw, fields: make([]headerField, 0, bytes.Count(raw, []byte("\n"))+1)}
	pos := 0
	for pos < len(raw) {
		line, next := raw[pos:], len(raw)
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, next = line[:i], pos+i+1
		}
		start := pos
		pos = next
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break // the blank line ends the section
		}
		n := len(h.fields)
		if line[0] == ' ' || line[0] == '\t' {
			if n > 0 {
				h.fields[n-1].value += " " + strings.TrimSpace(string(line))
				h.fields[n-1].end = pos
			}
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			if n > 0 {
				h.fields[n-1].end = pos
			}
			continue
		}
		h.fields = append(h.fields, headerField{
			name:  strings.TrimRight(string(name), " \t"),
			value: strings.TrimSpace(string(value)),
			start: start, end: pos,
		})
	}
	for i := range h.fields {
		h.fields[i].value = strings.TrimSpace(h.fields[i].value)
	}
	return h
}

// Raw returns each field as received, with its line ends.
func (h *Header) Raw() (names, fields []string) {
	for _, f := range h.fields {
		names = append(names, f.name)
		raw := string(h.src[f.start:f.end])
		if !strings.HasSuffix(raw, "\n") { // a message that ends in its header
			raw += "\r\n"
		}
		fields = append(fields, raw)
	}
	return names, fields
}

// Values returns the raw (unfolded, not decoded) values of the named
// fields, in order; the name is matched case-insensitively.
func (h *Header) Values(name string) []string {
	var out []string
	for _, f := range h.fields {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value)
		}
	}
	return out
}

// Get returns the first value of the named field, or "".
func (h *Header) Get(name string) string {
	for _, f := range h.fields {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

// Decoded is Values with RFC 2047 encoded words decoded.
func (h *Header) Decoded(name string) []string {
	vs := h.Values(name)
	for i, v := range vs {
		vs[i] = message.DecodeWords(v)
	}
	return vs
}

// Addresses returns the addr-specs of the named address fields, lower-cased.
func (h *Header) Addresses(names ...string) []string {
	var out []string
	for _, n := range names {
		for _, v := range h.Values(n) {
			for _, a := range message.ParseAddressList(v) {
				if a.Kind == message.AddressMailbox && a.Mailbox != "" && a.Host != "" {
					out = append(out, strings.ToLower(a.Mailbox+"@"+a.Host))
				}
			}
		}
	}
	return out
}

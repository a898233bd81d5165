package delivery

import (
	"bytes"
	"strings"

	"github.com/pochta-mail/pochta/internal/message"
)

// Header is a message's header section as a filter sees it: fields in
// order, unfolded. It is parsed from at most Deliverer.MaxHeader octets.
type Header struct {
	fields []headerField
}

type headerField struct {
	name  string // as written
	value string // unfolded, surrounding white space trimmed
}

// ParseHeader parses a header section (the blank line optional). Lines
// without a colon are skipped; continuation lines join the field above.
func ParseHeader(raw []byte) *Header {
	h := &Header{}
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break // the blank line ends the section
		}
		if line[0] == ' ' || line[0] == '\t' {
			if n := len(h.fields); n > 0 {
				h.fields[n-1].value += " " + strings.TrimSpace(string(line))
			}
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		h.fields = append(h.fields, headerField{
			name:  strings.TrimRight(string(name), " \t"),
			value: strings.TrimSpace(string(value)),
		})
	}
	for i := range h.fields {
		h.fields[i].value = strings.TrimSpace(h.fields[i].value)
	}
	return h
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

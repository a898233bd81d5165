package message

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// Section specifiers (RFC 9051 section 6.4.5), after the part numbers.
const (
	SpecNone         = ""
	SpecHeader       = "HEADER"
	SpecHeaderFields = "HEADER.FIELDS"
	SpecHeaderNot    = "HEADER.FIELDS.NOT"
	SpecText         = "TEXT"
	SpecMIME         = "MIME"
)

// Find returns the part a section's part numbers name (RFC 9051 section
// 6.4.5): parts of a multipart count from 1; a message that is not
// multipart has only part 1, its body; the numbers after a message/rfc822
// part address the embedded message's parts.
func (s *Summary) Find(path []int) (*Part, bool) {
	p, inMsg := s.Structure, true
	for _, n := range path {
		if !inMsg && p.Embedded != nil {
			p, inMsg = p.Embedded.Structure, true
		}
		switch {
		case p.IsMultipart():
			if n < 1 || n > len(p.Parts) {
				return nil, false
			}
			p = p.Parts[n-1]
		case inMsg && n == 1:
			// the body of a message that is not multipart
		default:
			return nil, false
		}
		inMsg = false
	}
	return p, true
}

// Range returns where a section's octets lie in the stored message:
// spec is one of the Spec constants. For HEADER.FIELDS and
// HEADER.FIELDS.NOT it is the header to filter (FilterHeader). ok is
// false for a part that does not exist, and for HEADER or TEXT of a part
// that is not a message.
func (s *Summary) Range(path []int, spec string) (off, n int64, ok bool) {
	root := s.Structure
	if len(path) == 0 {
		switch spec {
		case SpecNone:
			return 0, root.End, true
		case SpecHeader, SpecHeaderFields, SpecHeaderNot:
			return 0, root.BodyStart, true
		case SpecText:
			return root.BodyStart, root.Size(), true
		}
		return 0, 0, false
	}
	p, found := s.Find(path)
	if !found {
		return 0, 0, false
	}
	switch spec {
	case SpecNone:
		return p.BodyStart, p.Size(), true
	case SpecMIME:
		return p.HeaderStart, p.BodyStart - p.HeaderStart, true
	}
	if p.Embedded == nil {
		return 0, 0, false
	}
	e := p.Embedded.Structure
	switch spec {
	case SpecHeader, SpecHeaderFields, SpecHeaderNot:
		return e.HeaderStart, e.BodyStart - e.HeaderStart, true
	case SpecText:
		return e.BodyStart, e.Size(), true
	}
	return 0, 0, false
}

// FilterHeader copies to w the fields of the header read from r whose
// names are among fields (not false) or are not (not true), compared
// case-insensitively, with their continuation lines, then the blank line
// ending the header if r has one (RFC 9051 section 6.4.5). It reads the
// header in bounded pieces, so its memory does not grow with the header.
func FilterHeader(w io.Writer, r io.Reader, fields []string, not bool) (int64, error) {
	br := bufio.NewReaderSize(r, 4096)
	var written int64
	keep, lineStart := false, true
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if lineStart {
				switch {
				case bytes.Equal(chunk, []byte("\r\n")) || bytes.Equal(chunk, []byte("\n")):
					keep = true // the blank line ending the header
				case chunk[0] == ' ' || chunk[0] == '\t':
					// a continuation: keep follows its field
				default:
					name, _, hasColon := bytes.Cut(chunk, []byte(":"))
					keep = hasColon && fieldListed(fields, bytes.TrimRight(name, " \t")) != not
				}
			}
			if keep {
				n, werr := w.Write(chunk)
				written += int64(n)
				if werr != nil {
					return written, werr
				}
			}
			lineStart = chunk[len(chunk)-1] == '\n'
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			return written, nil
		}
		if err != nil {
			return written, err
		}
	}
}

func fieldListed(fields []string, name []byte) bool {
	for _, f := range fields {
		if len(f) == len(name) && strings.EqualFold(f, string(name)) {
			return true
		}
	}
	return false
}

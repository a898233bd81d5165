package sieve

import (
	"bytes"
	"io"
	"strings"

	"golang.org/x/text/encoding/htmlindex"

	"github.com/pochta-mail/pochta/internal/message"
)

// The body test (RFC 5173):
//
//	body [COMPARATOR] [MATCH-TYPE] [BODY-TRANSFORM] <key-list>
//
// with the transforms :raw (the body as sent, after the header's blank
// line), :content <types> (the MIME parts of those types, transfer
// encoding and charset undone, as UTF-8) and :text (the default: text/*
// parts, decoded). The interpreter reads at most Limits.MaxBody octets of
// the message; what lies beyond is not searched. Deliberate narrowing of
// RFC 5173 5.2: for :content, multipart containers' prologue and epilogue
// are not tested, and message/rfc822 parts are descended into (their own
// parts are tested, not the embedded header).

// RawMessage is a Message whose text the body test can read.
type RawMessage interface {
	Message
	// Raw returns the start of the message as received (header and
	// body), at most max octets.
	Raw(max int) ([]byte, error)
}

type bodyTransform uint8

const (
	btText bodyTransform = iota
	btRaw
	btContent
)

type bodyTest struct {
	transform bodyTransform
	types     []string // :content
	m         *matcher
}

var bodyTags = map[string]tagSpec{"raw": {group: "transform"}, "text": {group: "transform"},
	"content": {group: "transform", takes: takesStrings}}

func (c *compiler) bodyTest(t *Test) (test, error) {
	if err := c.need("body", t.Pos, "body"); err != nil {
		return nil, err
	}
	a, err := c.split(t.Name, t.Pos, t.Args, merge(matchTags, bodyTags), 1)
	if err != nil {
		return nil, err
	}
	keys, err := a.strings(0)
	if err != nil {
		return nil, err
	}
	m, err := c.matcher(a, keys)
	if err != nil {
		return nil, err
	}
	bt := &bodyTest{m: m}
	switch {
	case a.has("raw"):
		bt.transform = btRaw
	case a.has("content"):
		bt.transform, bt.types = btContent, a.tags["content"].Strs
		for _, ty := range bt.types {
			// RFC 5173 5.2: a type/subtype with a missing part is an
			// error; "" (all parts) and a type alone are fine.
			if typ, sub, ok := strings.Cut(ty, "/"); ok && (typ == "" || sub == "") && !c.dynamic(ty) {
				return nil, errAt(a.tags["content"].Pos, "body: bad content type %q", ty)
			}
		}
	}
	return bt, nil
}

func (t *bodyTest) eval(r *run) (bool, error) {
	types := []string{"text"}
	switch t.transform {
	case btRaw:
		types = nil
	case btContent:
		types = r.xs(t.types)
	}
	texts, err := r.bodyTexts(t.transform == btRaw, types)
	if err != nil {
		return false, err
	}
	return t.m.matchAll(r, texts)
}

// bodyTexts returns the body as the transform sees it: one string for
// :raw, one per selected part otherwise. The message is read once per
// run.
func (r *run) bodyTexts(raw bool, types []string) ([]string, error) {
	if !r.rawRead {
		r.rawRead = true
		rm, ok := r.in.Msg.(RawMessage)
		if !ok {
			return nil, nil // no body to test: nothing matches
		}
		b, err := rm.Raw(r.lim.MaxBody)
		if err != nil {
			return nil, err
		}
		if err := r.charge(int64(len(b))); err != nil {
			return nil, err
		}
		r.raw = b
	}
	if r.raw == nil {
		return nil, nil
	}
	if raw {
		return []string{string(rawBody(r.raw))}, nil
	}
	if r.parts == nil {
		s, err := message.Summarize(bytes.NewReader(r.raw))
		if err != nil {
			return nil, err
		}
		r.parts = []*message.Part{}
		leafParts(s.Structure, &r.parts, 0)
	}
	var out []string
	budget := 4 * r.lim.MaxBody // decoded text: charsets may grow it
	for _, p := range r.parts {
		if !typeSelected(p, types) {
			continue
		}
		text := decodePart(r.raw, p, budget)
		budget -= len(text)
		if err := r.charge(int64(len(text))); err != nil {
			return nil, err
		}
		out = append(out, text)
		if budget <= 0 {
			break
		}
	}
	return out, nil
}

// rawBody is what follows the header section (empty when there is no
// blank line).
func rawBody(msg []byte) []byte {
	for i := 0; i < len(msg); {
		j := bytes.IndexByte(msg[i:], '\n')
		if j < 0 {
			return nil
		}
		line := bytes.TrimRight(msg[i:i+j], "\r")
		i += j + 1
		if len(line) == 0 {
			return msg[i:]
		}
	}
	return nil
}

// maxPartDepth bounds the walk into nested multiparts and messages.
const maxPartDepth = 32

// leafParts collects the parts that hold content, in order: the leaves of
// multiparts and of embedded messages.
func leafParts(p *message.Part, out *[]*message.Part, depth int) {
	if p == nil || depth > maxPartDepth {
		return
	}
	switch {
	case p.IsMultipart():
		for _, c := range p.Parts {
			leafParts(c, out, depth+1)
		}
	case p.Embedded != nil:
		leafParts(p.Embedded.Structure, out, depth+1)
	default:
		*out = append(*out, p)
	}
}

// typeSelected reports whether a part's type is one of types: "" is any
// type, "text" any text subtype, "text/plain" that one (RFC 5173 5.2).
func typeSelected(p *message.Part, types []string) bool {
	for _, ty := range types {
		typ, sub, hasSub := strings.Cut(foldASCII(ty), "/")
		if ty == "" || typ == p.Type && (!hasSub || sub == p.Subtype) {
			return true
		}
	}
	return false
}

// decodePart returns a part's content with its transfer encoding undone
// and, for text, its charset converted to UTF-8 (unknown charsets are
// taken as they are), at most max octets.
func decodePart(msg []byte, p *message.Part, max int) string {
	start, end := min(p.BodyStart, int64(len(msg))), min(p.End, int64(len(msg)))
	if start < 0 || end < start {
		return ""
	}
	var rd io.Reader = bytes.NewReader(msg[start:end])
	if dec, ok := message.NewDecoder(p.Encoding, rd); ok {
		rd = dec
	}
	if cs := p.Param("charset"); p.Type == "text" && cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		if enc, err := htmlindex.Get(cs); err == nil {
			rd = enc.NewDecoder().Reader(rd)
		}
	}
	var b strings.Builder
	io.Copy(&b, io.LimitReader(rd, int64(max)))
	return b.String()
}

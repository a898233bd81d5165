package message

import (
	"encoding/binary"
	"errors"
	"sync"
	"time"
)

// The cache format: a compact binary encoding, byte-exact for header
// text that is not UTF-8 (JSON would replace it) and quick to decode, as
// a full-mailbox FETCH ENVELOPE decodes one summary per message.
//
//	cache    = magic version uvarint(end) string(wire) string(wire utf-8) summary
//	summary  = envelope part
//	envelope = date string(raw date) string(subject) 6*addrlist string(in-reply-to) string(message-id) string(references)
//	date     = 0 | 1 varint(unix seconds) varint(nanoseconds) varint(zone offset seconds)
//	addrlist = uvarint(count) *(byte(kind) string(name) string(mailbox) string(host))
//	part     = string(type) string(subtype) list(params) string(id) string(description)
//	           string(encoding) string(md5) varint(lines) string(disposition) list(disp params)
//	           list(language) string(location) uvarint(header start) uvarint(body start)
//	           uvarint(end) uvarint(count) *part (0 | 1 envelope part)
//	list     = uvarint(count) *string;  string = uvarint(length) octets
//
// Caches of version 1 (JSON, without offsets) start with "{" and are
// refused, so the message is summarized again.
const cacheMagic = 'S'

// Marshal encodes a summary for the store's cache. The root part's End
// (the message's size) and the rendered envelope come first, so that
// CachedWire finds them without decoding anything.
func (s *Summary) Marshal() []byte {
	b := []byte{cacheMagic, summaryVersion}
	b = binary.AppendUvarint(b, uint64(s.Structure.End))
	b = appendString(appendString(b, string(s.Wire[0])), string(s.Wire[1]))
	return appendSummary(b, s)
}

// CachedWire returns the rendered envelope of a cached summary
// (Summary.Wire, pointing into b) and the message size it was made for,
// which callers check as they check a whole summary's Structure.End.
// An error means the message must be summarized again.
func CachedWire(b []byte) (wire [2][]byte, end int64, err error) {
	d, end, err := cacheHeader(b)
	if err != nil {
		return wire, 0, err
	}
	wire = d.wire()
	if d.err != nil {
		return wire, 0, errBadCache
	}
	return wire, end, nil
}

// wire reads Summary.Wire: slices of the entry, nil where empty.
func (d *cacheDecoder) wire() (wire [2][]byte) {
	for i := range wire {
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.fail()
			return wire
		}
		if n > 0 {
			wire[i] = d.b[:n:n]
		}
		d.b = d.b[n:]
	}
	return wire
}

// cacheHeader checks a cache entry's magic and version and returns a
// decoder positioned at the rendered envelope, and the size.
func cacheHeader(b []byte) (cacheDecoder, int64, error) {
	if len(b) < 2 || b[0] != cacheMagic || b[1] != summaryVersion {
		return cacheDecoder{}, 0, ErrStaleSummary
	}
	d := cacheDecoder{b: b[2:]} // a value: FETCH ENVELOPE reads one per message
	end := int64(d.uvarint())
	if d.err != nil {
		return cacheDecoder{}, 0, errBadCache
	}
	return d, end, nil
}

func appendSummary(b []byte, s *Summary) []byte {
	b = appendEnvelope(b, s.Envelope)
	return appendPart(b, s.Structure)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, l ...string) []byte {
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

func appendList(b []byte, l []string) []byte {
	return appendStrings(binary.AppendUvarint(b, uint64(len(l))), l...)
}

func appendEnvelope(b []byte, e *Envelope) []byte {
	if e.Date.IsZero() {
		b = append(b, 0)
	} else {
		_, zone := e.Date.Zone()
		b = append(b, 1)
		b = binary.AppendVarint(b, e.Date.Unix())
		b = binary.AppendVarint(b, int64(e.Date.Nanosecond()))
		b = binary.AppendVarint(b, int64(zone))
	}
	b = appendStrings(b, e.RawDate, e.Subject)
	for _, l := range [][]ListedAddress{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, a := range l {
			b = appendStrings(append(b, byte(a.Kind)), a.Name, a.Mailbox, a.Host)
		}
	}
	return appendStrings(b, e.InReplyTo, e.MessageID, e.References)
}

func appendPart(b []byte, p *Part) []byte {
	b = appendList(appendStrings(b, p.Type, p.Subtype), p.Params)
	b = binary.AppendVarint(appendStrings(b, p.ID, p.Description, p.Encoding, p.MD5), p.Lines)
	b = appendList(appendString(b, p.Disposition), p.DispParams)
	b = appendList(b, p.Language)
	b = appendString(b, p.Location)
	b = binary.AppendUvarint(b, uint64(p.HeaderStart))
	b = binary.AppendUvarint(b, uint64(p.BodyStart))
	b = binary.AppendUvarint(b, uint64(p.End))
	b = binary.AppendUvarint(b, uint64(len(p.Parts)))
	for _, c := range p.Parts {
		b = appendPart(b, c)
	}
	if p.Embedded == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	return appendSummary(b, p.Embedded)
}

// ErrStaleSummary is a cache entry of another format: summarize again.
var ErrStaleSummary = errors.New("message: summary cache of an older format")

var errBadCache = errors.New("message: corrupt summary cache")

// UnmarshalSummary decodes a cached summary; an error means the cache
// entry is unusable and the message must be summarized again.
func UnmarshalSummary(b []byte) (*Summary, error) {
	d, end, err := cacheHeader(b)
	if err != nil {
		return nil, err
	}
	wire := d.wire()
	s := d.summary(0)
	if d.err != nil || len(d.b) != 0 || s.Structure.End != end {
		return nil, errBadCache
	}
	s.Wire = wire
	return s, nil
}

// UnmarshalEnvelope decodes only the envelope of a cached summary (it
// comes first), for FETCH ENVELOPE, SORT and THREAD, which need nothing
// else. It also returns the end offset of the message's structure (the
// message's size, which callers check as they check a whole summary's
// Structure.End), read without decoding the rest. An error means the
// message must be summarized again.
func UnmarshalEnvelope(b []byte) (e *Envelope, end int64, err error) {
	d, end, err := cacheHeader(b)
	if err != nil {
		return nil, 0, err
	}
	d.skip(2) // the rendered envelope
	e = d.envelope()
	if d.err != nil {
		return nil, 0, errBadCache
	}
	return e, end, nil
}

type cacheDecoder struct {
	b   []byte
	err error
}

func (d *cacheDecoder) fail() {
	d.err, d.b = errBadCache, nil
}

func (d *cacheDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// varint undoes binary.AppendVarint's zig-zag encoding.
func (d *cacheDecoder) varint() int64 {
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (d *cacheDecoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *cacheDecoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	b := d.b[:n]
	d.b = d.b[n:]
	if s, ok := common(b); ok {
		return s
	}
	return string(b)
}

// common returns the interned copy of the strings most summaries repeat
// (media types, encodings, parameter names), so decoding a cache entry
// does not allocate them again and again.
func common(b []byte) (string, bool) {
	if len(b) > 16 {
		return "", false
	}
	switch string(b) { // compared without allocating
	case "":
		return "", true
	case "text":
		return "text", true
	case "plain":
		return "plain", true
	case "html":
		return "html", true
	case "multipart":
		return "multipart", true
	case "mixed":
		return "mixed", true
	case "alternative":
		return "alternative", true
	case "related":
		return "related", true
	case "application":
		return "application", true
	case "octet-stream":
		return "octet-stream", true
	case "pdf":
		return "pdf", true
	case "image":
		return "image", true
	case "message":
		return "message", true
	case "rfc822":
		return "rfc822", true
	case "charset":
		return "charset", true
	case "us-ascii":
		return "us-ascii", true
	case "utf-8":
		return "utf-8", true
	case "UTF-8":
		return "UTF-8", true
	case "iso-8859-1":
		return "iso-8859-1", true
	case "boundary":
		return "boundary", true
	case "name":
		return "name", true
	case "filename":
		return "filename", true
	case "format":
		return "format", true
	case "flowed":
		return "flowed", true
	case "7bit":
		return "7bit", true
	case "8bit":
		return "8bit", true
	case "base64":
		return "base64", true
	case "quoted-printable":
		return "quoted-printable", true
	case "attachment":
		return "attachment", true
	case "inline":
		return "inline", true
	}
	return "", false
}

// count reads a list length, each element taking at least min octets.
func (d *cacheDecoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *cacheDecoder) list() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.string()
	}
	return l
}

func (d *cacheDecoder) summary(depth int) *Summary {
	return &Summary{Version: summaryVersion, Envelope: d.envelope(), Structure: d.part(depth)}
}

func (d *cacheDecoder) envelope() *Envelope {
	e := &Envelope{}
	if d.byte() == 1 {
		sec, nsec, zone := d.varint(), d.varint(), d.varint()
		e.Date = time.Unix(sec, nsec).In(fixedZone(int(zone)))
	}
	e.RawDate, e.Subject = d.string(), d.string()
	for _, l := range []*[]ListedAddress{&e.From, &e.Sender, &e.ReplyTo, &e.To, &e.Cc, &e.Bcc} {
		n := d.count(4)
		if n == 0 {
			continue
		}
		*l = make([]ListedAddress, n)
		for i := range *l {
			(*l)[i] = ListedAddress{Kind: AddressKind(d.byte()), Address: Address{Name: d.string(), Mailbox: d.string(), Host: d.string()}}
		}
	}
	e.InReplyTo, e.MessageID, e.References = d.string(), d.string(), d.string()
	return e
}

// skip passes over n strings.
func (d *cacheDecoder) skip(n int) {
	for range n {
		if l := d.uvarint(); l > uint64(len(d.b)) {
			d.fail()
		} else {
			d.b = d.b[l:]
		}
	}
}

func (d *cacheDecoder) part(depth int) *Part {
	if depth > maxDepth*2 {
		d.fail()
		return &Part{}
	}
	p := &Part{Type: d.string(), Subtype: d.string(), Params: d.list(), ID: d.string(), Description: d.string(),
		Encoding: d.string(), MD5: d.string(), Lines: d.varint(), Disposition: d.string(), DispParams: d.list(),
		Language: d.list(), Location: d.string()}
	p.HeaderStart, p.BodyStart, p.End = int64(d.uvarint()), int64(d.uvarint()), int64(d.uvarint())
	if p.HeaderStart < 0 || p.BodyStart < p.HeaderStart || p.End < p.BodyStart {
		d.fail()
	}
	if n := d.count(17); n > 0 {
		p.Parts = make([]*Part, n)
		for i := range p.Parts {
			p.Parts[i] = d.part(depth + 1)
		}
	}
	if d.byte() == 1 {
		p.Embedded = d.summary(depth + 1)
	}
	if d.err != nil {
		return &Part{}
	}
	return p
}

// zones shares the fixed-offset locations of decoded dates: a handful of
// offsets in practice, at most 2,161 (whole minutes within 18 hours).
var zones sync.Map // int -> *time.Location

func fixedZone(offset int) *time.Location {
	if offset < -18*3600 || offset > 18*3600 || offset%60 != 0 {
		return time.FixedZone("", offset)
	}
	if l, ok := zones.Load(offset); ok {
		return l.(*time.Location)
	}
	l, _ := zones.LoadOrStore(offset, time.FixedZone("", offset))
	return l.(*time.Location)
}

package message

import (
	"io"
	"time"
)

// Summary is what an IMAP server needs to answer ENVELOPE, BODYSTRUCTURE
// and body sections without parsing the message again: the envelope, the
// MIME structure, and the byte offsets of every part in the stored body.
// It is computed once (Summarize) and cached by the store as opaque bytes
// (Marshal), so a full-mailbox FETCH of envelopes reads no message file
// and BODY[1.2] reads only that part's bytes.
type Summary struct {
	// Version is the cache format; UnmarshalSummary refuses other
	// versions so that older caches (without offsets) are re-parsed.
	Version   int
	Envelope  *Envelope
	Structure *Part
	// Wire is the envelope as the IMAP server writes it (ENVELOPE's
	// value), rendered when the summary is made, so that a FETCH
	// ENVELOPE copies it instead of decoding and formatting the
	// envelope for every message (Dovecot keeps its cache file for the
	// same reason): Wire[0] for a client without UTF-8, Wire[1] for one
	// with it, nil when that is the same as Wire[0]. Opaque octets here,
	// kept by Marshal for a top-level summary (CachedWire reads them
	// back); nil when the caller renders none.
	Wire [2][]byte
}

// summaryVersion 2 added part offsets, group markers and raw envelope
// strings, in a binary encoding (cache.go); version 1 caches were JSON.
// Version 3 keeps the subject as sent and counts lines as line ends;
// version 4 keeps References; version 5 starts with the message's size
// and the rendered envelope (Summary.Wire).
const summaryVersion = 5

// DecodeWords decodes the RFC 2047 encoded words of a header value;
// words in unknown charsets and malformed ones stay as sent.
func DecodeWords(v string) string { return decodeWords(v) }

// Envelope is the RFC 9051 section 7.5.2 ENVELOPE of a message. Strings
// are the fields as sent, unfolded (DecodeWords decodes the subject for
// a client that takes UTF-8), except display names, which the address
// parser decodes.
type Envelope struct {
	Date      time.Time // parsed RawDate, zero when unparsable
	RawDate   string    // the Date field as sent
	Subject   string
	From      []ListedAddress // groups as start and end markers
	Sender    []ListedAddress
	ReplyTo   []ListedAddress
	To        []ListedAddress
	Cc        []ListedAddress
	Bcc       []ListedAddress
	InReplyTo string
	MessageID string
	// References is the References field (not part of ENVELOPE: for
	// THREAD=REFERENCES, RFC 5256).
	References string
}

// Address is one mailbox of an address list.
type Address struct {
	Name    string
	Mailbox string
	Host    string // "" when the address had no "@"
}

// Part is one node of the MIME structure: the whole message's body
// (Summary.Structure), a part of a multipart, or an embedded message's body.
type Part struct {
	Type    string // lower-case, "text"
	Subtype string // lower-case, "plain"
	// Params are the Content-Type parameters as name, value pairs in the
	// order sent, names lower-case.
	Params      []string
	ID          string
	Description string
	Encoding    string // lower-case, "7bit" by default
	MD5         string
	Lines       int64 // text and message parts
	Disposition string
	DispParams  []string // name, value pairs
	Language    []string
	Location    string
	// Offsets in the stored message: the part's MIME header is
	// [HeaderStart, BodyStart) with its blank line, its body
	// [BodyStart, End), without the line end before the next delimiter
	// (RFC 2046 section 5.1.1).
	HeaderStart int64
	BodyStart   int64
	End         int64
	// Parts are a multipart's children.
	Parts []*Part
	// Embedded describes the message inside a message/rfc822 or
	// message/global part; its Structure's offsets are in the same
	// stored message.
	Embedded *Summary
}

// IsMultipart reports whether the part is a multipart container.
func (p *Part) IsMultipart() bool { return p.Type == "multipart" }

// Size is the octet count of the part's body, as BODYSTRUCTURE reports.
func (p *Part) Size() int64 { return p.End - p.BodyStart }

// Param returns a Content-Type parameter's value ("" when absent).
func (p *Part) Param(name string) string { return paramValue(p.Params, name) }

func (p *Part) isText() bool { return p.Type == "text" }

func (p *Part) isMessage() bool {
	return p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")
}

// Summarize parses a stored message (CRLF line endings). Malformed MIME
// (a truncated multipart, a bad header) is described as far as it parses;
// only a failure of r itself is an error. Time and memory are linear in
// the message's size whatever its nesting.
func Summarize(r io.Reader) (*Summary, error) {
	s, _, err := parse(r)
	return s, err
}

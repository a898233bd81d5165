package message

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Summary is what an IMAP server needs to answer ENVELOPE and
// BODYSTRUCTURE without reading the message again. It is computed once
// (Summarize) and cached by the store as opaque bytes (Marshal), so a
// full-mailbox FETCH of envelopes reads no message file.
type Summary struct {
	Envelope  *Envelope `json:"e"`
	Structure *Part     `json:"s"`
}

// Envelope is the RFC 9051 section 7.5.2 ENVELOPE of a message: parsed
// header fields, words decoded.
type Envelope struct {
	Date      time.Time `json:"d,omitzero"`
	Subject   string    `json:"s,omitempty"`
	From      []Address `json:"f,omitempty"`
	Sender    []Address `json:"se,omitempty"`
	ReplyTo   []Address `json:"r,omitempty"`
	To        []Address `json:"t,omitempty"`
	Cc        []Address `json:"c,omitempty"`
	Bcc       []Address `json:"b,omitempty"`
	InReplyTo []string  `json:"i,omitempty"`
	MessageID string    `json:"m,omitempty"`
}

// Address is one mailbox of an address list.
type Address struct {
	Name    string `json:"n,omitempty"`
	Mailbox string `json:"m"`
	Host    string `json:"h"`
}

// Part is one node of the MIME structure.
type Part struct {
	Type        string            `json:"t"` // lower-case, "text"
	Subtype     string            `json:"s"` // lower-case, "plain"
	Params      map[string]string `json:"p,omitempty"`
	ID          string            `json:"id,omitempty"`
	Description string            `json:"de,omitempty"`
	Encoding    string            `json:"en,omitempty"`
	Size        int64             `json:"z"`           // octets of the part's body
	Lines       int64             `json:"l,omitempty"` // text and message/rfc822 parts
	Disposition string            `json:"di,omitempty"`
	DispParams  map[string]string `json:"dp,omitempty"`
	Language    []string          `json:"la,omitempty"`
	Location    string            `json:"lo,omitempty"`
	// Parts are a multipart's children.
	Parts []*Part `json:"c,omitempty"`
	// Embedded describes the message inside a message/rfc822 part.
	Embedded *Summary `json:"m,omitempty"`
}

// IsMultipart reports whether the part is a multipart container.
func (p *Part) IsMultipart() bool { return p.Type == "multipart" }

// maxDepth bounds MIME nesting: deeper parts are described as opaque, so
// a hostile message cannot make parsing recurse without end.
const maxDepth = 32

// Summarize parses a message (CRLF line endings, as stored).
// Malformed MIME (a truncated multipart, a bad header) is described as
// far as it parses; only a failure of r itself is an error.
func Summarize(r io.Reader) (*Summary, error) {
	rr := &readRecorder{r: r}
	br := bufio.NewReader(rr)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		h = textproto.Header{}
	}
	s := summarize(h, br, 0)
	if rr.err != nil {
		return nil, rr.err
	}
	return s, nil
}

// readRecorder remembers the underlying reader's error, so parse errors
// (which only shorten the description) can be told from I/O errors.
type readRecorder struct {
	r   io.Reader
	err error
}

func (rr *readRecorder) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if err != nil && err != io.EOF {
		rr.err = err
	}
	return n, err
}

func summarize(h textproto.Header, body io.Reader, depth int) *Summary {
	return &Summary{Envelope: envelope(h), Structure: structure(h, body, depth)}
}

func envelope(h textproto.Header) *Envelope {
	mh := mail.Header{Header: gomessage.Header{Header: h}}
	date, _ := mh.Date()
	// The subject stays as sent (encoded words and all), as Dovecot
	// sends it: clients decode it themselves, and raw 8-bit text never
	// reaches a client that did not enable UTF-8.
	subject := unfold(mh.Get("Subject"))
	inReplyTo, _ := mh.MsgIDList("In-Reply-To")
	messageID, _ := mh.MessageID()
	if messageID != "" {
		messageID = "<" + messageID + ">"
	}
	for i, id := range inReplyTo {
		inReplyTo[i] = "<" + id + ">"
	}
	return &Envelope{
		Date: date, Subject: subject,
		From: addresses(mh, "From"), Sender: addresses(mh, "Sender"), ReplyTo: addresses(mh, "Reply-To"),
		To: addresses(mh, "To"), Cc: addresses(mh, "Cc"), Bcc: addresses(mh, "Bcc"),
		InReplyTo: inReplyTo, MessageID: messageID,
	}
}

// unfold joins a folded header value into one line.
func unfold(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return v
	}
	return strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
}

func addresses(mh mail.Header, key string) []Address {
	list, _ := mh.AddressList(key)
	var out []Address
	for _, a := range list {
		mailbox, host, ok := strings.Cut(a.Address, "@")
		if !ok {
			continue
		}
		out = append(out, Address{Name: a.Name, Mailbox: mailbox, Host: host})
	}
	return out
}

// structure describes one part; body is positioned after its header.
func structure(raw textproto.Header, body io.Reader, depth int) *Part {
	h := gomessage.Header{Header: raw}
	mediaType, params, err := h.ContentType()
	if err != nil || mediaType == "" {
		// RFC 2045 section 5.2: the default is text/plain; us-ascii.
		mediaType, params = "text/plain", map[string]string{"charset": "us-ascii"}
	}
	typ, sub, _ := strings.Cut(strings.ToLower(mediaType), "/")
	if typ == "text" && params["charset"] == "" {
		if params == nil {
			params = map[string]string{}
		}
		params["charset"] = "us-ascii"
	}
	p := &Part{Type: typ, Subtype: sub, Params: params,
		ID: h.Get("Content-Id"), Description: h.Get("Content-Description"),
		Encoding: strings.ToLower(h.Get("Content-Transfer-Encoding")), Location: h.Get("Content-Location")}
	if disp, dp, err := h.ContentDisposition(); err == nil && disp != "" {
		p.Disposition, p.DispParams = strings.ToLower(disp), dp
		if len(dp) == 0 {
			p.DispParams = nil
		}
	}
	if len(p.Params) == 0 {
		p.Params = nil
	}
	if lang := h.Get("Content-Language"); lang != "" {
		for _, l := range strings.Split(lang, ",") {
			p.Language = append(p.Language, strings.TrimSpace(l))
		}
	}
	if typ == "multipart" && params["boundary"] != "" && depth < maxDepth {
		mr := textproto.NewMultipartReader(body, params["boundary"])
		for {
			child, err := mr.NextPart()
			if err != nil {
				break // io.EOF, or a truncated multipart: keep what was read
			}
			p.Parts = append(p.Parts, structure(child.Header, child, depth+1))
		}
		_, _ = io.Copy(io.Discard, body)
		return p
	}
	if p.Encoding == "" {
		p.Encoding = "7bit"
	}
	if typ == "multipart" {
		// Without a boundary (or too deep) it cannot be split: describe
		// it as opaque data rather than as an empty container.
		p.Type, p.Subtype = "application", "octet-stream"
	}
	embedded := typ == "message" && (sub == "rfc822" || sub == "global")
	if typ != "text" && !embedded {
		// Only the size is needed: count without keeping the data.
		p.Size, _ = io.Copy(io.Discard, body)
		return p
	}
	var buf bytes.Buffer
	p.Size, _ = io.Copy(&buf, body)
	p.Lines = countLines(buf.Bytes())
	if embedded && depth < maxDepth {
		br := bufio.NewReader(&buf)
		eh, err := textproto.ReadHeader(br)
		if err != nil {
			eh = textproto.Header{}
		}
		p.Embedded = summarize(eh, br, depth+1)
	}
	return p
}

// countLines counts text lines, the last one even without a line end
// (inside a multipart the CRLF before the boundary belongs to the
// boundary), as Dovecot does.
func countLines(b []byte) int64 {
	n := int64(bytes.Count(b, []byte("\n")))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// Marshal encodes a summary for the store's cache.
func (s *Summary) Marshal() []byte {
	b, _ := json.Marshal(s) // plain data: cannot fail
	return b
}

// UnmarshalSummary decodes a cached summary; an error means the cache
// entry is unusable and the message must be summarized again.
func UnmarshalSummary(b []byte) (*Summary, error) {
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s.Envelope == nil || s.Structure == nil {
		return nil, io.ErrUnexpectedEOF
	}
	return &s, nil
}

package imap

import (
	"bytes"
	"mime"
	"unicode/utf8"

	"github.com/pochta-mail/pochta/internal/imap/wire"
	"github.com/pochta-mail/pochta/internal/message"
)

// ENVELOPE and BODY/BODYSTRUCTURE (RFC 9051 sections 7.5.2, 9 "body"),
// written from a message.Summary.

// text writes a display name, which the address parser decoded: as UTF-8
// to a client that may receive it, else encoded again (RFC 2047) so that
// a client without UTF-8 gets 7-bit text it knows how to decode. Text
// that is not UTF-8 goes out as sent.
func text(w *wire.Writer, v string) {
	if !w.UTF8 && !isASCII(v) && utf8.ValidString(v) {
		v = mime.QEncoding.Encode("utf-8", v)
	}
	w.String(v)
}

func isASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return false
		}
	}
	return true
}

// nstring writes NIL for "" and the string otherwise.
func (s *session) nstring(v string) { s.w.NString(v, v == "") }

// writeEnvelope writes an envelope: the one rendered when its summary was
// made (message.Summary.Wire) when there is one for this client, else
// formatted now.
func (s *session) writeEnvelope(sum *message.Summary) {
	wire := sum.Wire[0]
	if s.w.UTF8 && sum.Wire[1] != nil {
		wire = sum.Wire[1]
	}
	if wire != nil {
		s.w.Bytes(wire)
		return
	}
	writeEnvelope(s.w, sum.Envelope)
}

// renderEnvelope returns message.Summary.Wire for an envelope: how
// writeEnvelope formats it for a client without UTF-8 and, if that
// differs, for one with it.
func renderEnvelope(e *message.Envelope) [2][]byte {
	var out [2][]byte
	for i, utf := range []bool{false, true} {
		var b bytes.Buffer
		w := wire.NewWriter(&b)
		w.UTF8 = utf
		writeEnvelope(w, e)
		w.Release()
		out[i] = b.Bytes()
	}
	if bytes.Equal(out[0], out[1]) {
		out[1] = nil
	}
	return out
}

func writeEnvelope(w *wire.Writer, e *message.Envelope) {
	nstring := func(v string) { w.NString(v, v == "") }
	w.Byte('(')
	nstring(e.RawDate)
	w.SP()
	// The subject as sent, as other servers send it (clients decode
	// it), decoded for a client that takes UTF-8.
	switch {
	case e.Subject == "":
		w.Raw("NIL")
	case w.UTF8:
		w.String(message.DecodeWords(e.Subject))
	default:
		w.String(e.Subject)
	}
	// RFC 9051 section 7.5.2: an absent or empty Sender or Reply-To is
	// the From value.
	sender, replyTo := e.Sender, e.ReplyTo
	if len(sender) == 0 {
		sender = e.From
	}
	if len(replyTo) == 0 {
		replyTo = e.From
	}
	for _, l := range [][]message.ListedAddress{e.From, sender, replyTo, e.To, e.Cc, e.Bcc} {
		w.SP()
		writeAddresses(w, l)
	}
	w.SP()
	nstring(e.InReplyTo)
	w.SP()
	nstring(e.MessageID)
	w.Byte(')')
}

// writeAddresses writes an address list; groups become the group markers
// of RFC 9051 section 7.5.2: (NIL NIL "name" NIL) starts one,
// (NIL NIL NIL NIL) ends it. A mailbox never has a NIL host (that would
// read as a marker): missing parts are written as placeholders.
func writeAddresses(w *wire.Writer, l []message.ListedAddress) {
	if len(l) == 0 {
		w.Raw("NIL")
		return
	}
	w.Byte('(')
	for _, a := range l {
		switch a.Kind {
		case message.AddressGroupStart:
			w.Raw("(NIL NIL ")
			if a.Name == "" {
				w.Raw(`""`)
			} else {
				text(w, a.Name)
			}
			w.Raw(" NIL)")
		case message.AddressGroupEnd:
			w.Raw("(NIL NIL NIL NIL)")
		default:
			w.Byte('(')
			if a.Name == "" {
				w.Raw("NIL")
			} else {
				text(w, a.Name)
			}
			w.Raw(" NIL ")
			mailbox, host := a.Mailbox, a.Host
			if mailbox == "" {
				mailbox = missingMailbox
			}
			if host == "" {
				host = missingDomain
			}
			w.String(mailbox)
			w.SP()
			w.String(host)
			w.Byte(')')
		}
	}
	w.Byte(')')
}

// Placeholders for the missing parts of a malformed address, as Dovecot
// writes them.
const (
	missingMailbox = "MISSING_MAILBOX"
	missingDomain  = "MISSING_DOMAIN"
)

// writeBodyStructure writes BODYSTRUCTURE (ext true) or BODY.
func (s *session) writeBodyStructure(p *message.Part, ext bool) {
	w := s.w
	w.Byte('(')
	if p.IsMultipart() {
		for _, c := range p.Parts {
			s.writeBodyStructure(c, ext)
		}
		w.SP()
		w.String(p.Subtype)
	} else {
		s.writeSinglePart(p, ext)
	}
	if ext {
		// body-ext-mpart starts with the parameters, body-ext-1part
		// with the MD5; both go on with disposition, language, location.
		w.SP()
		if p.IsMultipart() {
			s.writeParams(p.Params)
		} else {
			s.nstring(p.MD5)
		}
		w.SP()
		s.writeExtTail(p)
	}
	w.Byte(')')
}

// writeSinglePart writes body-type-basic, body-type-msg or body-type-text.
func (s *session) writeSinglePart(p *message.Part, ext bool) {
	w := s.w
	w.String(p.Type)
	w.SP()
	w.String(p.Subtype)
	w.SP()
	s.writeParams(p.Params)
	w.SP()
	s.nstring(p.ID)
	w.SP()
	s.nstring(p.Description)
	w.SP()
	w.String(p.Encoding)
	w.SP()
	w.Number(uint64(p.Size()))
	if p.Embedded != nil {
		w.SP()
		writeEnvelope(w, p.Embedded.Envelope)
		w.SP()
		s.writeBodyStructure(p.Embedded.Structure, ext)
	}
	if p.Embedded != nil || p.Type == "text" {
		w.SP()
		w.Number(uint64(p.Lines))
	}
}

// writeExtTail writes body-fld-dsp SP body-fld-lang SP body-fld-loc.
func (s *session) writeExtTail(p *message.Part) {
	w := s.w
	if p.Disposition == "" {
		w.Raw("NIL")
	} else {
		w.Byte('(')
		w.String(p.Disposition)
		w.SP()
		s.writeParams(p.DispParams)
		w.Byte(')')
	}
	w.SP()
	if len(p.Language) == 0 {
		w.Raw("NIL")
	} else {
		writeList(w, p.Language, w.String) // a list even of one, as Dovecot writes it
	}
	w.SP()
	s.nstring(p.Location)
}

// writeParams writes a body-fld-param: NIL or ("name" "value" ...).
func (s *session) writeParams(pairs []string) {
	w := s.w
	if len(pairs) < 2 {
		w.Raw("NIL")
		return
	}
	w.Byte('(')
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			w.SP()
		}
		w.String(pairs[i])
		w.SP()
		w.String(pairs[i+1])
	}
	w.Byte(')')
}

// writeList writes "(" items ")", space-separated, each with write.
func writeList(w *wire.Writer, items []string, write func(string)) {
	w.Byte('(')
	for i, it := range items {
		if i > 0 {
			w.SP()
		}
		write(it)
	}
	w.Byte(')')
}

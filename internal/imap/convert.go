package imap

import (
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/pochta-mail/pochta/internal/message"
)

// Conversions from internal/message's neutral summary to the library's
// types, at the edge where the wire needs them.

func imapEnvelope(e *message.Envelope) *goimap.Envelope {
	if e == nil {
		return nil
	}
	out := &goimap.Envelope{
		Date: e.Date, Subject: e.Subject,
		From: imapAddresses(e.From), Sender: imapAddresses(e.Sender), ReplyTo: imapAddresses(e.ReplyTo),
		To: imapAddresses(e.To), Cc: imapAddresses(e.Cc), Bcc: imapAddresses(e.Bcc),
		// The library writes the angle brackets itself.
		MessageID: strings.Trim(e.MessageID, "<>"),
	}
	for _, id := range e.InReplyTo {
		out.InReplyTo = append(out.InReplyTo, strings.Trim(id, "<>"))
	}
	return out
}

func imapAddresses(as []message.Address) []goimap.Address {
	if len(as) == 0 {
		return nil
	}
	out := make([]goimap.Address, len(as))
	for i, a := range as {
		out[i] = goimap.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
	}
	return out
}

func imapBodyStructure(p *message.Part) goimap.BodyStructure {
	if p.IsMultipart() {
		mp := &goimap.BodyStructureMultiPart{Subtype: p.Subtype,
			Extended: &goimap.BodyStructureMultiPartExt{Params: p.Params, Disposition: disposition(p),
				Language: p.Language, Location: p.Location}}
		for _, c := range p.Parts {
			mp.Children = append(mp.Children, imapBodyStructure(c))
		}
		if len(mp.Children) == 0 {
			// RFC 9051 requires at least one part; describe an empty
			// multipart as one empty text part.
			mp.Children = []goimap.BodyStructure{&goimap.BodyStructureSinglePart{Type: "text", Subtype: "plain",
				Encoding: "7bit", Text: &goimap.BodyStructureText{}, Extended: &goimap.BodyStructureSinglePartExt{}}}
		}
		return mp
	}
	sp := &goimap.BodyStructureSinglePart{Type: p.Type, Subtype: p.Subtype, Params: p.Params, ID: p.ID,
		Description: p.Description, Encoding: p.Encoding, Size: uint32(min(p.Size, 1<<32-1)),
		Extended: &goimap.BodyStructureSinglePartExt{Disposition: disposition(p), Language: p.Language,
			Location: p.Location}}
	if p.Type == "text" {
		sp.Text = &goimap.BodyStructureText{NumLines: p.Lines}
	}
	if p.Embedded != nil {
		sp.MessageRFC822 = &goimap.BodyStructureMessageRFC822{Envelope: imapEnvelope(p.Embedded.Envelope),
			BodyStructure: imapBodyStructure(p.Embedded.Structure), NumLines: p.Lines}
	}
	return sp
}

func disposition(p *message.Part) *goimap.BodyStructureDisposition {
	if p.Disposition == "" {
		return nil
	}
	return &goimap.BodyStructureDisposition{Value: p.Disposition, Params: p.DispParams}
}

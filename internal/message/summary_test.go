package message

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

const mixed = "From: \"Ann Example\" <ann@example.org>\r\n" +
	"To: bob@example.net, Carol <carol@example.com>\r\n" +
	"Subject: =?utf-8?q?caf=C3=A9?= and\r\n more\r\n" +
	"Date: Mon, 6 May 2024 07:08:09 +0200\r\n" +
	"Message-ID: <id1@example.org>\r\n" +
	"In-Reply-To: <id0@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"line one\r\nline two\r\n" +
	"--b1\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"Content-Disposition: attachment; filename=inner.eml\r\n" +
	"\r\n" +
	"Subject: inner\r\n" +
	"From: dan@example.org\r\n" +
	"\r\n" +
	"inner body\r\n" +
	"--b1\r\n" +
	"Content-Type: application/pdf; name=x.pdf\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAAA\r\n" +
	"--b1--\r\n"

func TestSummarize(t *testing.T) {
	s, err := Summarize(strings.NewReader(mixed))
	if err != nil {
		t.Fatal(err)
	}
	e := s.Envelope
	if e.Subject != "=?utf-8?q?caf=C3=A9?= and more" || DecodeWords(e.Subject) != "café and more" {
		t.Errorf("subject %q: want the raw, unfolded value", e.Subject)
	}
	if e.RawDate != "Mon, 6 May 2024 07:08:09 +0200" {
		t.Errorf("raw date %q", e.RawDate)
	}
	if !e.Date.Equal(time.Date(2024, 5, 6, 5, 8, 9, 0, time.UTC)) {
		t.Errorf("date %v", e.Date)
	}
	if !reflect.DeepEqual(e.From, []ListedAddress{{Address: Address{Name: "Ann Example", Mailbox: "ann", Host: "example.org"}}}) ||
		len(e.To) != 2 || e.To[1].Name != "Carol" || e.Sender != nil {
		t.Errorf("addresses from %+v to %+v", e.From, e.To)
	}
	if e.MessageID != "<id1@example.org>" || e.InReplyTo != "<id0@example.org>" {
		t.Errorf("ids %q %q", e.MessageID, e.InReplyTo)
	}
	root := s.Structure
	if !root.IsMultipart() || root.Subtype != "mixed" || len(root.Parts) != 3 {
		t.Fatalf("root %+v", root)
	}
	text, msg, pdf := root.Parts[0], root.Parts[1], root.Parts[2]
	if text.Type != "text" || text.Param("charset") != "utf-8" || text.Lines != 1 || text.Size() != int64(len("line one\r\nline two")) {
		t.Errorf("text part %+v", text)
	}
	if msg.Embedded == nil || msg.Embedded.Envelope.Subject != "inner" || msg.Disposition != "attachment" ||
		paramValue(msg.DispParams, "filename") != "inner.eml" || msg.Embedded.Structure.Type != "text" {
		t.Errorf("message part %+v", msg)
	}
	if pdf.Encoding != "base64" || pdf.Param("name") != "x.pdf" || pdf.Size() != 4 {
		t.Errorf("pdf part %+v", pdf)
	}
	back, err := UnmarshalSummary(s.Marshal())
	if err != nil || string(back.Marshal()) != string(s.Marshal()) || !back.Envelope.Date.Equal(e.Date) {
		t.Errorf("round trip: %v\n%s\n%s", err, back.Marshal(), s.Marshal())
	}
	if _, err := UnmarshalSummary([]byte("{")); err == nil {
		t.Errorf("UnmarshalSummary accepted garbage")
	}
}

func TestSummarizeDefaultsAndHostile(t *testing.T) {
	s, err := Summarize(strings.NewReader("Subject: plain\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Structure; p.Type != "text" || p.Subtype != "plain" || p.Param("charset") != "us-ascii" || p.Encoding != "7bit" {
		t.Errorf("default part %+v", p)
	}
	// Deep nesting stops at maxDepth instead of recursing without end.
	var b strings.Builder
	for i := range 200 {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + strconv.Itoa(i) + "\r\n\r\n--b" + strconv.Itoa(i) + "\r\n")
	}
	if _, err := Summarize(strings.NewReader(b.String())); err != nil {
		t.Errorf("deep nesting: %v", err)
	}
	for _, junk := range []string{"", "no header at all", "\r\n\r\n", "Content-Type: multipart/mixed\r\n\r\nno boundary"} {
		if _, err := Summarize(strings.NewReader(junk)); err != nil {
			t.Errorf("Summarize(%q): %v", junk, err)
		}
	}
}

package sieve

import (
	"strings"
	"testing"
)

const (
	plainMsg = "From: a@x.example\r\nSubject: plans\r\n\r\nThe Project Schedule is late.\r\nMAKE MONEY FAST\r\n"
	mimeMsg  = "From: a@x.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"prologue missile\r\n--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Les coordonn=E9es du missile\r\n--b1\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"PGI+Y29vcmRpbmF0ZXM8L2I+\r\n--b1\r\nContent-Type: audio/mp3\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n" +
		"--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nembedded secret\r\n--b1--\r\nepilogue\r\n"
)

// RFC 5173: the examples of section 7 and the transforms of section 5.
func TestBody(t *testing.T) {
	runTranscripts(t, []transcript{
		{"7 project schedule", `require ["body", "fileinto"];
if body :text :contains "project schedule" { fileinto "project/schedule"; }`, &Input{Msg: headerMsg(plainMsg)}, "fileinto project/schedule"},
		{"7 secrets", `require ["body", "fileinto"];
if body :content "text" :contains ["missile", "coordinates"] { fileinto "secrets"; }
if body :content "audio/mp3" :contains "" { fileinto "jukebox"; }`, &Input{Msg: headerMsg(mimeMsg)}, "fileinto secrets; fileinto jukebox"},
		{"7 plain text has no mp3", `require ["body", "fileinto"];
if body :content "audio/mp3" :contains "" { fileinto "jukebox"; }`, &Input{Msg: headerMsg(plainMsg)}, "keep"},
		{"default transform is :text", `require "body";
if body :contains "money fast" { discard; }`, &Input{Msg: headerMsg(plainMsg)}, "discard"},
		{":raw sees the encoding", `require "body";
if body :raw :contains "=E9es" { discard; }`, &Input{Msg: headerMsg(mimeMsg)}, "discard"},
		{":raw not the header", `require "body";
if body :raw :contains "Subject" { discard; }`, &Input{Msg: headerMsg(plainMsg)}, "keep"},
		{":text decodes quoted-printable and charset", `require "body";
if body :text :contains "coordonnées" { discard; }`, &Input{Msg: headerMsg(mimeMsg)}, "discard"},
		{":content text/html decodes base64", `require "body";
if body :content "text/html" :contains "<b>coordinates" { discard; }`, &Input{Msg: headerMsg(mimeMsg)}, "discard"},
		{":content text/plain excludes html", `require "body";
if body :content "text/plain" :contains "<b>" { discard; }`, &Input{Msg: headerMsg(mimeMsg)}, "keep"},
		{"embedded message parts", `require "body";
if body :text :contains "embedded secret" { discard; }`, &Input{Msg: headerMsg(mimeMsg)}, "discard"},
		{"prologue is not text", `require "body";
if body :text :contains "prologue" { discard; }`, &Input{Msg: headerMsg(mimeMsg)}, "keep"},
		{":matches a whole part", `require ["body", "variables", "fileinto"];
if body :content "text/plain" :matches "Les * du *" { fileinto "${2}"; }`, &Input{Msg: headerMsg(mimeMsg)}, "fileinto missile"},
		{"no body", `require "body"; if body :contains "x" { discard; }`, &Input{Msg: newMsg(1)}, "keep"},
	})
	// Only MaxBody octets are read.
	p, err := Compile(`require "body"; if body :raw :contains "needle" { discard; }`, Limits{MaxBody: 100})
	if err != nil {
		t.Fatal(err)
	}
	msg := "Subject: x\r\n\r\n" + strings.Repeat("hay ", 50) + "needle\r\n"
	if as, err := p.Run(&Input{Msg: headerMsg(msg)}); err != nil || actionStrings(as) != "keep" {
		t.Errorf("past MaxBody: got %q, %v", actionStrings(as), err)
	}
	for _, c := range []struct{ script, want string }{
		{`if body :contains "x" {}`, `body needs require "body"`},
		{`require "body"; if body :raw :text "x" {}`, `conflicts`},
		{`require "body"; if body :content "text/" "x" {}`, `bad content type`},
		{`require "body"; if body :content "x" {}`, `takes 1 positional`},
	} {
		if _, err := Compile(c.script, Limits{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%q) = %v, want %q", c.script, err, c.want)
		}
	}
}

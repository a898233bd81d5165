package sieve

import (
	"strings"
	"testing"
)

// RFC 5293 (editheader): the examples of sections 4-6 and the rules on
// protected fields, indexes and what later tests see.
func TestEditheader(t *testing.T) {
	msg := func() *testMsg {
		return newMsg(1, "Received: from a by b; Sat, 30 Jun 2007 23:00:00 +0000", "From: boss@example.com",
			"X-Spam-Score: 3", "Subject: Hello", "X-Spam-Score: 7", "X-Sieve-Filtered: <other@x.example>")
	}
	cases := []struct {
		name, script string
		want         string // actions
		header       string // the header of the first action, "" for unchanged
	}{
		{"redirect once", `require "editheader";
if not header :contains "X-Sieve-Filtered" "<kim@job.example.com>" {
    addheader "X-Sieve-Filtered" "<kim@job.example.com>";
    redirect "kim@home.example.com";
}`, "redirect kim@home.example.com", "X-Sieve-Filtered: <kim@job.example.com>\r\n" +
			"Received: from a by b; Sat, 30 Jun 2007 23:00:00 +0000\r\nFrom: boss@example.com\r\nX-Spam-Score: 3\r\nSubject: Hello\r\nX-Spam-Score: 7\r\nX-Sieve-Filtered: <other@x.example>\r\n"},
		{"deleteheader all", `require "editheader"; deleteheader "x-spam-score"; if not exists "x-spam-score" { keep; }`, "keep",
			"Received: from a by b; Sat, 30 Jun 2007 23:00:00 +0000\r\nFrom: boss@example.com\r\nSubject: Hello\r\nX-Sieve-Filtered: <other@x.example>\r\n"},
		{"deleteheader :index :last", `require "editheader"; deleteheader :index 1 :last "X-Spam-Score"; if header :is "x-spam-score" "7" { discard; }`, "keep",
			"Received: from a by b; Sat, 30 Jun 2007 23:00:00 +0000\r\nFrom: boss@example.com\r\nX-Spam-Score: 3\r\nSubject: Hello\r\nX-Sieve-Filtered: <other@x.example>\r\n"},
		{"deleteheader value patterns", `require ["editheader", "relational", "comparator-i;ascii-numeric"]; deleteheader :value "gt" :comparator "i;ascii-numeric" "X-Spam-Score" "5"; addheader :last "X-Note" "kept";`, "keep",
			"Received: from a by b; Sat, 30 Jun 2007 23:00:00 +0000\r\nFrom: boss@example.com\r\nX-Spam-Score: 3\r\nSubject: Hello\r\nX-Sieve-Filtered: <other@x.example>\r\nX-Note: kept\r\n"},
		{"subject tag", `require ["editheader", "variables", "fileinto"];
if header :matches "Subject" "*" { set "subject" "${1}"; }
deleteheader "Subject";
addheader :last "Subject" "[SPAM] ${subject}";
if header :is "subject" "[SPAM] Hello" { fileinto "Junk"; }`, "fileinto Junk",
			"Received: from a by b; Sat, 30 Jun 2007 23:00:00 +0000\r\nFrom: boss@example.com\r\nX-Spam-Score: 3\r\nX-Spam-Score: 7\r\nX-Sieve-Filtered: <other@x.example>\r\nSubject: [SPAM] Hello\r\n"},
		{"action before the edit", `require ["editheader", "fileinto"]; fileinto "Before"; addheader "X-A" "1";`, "fileinto Before", ""},
		{"encoded and folded", `require "editheader"; addheader "X-Long" "Grüße ` + strings.Repeat("word ", 20) + `";`, "keep",
			"X-Long: =?utf-8?q?Gr=C3=BC=C3=9Fe_word_word_word_word_word_word_word_word_word_wo?=\r\n =?utf-8?q?rd_word_word_word_word_word_word_word_word_word_word_?=\r\n" +
				"Received: from a by b; Sat, 30 Jun 2007 23:00:00 +0000\r\nFrom: boss@example.com\r\nX-Spam-Score: 3\r\nSubject: Hello\r\nX-Spam-Score: 7\r\nX-Sieve-Filtered: <other@x.example>\r\n"},
		{"a line break in a value", `require "editheader"; addheader :last "X-B" "a` + "\r\n" + `b";`, "keep",
			"Received: from a by b; Sat, 30 Jun 2007 23:00:00 +0000\r\nFrom: boss@example.com\r\nX-Spam-Score: 3\r\nSubject: Hello\r\nX-Spam-Score: 7\r\nX-Sieve-Filtered: <other@x.example>\r\nX-B: a b\r\n"},
		{"protected fields are left alone", `require ["editheader", "variables"]; set "f" "Received"; deleteheader "${f}";
addheader "auto-submitted" "no"; deleteheader :index 1 "received"; if exists "received" { discard; }`, "discard", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Compile(c.script, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			as, _ := p.Run(&Input{Msg: msg()})
			if got := actionStrings(as); got != c.want {
				t.Errorf("actions %q, want %q", got, c.want)
			}
			if got := string(as[0].Header); got != c.header {
				t.Errorf("header\n%q\nwant\n%q", got, c.header)
			}
		})
	}
	for _, c := range []struct{ script, want string }{
		{`addheader "X" "y";`, `addheader needs require "editheader"`},
		{`require "editheader"; addheader "X:Y" "y";`, `invalid field name`},
		{`require "editheader"; addheader "X";`, `takes 2 positional`},
		{`require ["editheader", "relational"]; deleteheader :count "gt" "X" "1";`, `:count is not allowed`},
		{`require "editheader"; deleteheader :last "X";`, `:last needs :index`},
		{`require "editheader"; deleteheader "X" "a" "b";`, `field name and optional value patterns`},
	} {
		if _, err := Compile(c.script, Limits{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%q) = %v, want %q", c.script, err, c.want)
		}
	}
	// The header may not grow past MaxHeader.
	p, err := Compile(`require "editheader";`+strings.Repeat(`addheader "X-Pad" "`+strings.Repeat("y", 60)+`";`, 10), Limits{MaxHeader: 400})
	if err != nil {
		t.Fatal(err)
	}
	as, err := p.Run(&Input{Msg: msg()})
	if err == nil || actionStrings(as) != "keep" || as[0].Header != nil {
		t.Errorf("past MaxHeader: %q %v", actionStrings(as), err)
	}
}

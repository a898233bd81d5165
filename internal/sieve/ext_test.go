package sieve

import (
	"errors"
	"strings"
	"testing"
)

// Examples from RFC 5232 (imap4flags) and RFC 5230 (vacation).
func TestExtensions(t *testing.T) {
	cases := []struct {
		name, script string
		in           *Input
		want         string
	}{
		{"5232 addflag implicit keep", `require "imap4flags";
addflag "\\Seen"; addflag ["\\Flagged", "\\seen"];`, &Input{Msg: newMsg(1)}, `keep flags=\Seen \Flagged`},
		{"5232 setflag replaces", `require "imap4flags";
addflag "a b"; setflag "c";`, &Input{Msg: newMsg(1)}, "keep flags=c"},
		{"5232 removeflag", `require "imap4flags";
setflag "\\Seen \\Deleted Junk"; removeflag ["junk", "\\Seen"];`, &Input{Msg: newMsg(1)}, `keep flags=\Deleted`},
		{"5232 fileinto :flags overrides", `require ["imap4flags","fileinto"];
addflag "x"; fileinto :flags "\\Deleted" "Trash"; fileinto "Other";`, &Input{Msg: newMsg(1)}, `fileinto Trash flags=\Deleted; fileinto Other flags=x`},
		{"5232 flags at time of action", `require ["imap4flags","fileinto"];
fileinto "A"; addflag "later";`, &Input{Msg: newMsg(1)}, "fileinto A"},
		{"5232 7 example", `require ["imap4flags", "fileinto"];
if header :contains "from" "boss@frobnitzm.example.edu" {
  setflag "\\Flagged";
  fileinto "INBOX.From Boss";
}
if header :contains "subject" "urgent" { addflag "\\Flagged"; }`, &Input{Msg: newMsg(1, "From: boss@frobnitzm.example.edu")}, `fileinto INBOX.From Boss flags=\Flagged`},
		{"5232 hasflag", `require "imap4flags";
addflag "Junk"; if hasflag :is "junk" { discard; }`, &Input{Msg: newMsg(1)}, "discard"},
		{"5232 hasflag matches", `require "imap4flags";
addflag "$Label1"; if not hasflag :matches "$Label*" { discard; }`, &Input{Msg: newMsg(1)}, "keep flags=$Label1"},
		{"5232 hasflag comparator", `require "imap4flags";
addflag "Junk"; if hasflag :comparator "i;octet" :is "Junk" { discard; }`, &Input{Msg: newMsg(1)}, "discard"},
		{"5232 keep :flags", `require "imap4flags"; keep :flags ["a", "b a"];`, &Input{Msg: newMsg(1)}, "keep flags=a b"},
		{"5230 vacation", `require "vacation";
if header :contains "subject" "cyrus" {
    vacation "I'm out -- send mail to cyrus-bugs";
} else {
    vacation "I'm out -- call me at 302 555 0153";
}`, &Input{Msg: newMsg(1, "Subject: cyrus bug")}, "vacation days=7 handle=b0e924d8c0ac937843868c21a1ca375f; keep"},
		{"5230 days and handle", `require "vacation";
vacation :days 23 :addresses ["tjs@example.edu", "ts4z@landru.example.edu"] :handle "h1" "gone";`,
			&Input{Msg: newMsg(1)}, "vacation days=23 handle=h1; keep"},
		{"5230 days clamped", `require "vacation"; vacation :days 0 :handle "h" "x";`, &Input{Msg: newMsg(1)}, "vacation days=1 handle=h; keep"},
		{"5230 days max", `require "vacation"; vacation :days 100000 :handle "h" "x";`, &Input{Msg: newMsg(1)}, "vacation days=365 handle=h; keep"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := runScript(t, c.script, c.in); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestVacationParams(t *testing.T) {
	p, err := Compile(`require "vacation";
vacation :subject "Away" :from "me@example.com" :addresses "alt@example.com" :mime "body";`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	as, err := p.Run(&Input{Msg: newMsg(1)})
	if err != nil || len(as) != 2 || as[0].Vacation == nil {
		t.Fatalf("got %v, %v", as, err)
	}
	v := as[0].Vacation
	if v.Subject != "Away" || v.From != "me@example.com" || len(v.Addresses) != 1 || !v.MIME || v.Reason != "body" || v.Handle == "" {
		t.Errorf("vacation = %+v", v)
	}
	// A different reason gets a different default handle (RFC 5230 4.2).
	q, _ := Compile(`require "vacation"; vacation :subject "Away" :from "me@example.com" :mime "other";`, Limits{})
	bs, _ := q.Run(&Input{Msg: newMsg(1)})
	if bs[0].Vacation.Handle == v.Handle {
		t.Error("handles equal for different reasons")
	}
}

// RFC 5233 subaddress, including its section 4 example.
func TestSubaddress(t *testing.T) {
	const script = `require ["envelope", "subaddress", "fileinto"];
if envelope :user "to" "postmaster" { fileinto "inbox.postmaster"; stop; }
if envelope :detail :is "to" "mta-filters" { fileinto "inbox.ietf-mta-filters"; stop; }
if envelope :detail :matches "to" "*" { fileinto "inbox.detail"; stop; }
if address :user :is "from" "ken" { fileinto "inbox.ken"; }`
	cases := []struct{ to, from, want string }{
		{"postmaster+x@example.com", "", "fileinto inbox.postmaster"},
		{"ken+mta-filters@example.org", "", "fileinto inbox.ietf-mta-filters"},
		{"ken+@example.org", "", "fileinto inbox.detail"}, // empty detail is ""
		{"ken@example.org", "", "keep"},                   // no separator: :detail matches nothing
		{"me@example.org", "From: ken+lists@example.net", "fileinto inbox.ken"},
	}
	for _, c := range cases {
		msg := newMsg(1)
		if c.from != "" {
			msg = newMsg(1, c.from)
		}
		if got := runScript(t, script, &Input{To: c.to, Msg: msg}); got != c.want {
			t.Errorf("to %s: got %q, want %q", c.to, got, c.want)
		}
	}
	if _, err := Compile(`if address :user "from" "x" {}`, Limits{}); err == nil || !strings.Contains(err.Error(), `:user needs require "subaddress"`) {
		t.Errorf("got %v", err)
	}
}

// RFC 5231 section 6 examples, plus :value and i;ascii-numeric (RFC 4790 9.1).
func TestRelational(t *testing.T) {
	msg := newMsg(1, "Received: a", "Received: b", "Subject: example",
		"To: foo@example.com, baz@example.com", "CC: qux@example.com", "X-Spam-Score: 7.5", "X-Priority: high")
	const req = `require ["relational", "comparator-i;ascii-numeric"];` + "\n"
	cases := []struct {
		test string
		want bool
	}{
		{`address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] ["3"]`, true},
		{`anyof (address :count "ge" :comparator "i;ascii-numeric" ["to"] ["3"], address :count "ge" :comparator "i;ascii-numeric" ["cc"] ["3"])`, false},
		{`header :count "ge" :comparator "i;ascii-numeric" ["received"] ["3"]`, false},
		{`header :count "ge" :comparator "i;ascii-numeric" ["received", "subject"] ["3"]`, true},
		{`header :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] ["3"]`, false},
		{`header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "7"`, true},
		{`header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "7"`, false},
		{`header :value "gt" :comparator "i;ascii-numeric" "x-priority" "1000000000000000000000000"`, true}, // no digits: infinity
		{`header :value "lt" :comparator "i;ascii-numeric" "x-spam-score" ["0005", "8"]`, true},
		{`header :value "GT" "subject" "EXAMPLA"`, true}, // i;ascii-casemap order
		{`header :value "ne" :comparator "i;octet" "subject" "Example"`, true},
		{`header :is :comparator "i;ascii-numeric" "x-spam-score" "07"`, true},
		{`header :count "eq" :comparator "i;ascii-numeric" "x-absent" "0"`, true},
		{`envelope :count "eq" :comparator "i;ascii-numeric" "from" "0"`, true}, // null reverse-path
	}
	for _, c := range cases {
		script := req + `require "envelope"; if ` + c.test + ` { discard; }`
		got := runScript(t, script, &Input{Msg: msg, To: "x@example.com"})
		if (got == "discard") != c.want {
			t.Errorf("%s: got %q, want %v", c.test, got, c.want)
		}
	}
	for script, want := range map[string]string{
		`require "relational"; if header :value "xx" "a" "b" {}`:                                             "column 40: header: unknown relation \"xx\"",
		`if header :value "eq" "a" "b" {}`:                                                                   `:value needs require "relational"`,
		`if header :comparator "i;ascii-numeric" "a" "b" {}`:                                                 `comparator i;ascii-numeric needs require "comparator-i;ascii-numeric"`,
		`require "comparator-i;ascii-numeric"; if header :contains :comparator "i;ascii-numeric" "a" "b" {}`: "supports no substring match",
	} {
		if _, err := Compile(script, Limits{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Compile(%q) = %v, want %q", script, err, want)
		}
	}
}

// TestReject: RFC 5429 reject and ereject, and the rules of section 2.2.
func TestReject(t *testing.T) {
	in := &Input{From: "a@b.example", To: "me@example.org", Msg: newMsg(100, "Subject: spam")}
	if got := runScript(t, `require "reject"; if header :is "subject" "spam" { reject "No spam, thanks."; }`, in); got != `reject "No spam, thanks."` {
		t.Errorf("reject: %s", got)
	}
	if got := runScript(t, `require "ereject"; ereject "Go away";`, in); got != `reject "Go away"` {
		t.Errorf("ereject: %s", got)
	}
	for _, src := range []string{
		`require "reject"; reject "x"; keep;`,
		`require ["reject", "fileinto"]; reject "x"; fileinto "A";`,
		`require "reject"; reject "x"; redirect "c@d.example";`,
		`require ["reject", "vacation"]; vacation "away"; reject "x";`,
		`require ["reject", "ereject"]; reject "x"; ereject "y";`,
	} {
		p, err := Compile(src, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		as, err := p.Run(in)
		if !errors.Is(err, ErrRuntime) || actionStrings(as) != "keep" {
			t.Errorf("%s: %s, %v; want a runtime error and the keep", src, actionStrings(as), err)
		}
	}
	if _, err := Compile(`reject "x";`, Limits{}); err == nil {
		t.Errorf("reject without require compiled")
	}
}

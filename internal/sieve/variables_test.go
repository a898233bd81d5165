package sieve

import (
	"errors"
	"strings"
	"testing"
)

// transcript is one script run over one message: the actions expected,
// as actionStrings writes them.
type transcript struct {
	name, script string
	in           *Input
	want         string
}

func runTranscripts(t *testing.T, cases []transcript) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := runScript(t, c.script, c.in); got != c.want {
				t.Errorf("got %q\nwant %q", got, c.want)
			}
		})
	}
}

// rfc5229Matches is the example of RFC 5229 section 3.2.
const rfc5229Matches = `require ["fileinto", "variables"];
if header :matches "List-ID" "*<*@*" {
    fileinto "INBOX.lists.${2}"; stop;
}
# Imagine the header
# Subject: [acme-users] [fwd] version 1.0 is out
if header :matches "Subject" "[*] *" {
    # ${1} will hold "acme-users",
    # ${2} will hold "[fwd] version 1.0 is out"
    fileinto "INBOX.lists.${1}"; stop;
}
# Imagine the header
# To: coyote@ACME.Example.COM
if address :matches ["To", "Cc"] ["coyote@**.com",
        "wile@**.com"] {
    # ${0} is the matching address
    # ${1} is always the empty string
    # ${2} is part of the domain name ("ACME.Example")
    fileinto "INBOX.business.${2}"; stop;
} else {
    # Control wouldn't reach this block if any match was
    # successful, so no match variables are set at this
    # point.
}
if anyof (true, address :domain :matches "To" "*.com") {
    # The second test is never evaluated, so there are
    # still no match variables set.
    fileinto "none[${0}${1}]"; stop;
}
`

// RFC 5229 (variables): the examples of sections 3, 3.2, 4.1 and 5.
func TestVariables(t *testing.T) {
	runTranscripts(t, []transcript{
		{"3.2 list-id", rfc5229Matches, &Input{Msg: newMsg(1, "List-ID: Sieve <sieve@ietf.org>")}, "fileinto INBOX.lists.sieve"},
		{"3.2 subject", rfc5229Matches, &Input{Msg: newMsg(1, "Subject: [acme-users] [fwd] version 1.0 is out")}, "fileinto INBOX.lists.acme-users"},
		{"3.2 address", rfc5229Matches, &Input{Msg: newMsg(1, "To: coyote@ACME.Example.COM")}, "fileinto INBOX.business.ACME.Example"},
		{"3.2 none", rfc5229Matches, &Input{Msg: newMsg(1, "To: x@y.org")}, "fileinto none[]"},
		{"3.2 ${0} and ${1}", `require ["fileinto", "variables"];
if address :matches "To" "coyote@**.com" { fileinto "[${0}][${1}][${2}][${3}]"; }`,
			&Input{Msg: newMsg(1, "To: coyote@ACME.Example.COM")}, "fileinto [coyote@ACME.Example.COM][][ACME.Example][]"},
		{"3 expansion", `require ["fileinto", "variables"];
set "company" "ACME";
fileinto "&%${}!|${doh!}|${full}|${company}|${BAD${Company}|${President, ${Company} Inc.}";`,
			&Input{Msg: newMsg(1)}, "fileinto &%${}!|${doh!}||ACME|${BADACME|${President, ACME Inc.}"},
		{"4.1 set", `require ["variables", "vacation"];
set "honorific"  "Mr";
set "first_name" "Wile";
set "last_name"  "Coyote";
set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
vacation :handle "h" "${vacation}";`, &Input{Msg: newMsg(1)}, "vacation days=7 handle=h; keep"},
		{"4.1 modifiers", `require ["variables", "fileinto"];
set "a" "juMBlEd lETteRS";
set :length "b" "${a}"; fileinto "${b}";
set :lower "b" "${a}"; fileinto "${b}";
set :upperfirst "b" "${a}"; fileinto "${b}";
set :upperfirst :lower "b" "${a}"; fileinto "${b}";
set :quotewildcard "b" "Rock*"; fileinto "${b}";`, &Input{Msg: newMsg(1)},
			`fileinto 15; fileinto jumbled letters; fileinto JuMBlEd lETteRS; fileinto Jumbled letters; fileinto Rock\*`},
		{"5 string", `require "variables";
set "state" "${state} pending";
if string :matches " ${state} " "* pending *" { discard; }`, &Input{Msg: newMsg(1)}, "discard"},
		{"5 string :count ignores empty", `require ["variables", "relational", "comparator-i;ascii-numeric"];
set "a" "x";
if string :count "eq" :comparator "i;ascii-numeric" ["${a}", "", "${none}"] "1" { discard; }`, &Input{Msg: newMsg(1)}, "discard"},
		{"names are case-insensitive", `require ["variables", "fileinto"];
set "Foo" "bar"; fileinto "${fOO}";`, &Input{Msg: newMsg(1)}, "fileinto bar"},
		{"match variables survive a failed test", `require ["variables", "fileinto"];
if header :matches "subject" "a*" { }
if header :matches "subject" "zzz*" { }
fileinto "${1}";`, &Input{Msg: newMsg(1, "Subject: abc")}, "fileinto bc"},
		{"expanded keys", `require ["variables"];
set "k" "money"; if header :contains "subject" "${k}" { discard; }`, &Input{Msg: newMsg(1, "Subject: Make Money")}, "discard"},
		{"wildcards in a variable's value are wildcards", `require ["variables"];
set "k" "m*y"; if header :matches "subject" "${k}" { discard; }`, &Input{Msg: newMsg(1, "Subject: money")}, "discard"},
		{"redirect to a variable", `require ["variables", "envelope"];
if envelope :matches "from" "*@*" { redirect "archive+${1}@example.net"; }`, &Input{From: "bob@x.example", Msg: newMsg(1)}, "redirect archive+bob@example.net"},
		{"imap4flags with a variable", `require ["variables", "imap4flags", "fileinto"];
setflag "f" "\\Seen"; addflag "f" ["Junk", "\\seen"]; removeflag "f" "junk";
if hasflag "f" "\\SEEN" { fileinto :flags "${f}" "Seen"; }
if not hasflag "\\Seen" { keep; }`, &Input{Msg: newMsg(1)}, `fileinto Seen flags=\Seen; keep`},
		{"set :length of UTF-8", `require ["variables", "fileinto"];
set :length "n" "héé"; fileinto "${n}";`, &Input{Msg: newMsg(1)}, "fileinto 3"},
	})
}

func TestVariableLimits(t *testing.T) {
	// A value is cut to MaxVariableSize (at a character boundary).
	p, err := Compile(`require ["variables", "fileinto"];
set "a" "ééé"; fileinto "${a}";`, Limits{MaxVariableSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	as, err := p.Run(&Input{Msg: newMsg(1)})
	if err != nil || actionStrings(as) != "fileinto éé" {
		t.Fatalf("got %q, %v", actionStrings(as), err)
	}
	// More variables than MaxVariables: a runtime error, kept.
	p, err = Compile(`require "variables"; set "a" "1"; set "b" "2"; set "c" "3"; discard;`, Limits{MaxVariables: 2})
	if err != nil {
		t.Fatal(err)
	}
	as, err = p.Run(&Input{Msg: newMsg(1)})
	if !errors.Is(err, ErrRuntime) || actionStrings(as) != "keep" {
		t.Fatalf("got %q, %v", actionStrings(as), err)
	}
	// Doubling a variable grows it to the size limit, not beyond, and the
	// run stays within its step budget.
	script := `require "variables"; set "a" "0123456789";` + strings.Repeat(` set "a" "${a}${a}${a}${a}";`, 200) + ` if string :is "${a}" "" { discard; }`
	p, err = Compile(script, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	as, err = p.Run(&Input{Msg: newMsg(1)})
	if err != nil || actionStrings(as) != "keep" {
		t.Fatalf("got %q, %v", actionStrings(as), err)
	}
	// An expanded string is bounded by MaxString.
	script = `require ["variables", "fileinto"]; set "a" "` + strings.Repeat("x", 4000) + `"; fileinto "` + strings.Repeat("${a}", 100) + `";`
	p, err = Compile(script, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	as, _ = p.Run(&Input{Msg: newMsg(1)})
	if len(as) != 1 || len(as[0].Mailbox) > DefaultLimits.MaxString {
		t.Fatalf("mailbox of %d octets", len(as[0].Mailbox))
	}
}

func TestVariableErrors(t *testing.T) {
	for _, c := range []struct{ script, want string }{
		{`set "a" "b";`, `set needs require "variables"`},
		{`require "variables"; set "a.b" "c";`, `invalid variable name "a.b"`},
		{`require "variables"; set "1" "c";`, `invalid variable name "1"`},
		{`require "variables"; set :lower :upper "a" "c";`, `conflicts`},
		{`require "variables"; set :quoteregex "a" "c";`, `:quoteregex needs require "regex"`},
		{`require "variables"; set "a";`, `takes 2 positional`},
		{`if string "a" "b" {}`, `string needs require "variables"`},
		{`require ["variables", "imap4flags"]; setflag "a b" "x";`, `invalid variable name`},
	} {
		_, err := Compile(c.script, Limits{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%q) = %v, want %q", c.script, err, c.want)
		}
	}
}

func TestWildcardCaptures(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want []string
	}{
		{"*<*@*", "Sieve <sieve.ietf.org>", nil}, // no "@": no match
		{"*<*@*", "Sieve <sieve@ietf.org>", []string{"Sieve ", "sieve", "ietf.org>"}},
		{"[*] *", "[acme-users] [fwd] version 1.0 is out", []string{"acme-users", "[fwd] version 1.0 is out"}},
		{"a?c*", "abcde", []string{"b", "de"}},
		{"**", "xy", []string{"", "xy"}},
		{"*", "", []string{""}},
		{`\**`, "*x", []string{"x"}},
		{"*b", "abab", []string{"aba"}},
	} {
		var caps []int
		ok := wildcardAt(c.p, c.s, &caps)
		if ok != (c.want != nil) {
			t.Errorf("%q %q: match %v", c.p, c.s, ok)
			continue
		}
		var got []string
		for i := 0; i+1 < len(caps); i += 2 {
			got = append(got, c.s[caps[i]:caps[i+1]])
		}
		if ok && strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%q %q: captures %q, want %q", c.p, c.s, got, c.want)
		}
	}
}

// draft-ietf-sieve-regex: its examples (the second with the brackets
// escaped, as the draft's own pattern is a bracket expression) and RE2's
// guarantees.
func TestRegex(t *testing.T) {
	runTranscripts(t, []transcript{
		{"friends", `require ["regex", "fileinto"];
if address :regex :comparator "i;ascii-casemap" "from" [
    "stephan(\\+.*)?@it\\.example\\.com",
    "stephan(\\+.*)?@friep\\.example\\.com" ] {
  fileinto "Friends";
}`, &Input{Msg: newMsg(1, "From: Stephan+Sieve@IT.example.com")}, "fileinto Friends"},
		{"octet is case-sensitive", `require ["regex"];
if header :regex :comparator "i;octet" "subject" "^Money" { discard; }`, &Input{Msg: newMsg(1, "Subject: money")}, "keep"},
		{"list-id", `require ["regex", "variables", "fileinto"];
if header :regex "List-ID" "<(.*)@" { fileinto "lists.${1}"; stop; }
if header :regex "Subject" "^\\[(.*)\\] (.*)$" { fileinto "${1}|${2}"; }`,
			&Input{Msg: newMsg(1, "Subject: [acme-users] [fwd] version 1.0 is out")}, "fileinto acme-users] [fwd|version 1.0 is out"},
		{"list-id 2", `require ["regex", "variables", "fileinto"];
if header :regex "List-ID" "<(.*)@" { fileinto "lists.${1}"; stop; }`,
			&Input{Msg: newMsg(1, "List-ID: <sieve@ietf.org>")}, "fileinto lists.sieve"},
		{"pattern from a variable", `require ["regex", "variables"];
set "p" "^a+$"; if header :regex "subject" "${p}" { discard; }`, &Input{Msg: newMsg(1, "Subject: aaa")}, "discard"},
		{"quoteregex", `require ["regex", "variables"];
set :quoteregex "p" "a.b"; if header :regex "subject" "^${p}$" { discard; }`, &Input{Msg: newMsg(1, "Subject: axb")}, "keep"},
		{"no catastrophic backtracking", `require "regex";
if header :regex "subject" "^(a+)+$" { discard; }`, &Input{Msg: newMsg(1, "Subject: "+strings.Repeat("a", 50000)+"!")}, "keep"},
	})
	for _, c := range []struct{ script, want string }{
		{`if header :regex "subject" "x" {}`, `:regex needs require "regex"`},
		{`require "regex"; if header :regex "subject" "(" {}`, `line 1, column 45: header: bad regular expression`},
		{`require "regex"; if header :regex "subject" "(a)\\1" {}`, `bad regular expression`},
		{`require "regex"; if header :regex "subject" "` + strings.Repeat("a", maxRegexLen+1) + `" {}`, `longer than`},
		{`require ["regex", "comparator-i;ascii-numeric"]; if header :regex :comparator "i;ascii-numeric" "subject" "1" {}`, `i;ascii-numeric`},
	} {
		_, err := Compile(c.script, Limits{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%.60q) = %v, want %q", c.script, err, c.want)
		}
	}
	// A bad pattern built at run time is a runtime error: kept.
	p, err := Compile(`require ["regex", "variables"]; set "p" "("; if header :regex "subject" "${p}" { discard; }`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	as, err := p.Run(&Input{Msg: newMsg(1, "Subject: x")})
	if !errors.Is(err, ErrRuntime) || actionStrings(as) != "keep" {
		t.Fatalf("got %q, %v", actionStrings(as), err)
	}
}

// hasflag splits its keys into flags: a :regex key list written as
// "a b" is two patterns, each compiled for its own flag.
func TestRegexHasflag(t *testing.T) {
	runTranscripts(t, []transcript{
		{"split keys", `require ["regex", "imap4flags"];
addflag "y"; if hasflag :regex ["^x$ ^y$", "^q$"] { discard; }`, &Input{Msg: newMsg(1)}, "discard"},
		{"split keys with variables", `require ["regex", "imap4flags", "variables"];
addflag "y"; if hasflag :regex ["^x$ ^y$", "^q$"] { discard; }`, &Input{Msg: newMsg(1)}, "discard"},
	})
}

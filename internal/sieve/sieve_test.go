package sieve

import (
	"errors"
	"net/textproto"
	"strings"
	"testing"
)

// testMsg is a Message built from header lines; values are used as given
// (tests write them already decoded).
type testMsg struct {
	h    map[string][]string
	size int64
	raw  string // the whole message, for the body test (headerMsg)
	list []HeaderField
}

func newMsg(size int64, lines ...string) *testMsg {
	m := &testMsg{h: map[string][]string{}, size: size}
	for _, l := range lines {
		name, val, _ := strings.Cut(l, ":")
		k := textproto.CanonicalMIMEHeaderKey(name)
		m.h[k] = append(m.h[k], strings.TrimSpace(val))
		m.list = append(m.list, HeaderField{Name: name, Raw: l + "\r\n"})
	}
	return m
}

func (m *testMsg) Header(name string) []string { return m.h[textproto.CanonicalMIMEHeaderKey(name)] }
func (m *testMsg) Size() int64                 { return m.size }
func (m *testMsg) Fields() []HeaderField       { return m.list }
func (m *testMsg) Raw(max int) ([]byte, error) { return []byte(m.raw[:min(max, len(m.raw))]), nil }

func actionStrings(as []Action) string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return strings.Join(s, "; ")
}

func runScript(t *testing.T, script string, in *Input) string {
	t.Helper()
	p, err := Compile(script, Limits{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	as, err := p.Run(in)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return actionStrings(as)
}

// RFC 5228 section 9 (the extended example) and the examples given with
// each command and test.
const rfc5228Example = `#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto"];

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter mailbox
#
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # mailbox.
        fileinto "personal";
        }
`

func TestRFC5228Examples(t *testing.T) {
	cases := []struct {
		name, script string
		in           *Input
		want         string
	}{
		{"9 list", rfc5228Example, &Input{Msg: newMsg(100, "Sender: owner-ietf-mta-filters@imc.org", "To: me@example.com")}, "fileinto filter"},
		{"9 company", rfc5228Example, &Input{Msg: newMsg(100, "From: Boss <boss@EXAMPLE.com>", "To: me@example.com")}, "keep"},
		{"9 not to me", rfc5228Example, &Input{Msg: newMsg(100, "From: x@spam.test", "To: you@other.test")}, "fileinto spam"},
		{"9 subject", rfc5228Example, &Input{Msg: newMsg(100, "From: x@spam.test", "To: list@lists.test", "Cc: me@example.com", "Subject: Make Money Fast now")}, "fileinto spam"},
		{"9 personal", rfc5228Example, &Input{Msg: newMsg(100, "From: friend@home.test", "Cc: me@example.com", "Subject: hi")}, "fileinto personal"},
		{"3.1 if/elsif/else", `require "fileinto";
if header :contains "from" "coyote" {
   discard;
} elsif header :contains ["subject"] ["$$$"] {
   discard;
} else {
   fileinto "INBOX";
}`, &Input{Msg: newMsg(10, "From: wile.coyote@acme.test")}, "discard"},
		{"3.1 else", `require "fileinto";
if header :contains "from" "coyote" { discard; }
elsif header :contains ["subject"] ["$$$"] { discard; }
else { fileinto "INBOX"; }`, &Input{Msg: newMsg(10, "From: road@runner.test", "Subject: free")}, "fileinto INBOX"},
		{"3.3 stop", `if size :over 1M { stop; } redirect "a@b.example";`, &Input{Msg: newMsg(2 << 20)}, "keep"},
		{"4.2 redirect", `redirect "bart@example.com";`, &Input{Msg: newMsg(1)}, "redirect bart@example.com"},
		{"4.3 keep after discard", `if size :under 1 { keep; } else { discard; }`, &Input{Msg: newMsg(5)}, "discard"},
		{"5.1 address", `if address :is :all "from" "tim@example.com" { discard; }`, &Input{Msg: newMsg(1, "From: Tim <tim@example.com>")}, "discard"},
		{"5.1 localpart", `if address :localpart :is "from" "TIM" { discard; }`, &Input{Msg: newMsg(1, "From: tim@example.com")}, "discard"},
		{"5.1 octet", `if address :comparator "i;octet" :localpart :is "from" "TIM" { discard; }`, &Input{Msg: newMsg(1, "From: tim@example.com")}, "keep"},
		{"5.4 envelope", `require "envelope";
if envelope :all :is "from" "tim@example.com" { discard; }`, &Input{From: "tim@example.com", Msg: newMsg(1)}, "discard"},
		{"5.4 envelope null", `require "envelope";
if envelope :domain :is "from" "" { discard; }`, &Input{Msg: newMsg(1)}, "discard"},
		{"5.4 envelope to domain", `require "envelope";
if envelope :domain :is "to" "Example.COM" { discard; }`, &Input{To: "u@example.com", Msg: newMsg(1)}, "discard"},
		{"5.5 exists", `if exists ["From","Date"] { discard; }`, &Input{Msg: newMsg(1, "From: a@b", "Date: x")}, "discard"},
		{"5.5 exists missing", `if exists ["From","Date"] { discard; }`, &Input{Msg: newMsg(1, "From: a@b")}, "keep"},
		{"5.7 header", `if header :contains ["From"] ["coyote"] { redirect "acm@example.com"; }`, &Input{Msg: newMsg(1, "From: WILE.Coyote@x")}, "redirect acm@example.com"},
		{"5.8 not", `if not exists "X-Spam" { discard; }`, &Input{Msg: newMsg(1)}, "discard"},
		{"5.9 size over", `if size :over 100K { discard; }`, &Input{Msg: newMsg(100 << 10)}, "keep"},
		{"5.9 size over by one", `if size :over 100K { discard; }`, &Input{Msg: newMsg(100<<10 + 1)}, "discard"},
		{"5.2 allof", `if allof (header :contains "from" "Cail", header :contains "to" "Pochta") { discard; }`, &Input{Msg: newMsg(1, "From: cail@x", "To: pochta@y")}, "discard"},
		{"2.7.1 matches ?", `if header :matches "subject" "a?c" { discard; }`, &Input{Msg: newMsg(1, "Subject: abc")}, "discard"},
		{"2.7.1 matches escape", `if header :matches "subject" "a\\*" { discard; }`, &Input{Msg: newMsg(1, "Subject: abc")}, "keep"},
		{"2.7.1 matches escaped star", `if header :matches "subject" "a\\*" { discard; }`, &Input{Msg: newMsg(1, "Subject: a*")}, "discard"},
		{"2.7.1 contains empty", `if header :contains "subject" "" { discard; }`, &Input{Msg: newMsg(1, "Subject: x")}, "discard"},
		{"2.10.3 duplicate fileinto", `require "fileinto"; fileinto "a"; fileinto "a"; keep; keep;`, &Input{Msg: newMsg(1)}, "fileinto a; keep"},
		{"RFC 3894 copy", `require ["fileinto","copy"]; fileinto :copy "a"; redirect :copy "x@y.example";`, &Input{Msg: newMsg(1)}, "fileinto a; redirect x@y.example; keep"},
		{"RFC 5490 create", `require ["fileinto","mailbox"]; fileinto :create "new/box";`, &Input{Msg: newMsg(1)}, "fileinto new/box :create"},
		{"RFC 5490 mailboxexists", `require ["fileinto","mailbox"]; if mailboxexists "Lists" { fileinto "Lists"; }`,
			&Input{Msg: newMsg(1), MailboxExists: func(n string) bool { return n == "Lists" }}, "fileinto Lists"},
		{"text: multiline", "require \"fileinto\";\nfileinto text:\r\nfoo\r\n..bar\r\n.\r\n;", &Input{Msg: newMsg(1)}, "fileinto foo\r\n.bar\r\n"},
		{"comments", "/* block\n comment */ keep; # trailing", &Input{Msg: newMsg(1)}, "keep"},
		{"empty script", "", &Input{Msg: newMsg(1)}, "keep"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := runScript(t, c.script, c.in); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		script, want string
	}{
		{`keep`, "line 1, column 5: expected \";\" or \"{\""},
		{"keep;\n  fileinto \"x\";", "line 2, column 3: fileinto needs require \"fileinto\""},
		{"require \"foo\";", "line 1, column 9: unsupported extension \"foo\""},
		{"keep;\nrequire \"fileinto\";", "line 2, column 1: require must come before"},
		{"if true { require \"fileinto\"; }", "line 1, column 11: require must come before"},
		{"else { keep; }", "line 1, column 1: else without a preceding if"},
		{"\n\n   bogus;", "line 3, column 4: unknown command \"bogus\""},
		{"if foo { keep; }", "line 1, column 4: unknown test \"foo\""},
		{"if header :is :contains \"a\" \"b\" { keep; }", "column 15: header: :contains conflicts with :is"},
		{"if header :comparator \"i;nope\" \"a\" \"b\" {}", "column 23: header: unknown comparator"},
		{"if size 10 {}", "column 4: size needs :over or :under"},
		{"if size :over \"x\" {}", "column 15: size needs a number"},
		{"keep; \"unterminated", "column 7: unterminated string"},
		{"/* never closed", "line 1, column 1: unterminated /* comment"},
		{"keep;\nfileinto text:\nabc\n", "line 2, column 10: unterminated multi-line string"},
		{"if size :over 99999999999999999999 {}", "column 15: number too large"},
		{"if size :over 9999999999999G {}", "column 15: number too large"},
		{"redirect \"not an address\";", "column 10: redirect: invalid address"},
		{"if true keep;", "line 1, column 1: if needs a block"}, // "keep" parses as a test of "true"
		{"if true {} keep", "column 16: expected \";\" or \"{\" after keep arguments"},
		{"if true;", "if needs a block"},
		{"keep :copy;", "column 6: keep: unknown tag :copy"},
		{"require \"copy\"; keep :copy;", "column 22: keep: unknown tag :copy"},
		{"require \"fileinto\"; fileinto :copy \"a\";", "column 30: :copy needs require \"copy\""},
		{"if header \"a\" :is \"b\" {}", "column 15: header: tag :is after positional arguments"},
		{"if anyof () {}", "column 11: expected a test, found \")\""},
		{"if not (true, false) {}", "not needs exactly one test"},
		{"stop {}", "stop takes no block"},
		{"if true { keep; ", "expected \"}\", found end of script"},
		{"a@", "unexpected character '@'"},
		{"if size :over 10x {}", "unexpected 'x' after number"},
		{"require \"imap4flags\"; setflag \"v\" \"\\\\Seen\";", "setflag with a variable needs require \"variables\""},
		{"require \"imap4flags\"; if hasflag [\"v\"] \"x\" {}", "line 1, column 26: hasflag with variables needs require \"variables\""},
		{"if address :is [\"From\", \"Subject\"] \"x\" {}", "line 1, column 16: address: header \"Subject\" does not hold addresses"},
		{"if header \"a\" {}", "column 4: header takes 2 positional argument(s), found 1"},
		{"require \"vacation\"; vacation :days \"x\" \"r\";", "vacation: :days needs a number"},
		{"require \"vacation\"; vacation :from \"@@\" \"r\";", "invalid :from address"},
	}
	for _, c := range cases {
		_, err := Compile(c.script, Limits{})
		var se *Error
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%q) = %v, want an *Error containing %q", c.script, err, c.want)
		}
	}
}

func TestLimits(t *testing.T) {
	lim := Limits{MaxScriptSize: 100, MaxDepth: 3, MaxCommands: 8, MaxString: 8, MaxListLen: 2}
	cases := []struct{ script, want string }{
		{strings.Repeat(" ", 101), "script longer than 100 bytes"},
		{"if true { if true { if true { if true { } } } }", "nested deeper than 3"},
		{strings.Repeat("keep; ", 9), "line 1, column 49: more than 8 commands"},
		{`redirect "123456789@x";`, "string longer than 8 bytes"},
		{`if exists ["a","b","c"] {}`, "string list longer than 2"},
	}
	for _, c := range cases {
		_, err := Compile(c.script, lim)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%q) = %v, want %q", c.script, err, c.want)
		}
	}
}

func TestRuntimeLimits(t *testing.T) {
	// Redirects beyond the limit end the run with a keep (RFC 5228 2.10.6).
	p, err := Compile(`redirect "a@x.example"; redirect "b@x.example";`, Limits{MaxRedirects: 1})
	if err != nil {
		t.Fatal(err)
	}
	as, err := p.Run(&Input{Msg: newMsg(1)})
	if !errors.Is(err, ErrRuntime) || actionStrings(as) != "keep" {
		t.Fatalf("got %q, %v", actionStrings(as), err)
	}
	// A pathological :matches over a long header runs out of steps.
	long := strings.Repeat("a", 60000)
	p, err = Compile(`if header :matches "subject" ["*a*a*a*a*a*a*a*a*b", "*a*a*a*a*a*a*a*a*b"] { discard; }`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for range 8 {
		subjects = append(subjects, "Subject: "+long)
	}
	as, err = p.Run(&Input{Msg: newMsg(1, subjects...)})
	if !errors.Is(err, ErrRuntime) || actionStrings(as) != "keep" {
		t.Fatalf("got %q, %v", actionStrings(as), err)
	}
}

func TestWildcard(t *testing.T) {
	cases := []struct {
		p, s string
		ok   bool
	}{
		{"", "", true}, {"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true},
		{"a*c", "abcd", false}, {"?", "", false}, {"?", "é", true}, {"??", "é", false},
		{"*a", "aaa", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXcYb", false},
		{"?ake*", "hello", false}, {"?a*", "hello", false}, {"?a*", "hallo", true}, // Pigeonhole 0.5.19 says true to the first two
		{"\\?", "?", true}, {"\\?", "a", false}, {"*make*money*fast*", "make money fast", true},
	}
	for _, c := range cases {
		if got := wildcard(c.p, c.s); got != c.ok {
			t.Errorf("wildcard(%q, %q) = %v", c.p, c.s, got)
		}
	}
}

// RFC 5228 2.4.2.4 and its examples.
func TestEncodedCharacter(t *testing.T) {
	cases := []struct{ in, want string }{
		{"${hex:40}", "@"},
		{"${HEX: 40 }", "@"},
		{"${hex:4 40 41}", "\x04@A"},
		{"${unicode:40}", "@"},
		{"${ unicode:40}", "${ unicode:40}"},
		{"${UNICODE:40}", "@"},
		{"${UnICoDE:0000040}", "@"},
		{"${Unicode:40}", "@"},
		{"${Unicode:Cool}", "${Unicode:Cool}"},
		{"${unicode:4 1F600}", "\x04\U0001F600"},
		{"${hex:}", "${hex:}"},
		{"${hex:400}", "${hex:400}"},
		{"$${hex:24}{hex:41}", "$${hex:41}"},
		{"no end ${hex:40", "no end ${hex:40"},
		{"a${hex:40}b${unicode:e9}c", "a@béc"},
	}
	for _, c := range cases {
		got, err := decodeEncoded(c.in)
		if err != nil || got != c.want {
			t.Errorf("decodeEncoded(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"${unicode:D800}", "${unicode:110000}", "${unicode:FFFFFFFFFFFFFFFFFFFF}"} {
		if _, err := decodeEncoded(bad); err == nil {
			t.Errorf("decodeEncoded(%q) succeeded", bad)
		}
	}
	got := runScript(t, `require ["encoded-character", "fileinto"];
if header :is "subject" "${hex:48 69}" { fileinto "${unicode:41}"; }
elsif true { fileinto "${hex:42}"; }`, &Input{Msg: newMsg(1, "Subject: Hi")})
	if got != "fileinto A" {
		t.Errorf("got %q", got)
	}
	got = runScript(t, `require ["encoded-character", "fileinto"];
if false { keep; } elsif header :is "subject" "${hex:48 69}" { fileinto "${hex:42}"; }`, &Input{Msg: newMsg(1, "Subject: Hi")})
	if got != "fileinto B" {
		t.Errorf("elsif: got %q", got)
	}
	// Without the require, the text stays as written.
	got = runScript(t, `require "fileinto"; fileinto "${hex:42}";`, &Input{Msg: newMsg(1)})
	if got != "fileinto ${hex:42}" {
		t.Errorf("got %q", got)
	}
	_, err := Compile("require \"encoded-character\";\nif true {\n  redirect \"${unicode:DFFF}@x.example\"; }", Limits{})
	if err == nil || !strings.Contains(err.Error(), "line 3, column 12: encoded character") {
		t.Errorf("got %v", err)
	}
}

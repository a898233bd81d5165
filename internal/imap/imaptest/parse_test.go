package imaptest

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func parseOne(t *testing.T, wire string) *Response {
	t.Helper()
	r, err := ReadResponse(bufio.NewReader(strings.NewReader(wire)), Limits{})
	if err != nil {
		t.Fatalf("ReadResponse(%q): %v", wire, err)
	}
	if r.Raw != wire {
		t.Errorf("Raw = %q, want %q", r.Raw, wire)
	}
	return r
}

func TestParseResponses(t *testing.T) {
	for _, tc := range []struct {
		wire, want string
	}{
		{"* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] ready\r\n", "* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] ready"},
		{"* 3 EXISTS\r\n", "* 3 EXISTS"},
		{"* 0 RECENT\r\n", "* 0 RECENT"},
		{"* FLAGS (\\Answered \\Seen $Junk)\r\n", `* FLAGS (\Answered \Seen $Junk)`},
		{"* OK [PERMANENTFLAGS (\\Seen \\*)] Limited\r\n", `* OK [PERMANENTFLAGS (\Seen \*)] Limited`},
		{"t1 OK [READ-WRITE] SELECT completed\r\n", "t1 OK [READ-WRITE] SELECT completed"},
		{"t2 NO [TRYCREATE] no such mailbox\r\n", "t2 NO [TRYCREATE] no such mailbox"},
		{"t3 BAD\r\n", "t3 BAD"},
		{"+ idling\r\n", "+ idling"},
		{"+\r\n", "+"},
		{"* LIST (\\HasNoChildren) \"/\" INBOX\r\n", `* LIST (\HasNoChildren) "/" INBOX`},
		{"* LIST () \"/\" {5}\r\na\"b c\r\n", `* LIST () "/" "a\"b c"`},
		{"* LIST () \"/\" foo]bar\r\n", `* LIST () "/" foo]bar`},
		{"* STATUS \"Sent Items\" (MESSAGES 2 UIDNEXT 7)\r\n", `* STATUS "Sent Items" (MESSAGES 2 UIDNEXT 7)`},
		{"* SEARCH\r\n", "* SEARCH"},
		{"* SEARCH 2 3 5\r\n", "* SEARCH 2 3 5"},
		{"* ESEARCH (TAG \"t5\") UID MIN 2 ALL 2:4,7\r\n", `* ESEARCH (TAG "t5") UID MIN 2 ALL 2:4,7`},
		{"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n", `* NAMESPACE (("" "/")) NIL NIL`},
		{"* ID (\"name\" \"x\")\r\n", `* ID ("name" "x")`},
		{"* 2 EXPUNGE\r\n", "* 2 EXPUNGE"},
		{"* BYE logging out\r\n", "* BYE logging out"},
		{"t9 OK [APPENDUID 38505 3955] done\r\n", "t9 OK [APPENDUID 38505 3955] done"},
		{"t9 OK [COPYUID 38505 304,319:320 3956:3958] done\r\n", "t9 OK [COPYUID 38505 304,319:320 3956:3958] done"},
		{"* OK [UIDNEXT 4]\r\n", "* OK [UIDNEXT 4]"},
		{"t1 NO [BADCHARSET (UTF-8 US-ASCII)] charset\r\n", `t1 NO [BADCHARSET (UTF-8 US-ASCII)] charset`},
		{"* 1 FETCH (UID 7 FLAGS (\\Seen) BODY[HEADER.FIELDS (FROM \"TO\")] {6}\r\nab\r\n\r\n BODY[1]<0> NIL)\r\n",
			`* 1 FETCH (UID 7 FLAGS (\Seen) BODY[HEADER.FIELDS (FROM "TO")] "ab\r\n\r\n" BODY[1]<0> NIL)`},
		{"* 1 FETCH (BINARY[1] ~{3}\r\n\x00\x01\x02 BINARY.SIZE[1] 3)\r\n", `* 1 FETCH (BINARY[1] ~"\x00\x01\x02" BINARY.SIZE[1] 3)`},
		{"* 4 FETCH (ENVELOPE (\"Mon, 6 May 2024 07:08:09 +0000\" \"hi\" ((NIL NIL \"a\" \"b.org\")) NIL NIL NIL NIL NIL NIL \"<m@x>\"))\r\n",
			`* 4 FETCH (ENVELOPE ("Mon, 6 May 2024 07:08:09 +0000" "hi" ((NIL NIL "a" "b.org")) NIL NIL NIL NIL NIL NIL "<m@x>"))`},
		{"* ENABLED\r\n", "* ENABLED"},
		{"* 1 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1)(\"text\" \"html\" NIL NIL NIL \"7bit\" 1 1) \"alternative\"))\r\n",
			`* 1 FETCH (BODYSTRUCTURE (("text" "plain" NIL NIL NIL "7bit" 1 1) ("text" "html" NIL NIL NIL "7bit" 1 1) "alternative"))`},
		{"* OK\r\n", "* OK"},
		// A bare LF is accepted, though servers must send CRLF.
		{"* 5 EXISTS\n", "* 5 EXISTS"},
	} {
		r := parseOne(t, tc.wire)
		if got := r.String(); got != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.wire, got, tc.want)
		}
	}
}

func TestParseFetchItems(t *testing.T) {
	r := parseOne(t, "* 12 FETCH (UID 40 RFC822.SIZE 5 BODY[] {5}\r\nhello FLAGS ())\r\n")
	items, err := r.FetchItems()
	if err != nil {
		t.Fatal(err)
	}
	if r.Num != 12 || len(items) != 4 || items[2].Name != "BODY[]" || items[2].Value.S != "hello" || !items[2].Value.Literal {
		t.Fatalf("items %+v", items)
	}
	if v, ok := r.FetchItem("uid"); !ok || v.S != "40" {
		t.Errorf("UID item: %+v %v", v, ok)
	}
	if n, ok := items[1].Value.Number(); !ok || n != 5 {
		t.Errorf("RFC822.SIZE %d %v", n, ok)
	}
	bad := parseOne(t, "* 1 FETCH (UID)\r\n")
	if _, err := bad.FetchItems(); err == nil {
		t.Error("odd FETCH list accepted")
	}
}

func TestParseErrors(t *testing.T) {
	for _, wire := range []string{
		"* 1 FETCH (UID 1\r\n",                     // unterminated list
		"t1 FETCH (UID 1)\r\n",                     // tagged data
		"* LIST () \"/\" \"a\r\n",                  // CR in quoted
		"* 1 FETCH (BODY[] {5}\r\nabc",             // literal cut short
		"* 1 FETCH (BODY[] {99999999999}\r\n",      // over the limit
		"* 1 FETCH (BODY[] {x}\r\n",                // bad length
		"* 1 FETCH (BODY[1 NIL)\r\n",               // unterminated section
		"* X " + strings.Repeat("(", 200) + "\r\n", // too deep
		"* 1 FETCH (\"a\\q\")\r\n",                 // bad escape
	} {
		_, err := ReadResponse(bufio.NewReader(strings.NewReader(wire)), Limits{MaxLiteral: 1 << 20})
		if err == nil {
			t.Errorf("%q: accepted", wire)
		}
	}
	_, err := ReadResponse(bufio.NewReader(strings.NewReader("* "+strings.Repeat("x", 2000)+"\r\n")), Limits{MaxLine: 1000})
	if !errors.Is(err, ErrSyntax) {
		t.Errorf("over-long line: %v", err)
	}
}

func FuzzReadResponse(f *testing.F) {
	f.Add("* 1 FETCH (BODY[] {2}\r\nab)\r\n")
	f.Add("t1 OK [COPYUID 1 2 3] x\r\n")
	f.Add("* LIST () \"/\" INBOX\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ReadResponse(bufio.NewReader(strings.NewReader(s)), Limits{MaxLiteral: 1 << 16})
		if err == nil {
			_ = r.String()
			r.FetchItems()
		}
	})
}

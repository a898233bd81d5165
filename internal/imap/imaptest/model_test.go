package imaptest

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
)

// The model must flag each contradiction the stress test is meant to
// catch, and accept what a correct server may send.
func TestViewContradictions(t *testing.T) {
	reg := newRegistry()
	msg := "X-Stress-Id: 1\r\nSubject: x\r\n\r\nbody\r\n"
	reg.add("1", msg)
	cut := "X-Stress-Id: 2\r\nSubject: y\r\n\r\nhalf"
	reg.add("2", cut+" and the rest\r\n")
	reg.markCut("2")
	lit := func(s string) string { return "{" + itoa(len(s)) + "}\r\n" + s }
	for _, tc := range []struct {
		name  string
		cmd   string
		lines []string
		want  string // substring of the first violation; "" = none
	}{
		{"ok sequence", "NOOP", []string{"* FLAGS (\\Seen $A)", "* 2 EXISTS", "* 1 FETCH (UID 5 FLAGS ($A))", "* 2 FETCH (UID 9 FLAGS ())", "* 1 EXPUNGE", "* 1 FETCH (UID 9 FLAGS (\\Seen))"}, ""},
		{"keyword without FLAGS", "NOOP", []string{"* FLAGS (\\Seen)", "* 1 EXISTS", "* 1 FETCH (FLAGS ($New))"}, "keyword $New in FETCH before any FLAGS"},
		{"expunge beyond", "NOOP", []string{"* 2 EXISTS", "* 3 EXPUNGE"}, "EXPUNGE 3 but the session has 2"},
		{"expunge during FETCH", "FETCH", []string{"* 2 EXISTS", "* 1 EXPUNGE"}, "EXPUNGE sent while answering FETCH"},
		{"expunge during UID FETCH is fine", "UID FETCH", []string{"* 2 EXISTS", "* 1 EXPUNGE"}, ""},
		{"EXISTS decreases", "NOOP", []string{"* 3 EXISTS", "* 2 EXISTS"}, "EXISTS 2 is below the 3"},
		{"FETCH beyond EXISTS", "NOOP", []string{"* 1 EXISTS", "* 2 FETCH (FLAGS ())"}, "FETCH for message 2 but the session has 1"},
		{"UIDs not ascending", "NOOP", []string{"* 2 EXISTS", "* 2 FETCH (UID 5)", "* 1 FETCH (UID 7)"}, "UID 7 of message 1 is not below UID 5"},
		{"UID changes", "NOOP", []string{"* 1 EXISTS", "* 1 FETCH (UID 5)", "* 1 FETCH (UID 6)"}, "message 1 has UID 5, the server now says 6"},
		{"body matches", "FETCH", []string{"* 1 EXISTS", "* 1 FETCH (RFC822.SIZE " + itoa(len(msg)) + " BODY[] " + lit(msg) + ")"}, ""},
		{"body NIL for an expunged message", "FETCH", []string{"* 1 EXISTS", "* 1 FETCH (BODY[] NIL)"}, ""},
		{"empty literal", "FETCH", []string{"* 1 EXISTS", "* 1 FETCH (BODY[] {0}\r\n)"}, "is no message this test stored"},
		{"zero-padded literal", "FETCH", []string{"* 1 EXISTS", "* 1 FETCH (BODY[] " + lit(msg[:20]+strings.Repeat("\x00", len(msg)-20)) + ")"}, "differs from the message stored"},
		{"size mismatch", "FETCH", []string{"* 1 EXISTS", "* 1 FETCH (RFC822.SIZE 3 BODY[] " + lit(msg) + ")"}, "RFC822.SIZE says 3"},
		{"a cut APPEND was stored", "FETCH", []string{"* 1 EXISTS", "* 1 FETCH (BODY[] " + lit(cut) + ")"}, "whose APPEND was cut short"},
		{"SEARCH beyond", "SEARCH", []string{"* 1 EXISTS", "* SEARCH 1 2"}, "SEARCH result 2"},
		{"ESEARCH beyond", "SEARCH", []string{"* 2 EXISTS", "* ESEARCH (TAG \"t1\") ALL 1:3"}, "ESEARCH ALL 3"},
		{"ESEARCH fine", "SEARCH", []string{"* 2 EXISTS", "* ESEARCH (TAG \"t1\") MIN 1 ALL 1:2 COUNT 2"}, ""},
		{"BYE", "NOOP", []string{"* BYE going away"}, "unexpected BYE"},
	} {
		v := newView("INBOX")
		var got []string
		for _, l := range tc.lines {
			r, err := ReadResponse(bufio.NewReader(strings.NewReader(l+"\r\n")), Limits{})
			if err != nil {
				t.Fatalf("%s: %q: %v", tc.name, l, err)
			}
			got = append(got, v.apply(cmdKind{name: tc.cmd}, r, reg)...)
		}
		switch {
		case tc.want == "" && len(got) > 0:
			t.Errorf("%s: unexpected violations %q", tc.name, got)
		case tc.want != "" && (len(got) == 0 || !strings.Contains(got[0], tc.want)):
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestViolationKind(t *testing.T) {
	k := violationKind(`keyword $Stress2 in FETCH before any FLAGS response listed it (RFC 9051 §7.3.5) (response: "* 2 FETCH")`)
	if k != "keyword $StressN in FETCH before any FLAGS response listed it (RFC 9051 §7.3.5)" {
		t.Errorf("kind %q", k)
	}
}

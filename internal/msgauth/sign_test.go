package msgauth

import (
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/msgauth/dkimtest"
)

func TestHeaderKeys(t *testing.T) {
	for _, c := range []struct{ header, want string }{
		// Present fields once more than they occur; absent ones not
		// at all, except From and Subject.
		{"From: a@a.test\r\nTo: b@b.test\r\nDate: x\r\nMessage-ID: <1@a>\r\nX-Other: y\r\n\r\n",
			"From From Subject Date Date To To Message-ID Message-ID"},
		{"from: a@a.test\r\nReceived: x\r\nTo: b\r\nto: c\r\nList-Id: l\r\nList-Id: m\r\n\r\n",
			"From From Subject To To To List-Id List-Id"},
		{"From: a@a.test\r\nSubject: s\r\n folded\r\nContent-Type: text/plain\r\n\r\n",
			"From From Subject Subject Content-Type Content-Type"},
	} {
		if got := strings.Join(headerKeys([]byte(c.header)), " "); got != c.want {
			t.Errorf("headerKeys(%q) = %q, want %q", c.header, got, c.want)
		}
	}
}

// TestSignVerifiesIndependently checks our signatures with dkimpy, also
// after what a receiving MTA does on the way in: Postfix appends a missing
// Message-ID and Date to the header section, which must not break a
// signature; another From, Subject or To added after signing must.
func TestSignVerifiesIndependently(t *testing.T) {
	dkimtest.Available(t)
	keys, _ := keysAndZone(t, "v=DMARC1; p=reject")
	records := map[string]string{}
	for _, k := range keys {
		name, text := k.Record()
		records[name] = text
	}
	const bare = "From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: no date\r\n\r\nHello Bob.\r\n"
	addAtEnd := func(msg, fields string) string {
		i := strings.Index(msg, "\r\n\r\n") + 2
		return msg[:i] + fields + msg[i:]
	}
	both := []string{"pass", "pass"}
	for _, c := range []struct {
		name      string
		msg       string
		transform func(string) string
		want      []string
	}{
		{"complete message", testMail, nil, both},
		{"no Date or Message-ID, receiver adds them", bare,
			func(m string) string {
				return addAtEnd(m, "Message-ID: <x@mx.b.test>\r\nDate: Tue, 3 Jan 2026 10:00:00 +0000\r\n")
			}, both},
		{"absent Reply-To added", bare, func(m string) string { return addAtEnd(m, "Reply-To: x@evil.test\r\n") }, both},
		{"second From added", testMail, func(m string) string { return addAtEnd(m, "From: ceo@a.test\r\n") }, []string{"fail", "fail"}},
		{"second Subject added on top", bare, func(m string) string { return "Subject: urgent\r\n" + m }, []string{"fail", "fail"}},
		{"Subject added to a message without one", "From: alice@a.test\r\n\r\nx\r\n",
			func(m string) string { return addAtEnd(m, "Subject: pay now\r\n") }, []string{"fail", "fail"}},
		{"second To added", bare, func(m string) string { return addAtEnd(m, "To: all@b.test\r\n") }, []string{"fail", "fail"}},
	} {
		signed := sign(t, keys, c.msg)
		if c.transform != nil {
			signed = c.transform(signed)
		}
		if got := dkimtest.Verify(t, signed, records); !slices.Equal(got, c.want) {
			t.Errorf("%s: dkimpy says %q, want %q\n%s", c.name, got, c.want, signed)
		}
	}
}

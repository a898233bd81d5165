package imap

import (
	"slices"
	"testing"
)

// The IMAP URLs CATENATE accepts (RFC 5092 forms, RFC 4469 §5) and those
// it refuses.
func TestParseIMAPURL(t *testing.T) {
	const me = "alice@example.com"
	ok := []struct {
		url      string
		mailbox  string
		validity uint32
		uid      uint32
		path     []int
		spec     string
		fields   []string
		partial  bool
		off, n   int64
	}{
		{url: "/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=HEADER", mailbox: "INBOX", validity: 385759045, uid: 20, spec: "HEADER"},
		{url: "/Drafts/;UID=30", mailbox: "Drafts", uid: 30},
		{url: "/Lists%2Fgo/;uid=3/;section=1.2.mime", mailbox: "Lists/go", uid: 3, path: []int{1, 2}, spec: "MIME"},
		{url: "/Caf%C3%A9/;UID=1/;SECTION=2", mailbox: "Café", uid: 1, path: []int{2}},
		{url: ";UID=7/;SECTION=TEXT/;PARTIAL=10.20", uid: 7, spec: "TEXT", partial: true, off: 10, n: 20},
		{url: ";UID=7/;PARTIAL=5", uid: 7, partial: true, off: 5, n: 1 << 62},
		{url: "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(Subject%20From)", mailbox: "INBOX", uid: 1, spec: "HEADER.FIELDS", fields: []string{"Subject", "From"}},
		{url: "/INBOX/;UID=1/;SECTION=3.HEADER.FIELDS.NOT%20(X)", mailbox: "INBOX", uid: 1, path: []int{3}, spec: "HEADER.FIELDS.NOT", fields: []string{"X"}},
		{url: "imap://alice%40example.com@imap.example.com/INBOX/;UID=4", mailbox: "INBOX", uid: 4},
		{url: "IMAP://ALICE%40example.com;AUTH=*@host:143/INBOX/;UID=4", mailbox: "INBOX", uid: 4},
		{url: "imap://imap.example.com/Sent;UIDVALIDITY=9/;UID=4", mailbox: "Sent", validity: 9, uid: 4},
	}
	for _, c := range ok {
		u, err := parseIMAPURL(c.url, me)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if u.mailbox != c.mailbox || u.uidValidity != c.validity || u.uid != c.uid || !slices.Equal(u.sec.path, c.path) ||
			u.sec.spec != c.spec || !slices.Equal(u.sec.fields, c.fields) || u.sec.partial != c.partial ||
			u.sec.off != c.off || u.sec.n != c.n {
			t.Errorf("%s: %+v", c.url, u)
		}
	}
	for _, url := range []string{
		"", "INBOX", "/INBOX", "/INBOX/;UID=0", "/INBOX/;UID=x", "/INBOX/;UID=4294967296",
		"/;UID=1",                     // no mailbox
		"/INBOX;UIDVALIDITY=0/;UID=1", // validity must be non-zero
		"/INBOX/;UID=1/;SECTION=0",    // parts count from 1
		"/INBOX/;UID=1/;SECTION=MIME", // MIME needs a part
		"/INBOX/;UID=1/;SECTION=1.",   // dangling dot
		"/INBOX/;UID=1/;SECTION=BODY", // not a section
		"/INBOX/;UID=1/;SECTION=HEADER.FIELDS",
		"/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20()",
		"/INBOX/;UID=1/;SECTION=TEXT/;SECTION=HEADER",
		"/INBOX/;UID=1/;PARTIAL=-1",
		"/INBOX/;UID=1/;PARTIAL=1.0",
		"/INBOX/;UID=1/;URLAUTH=anonymous:internal:00",
		"/INBOX/;UID=1;EXPIRE=2030-01-01T00:00:00Z",
		"/IN%ZZBOX/;UID=1",
		"imap://bob%40example.com@host/INBOX/;UID=1", // another user
		"imap://host",
		"http://host/INBOX/;UID=1",
	} {
		if u, err := parseIMAPURL(url, me); err == nil {
			t.Errorf("%q accepted: %+v", url, u)
		}
	}
}

// FuzzParseIMAPURL: any URL is parsed or refused, never a panic.
func FuzzParseIMAPURL(f *testing.F) {
	for _, s := range []string{"/INBOX;UIDVALIDITY=1/;UID=20/;SECTION=HEADER", ";UID=1/;PARTIAL=1.2",
		"imap://a%40b@h/INBOX/;UID=1/;SECTION=1.HEADER.FIELDS%20(A)", "/;UID=1", "/x/;UID=1/;SECTION=1."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, url string) {
		_, _ = parseIMAPURL(url, "a@b")
	})
}

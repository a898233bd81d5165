package imap

import (
	"slices"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
)

const multipart = "From: Ann <ann@example.org>\r\nTo: alice@example.com\r\nSubject: with attachment\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
	"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello there\r\n" +
	"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n" +
	"--b1--\r\n"

func TestFetchItems(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1), multipart)
	c := e.client(testUser, testPass, nil)
	sel := e.selectInbox(c)
	if sel.NumMessages != 2 || sel.UIDValidity == 0 || sel.UIDNext != 3 {
		t.Fatalf("SELECT: %+v", sel)
	}
	msgs, err := c.Fetch(goimap.SeqSetNum(1, 2), &goimap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
		BodyStructure: &goimap.FetchItemBodyStructure{Extended: true},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.UID != 1 || m.RFC822Size != int64(len(testMessage(1))) || !m.InternalDate.Equal(testDate) || !slices.Equal(m.Flags, []goimap.Flag{`\Recent`}) {
		t.Errorf("message 1: UID %d size %d date %v flags %v", m.UID, m.RFC822Size, m.InternalDate, m.Flags)
	}
	env := m.Envelope
	if env.Subject != "message 1" || len(env.From) != 1 || env.From[0].Addr() != "sender1@example.org" ||
		env.From[0].Name != "Sender 1" || env.MessageID != "m1@example.org" || env.Date.IsZero() {
		t.Errorf("envelope %+v", env)
	}
	bs, ok := msgs[1].BodyStructure.(*goimap.BodyStructureMultiPart)
	if !ok || bs.Subtype != "mixed" || len(bs.Children) != 2 {
		t.Fatalf("body structure %#v", msgs[1].BodyStructure)
	}
	if p := bs.Children[1].(*goimap.BodyStructureSinglePart); p.Type != "application" || p.Encoding != "base64" || p.Size != 8 {
		t.Errorf("attachment part %+v", p)
	}

	// The summaries were cached: a second FETCH gives the same answer
	// from the cache.
	again, err := c.Fetch(goimap.SeqSetNum(2), &goimap.FetchOptions{Envelope: true,
		BodyStructure: &goimap.FetchItemBodyStructure{}}).Collect()
	if err != nil || again[0].Envelope.Subject != "with attachment" {
		t.Fatalf("cached fetch: %v %+v", err, again)
	}

	// BODY.PEEK leaves \Seen alone; sections and partials.
	header := &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierHeader, Peek: true}
	text := &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierText, Peek: true}
	part1 := &goimap.FetchItemBodySection{Part: []int{1}, Peek: true}
	partial := &goimap.FetchItemBodySection{Peek: true, Partial: &goimap.SectionPartial{Offset: 6, Size: 3}}
	fields := &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
	msgs, err = c.Fetch(goimap.SeqSetNum(2), &goimap.FetchOptions{Flags: true,
		BodySection: []*goimap.FetchItemBodySection{header, text, part1, partial, fields}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := msgs[0]
	if h := string(got.FindBodySection(header)); !strings.HasPrefix(h, "From: Ann") || !strings.HasSuffix(h, "\r\n\r\n") {
		t.Errorf("BODY[HEADER] = %q", h)
	}
	if b := string(got.FindBodySection(text)); !strings.HasPrefix(b, "--b1\r\n") {
		t.Errorf("BODY[TEXT] = %q", b)
	}
	if b := string(got.FindBodySection(part1)); b != "hello there" {
		t.Errorf("BODY[1] = %q", b)
	}
	if b := string(got.FindBodySection(partial)); b != "Ann" {
		t.Errorf("BODY[]<6.3> = %q", b)
	}
	if b := string(got.FindBodySection(fields)); b != "Subject: with attachment\r\n\r\n" {
		t.Errorf("BODY[HEADER.FIELDS (Subject)] = %q", b)
	}
	if slices.Contains(got.Flags, goimap.FlagSeen) {
		t.Errorf("BODY.PEEK set \\Seen")
	}

	// BODY[] (no PEEK) returns the exact stored message and sets \Seen.
	whole := &goimap.FetchItemBodySection{}
	msgs, err = c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{whole}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if b := string(msgs[0].FindBodySection(whole)); b != testMessage(1) {
		t.Errorf("BODY[] = %q", b)
	}
	if !slices.Contains(msgs[0].Flags, goimap.FlagSeen) {
		t.Errorf("BODY[] response lacks the FLAGS (\\Seen) it caused: %v", msgs[0].Flags)
	}
	msgs, err = c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Flags: true}).Collect()
	if err != nil || !slices.Contains(msgs[0].Flags, goimap.FlagSeen) {
		t.Errorf("after BODY[]: flags %v, %v", msgs[0].Flags, err)
	}

	// BINARY decodes the transfer encoding.
	bin := &goimap.FetchItemBinarySection{Part: []int{2}, Peek: true}
	msgs, err = c.Fetch(goimap.SeqSetNum(2), &goimap.FetchOptions{BinarySection: []*goimap.FetchItemBinarySection{bin}}).Collect()
	if err != nil || string(msgs[0].FindBinarySection(bin)) != "hello" {
		t.Errorf("BINARY[2] = %q, %v", msgs[0].FindBinarySection(bin), err)
	}

	// UID FETCH with "*" and a range beyond the mailbox.
	uidMsgs, err := c.Fetch(goimap.UIDSetNum(2), &goimap.FetchOptions{UID: true}).Collect()
	if err != nil || len(uidMsgs) != 1 || uidMsgs[0].UID != 2 {
		t.Errorf("UID FETCH 2: %+v, %v", uidMsgs, err)
	}
	// "5:*" names the last message even when 5 is beyond it (RFC 9051
	// section 9); the Go client drops such answers, so ask raw.
	r, _ := e.raw(e.addr)
	r.cmd("LOGIN alice@example.com \"correct horse\"")
	r.cmd("EXAMINE INBOX")
	if lines, status := r.cmd("UID FETCH 5:* (UID)"); !slices.Equal(lines, []string{"* 2 FETCH (UID 2)"}) || !strings.HasPrefix(status, "OK") {
		t.Errorf("UID FETCH 5:* = %q %q", lines, status)
	}
}

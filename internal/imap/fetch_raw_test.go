package imap

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/imap/imaptest"
	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// Transcript tests of FETCH on real sockets against the real store, with
// T's raw client: exact item names and values.

// nestedMail has a text part, an embedded multipart message, a base64
// part and a quoted-printable part.
const nestedMail = "From: Ann <ann@example.org>\r\n" +
	"To: A Team: bob@example.net, Carol (the boss) <carol@example.com>;, dan@example.org\r\n" +
	"Cc: Undisclosed recipients:;\r\n" +
	"Subject: =?utf-8?q?caf=C3=A9?= menu\r\n" +
	"Date: Mon, 6 May 2024 07:08:09 +0000\r\n" +
	"Message-ID: <n1@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--outer\r\n" +
	"Content-Type: text/plain; charset=us-ascii\r\n" +
	"\r\n" +
	"first part\r\n" +
	"--outer\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"Subject: inner\r\n" +
	"From: eve@example.org\r\n" +
	"Content-Type: multipart/alternative; boundary=inner\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"\r\n" +
	"plain inner\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html\r\n" +
	"\r\n" +
	"<p>inner</p>\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: application/octet-stream; name=data.bin\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"Content-Disposition: attachment; filename=data.bin\r\n" +
	"\r\n" +
	"AAECaGVsbG8=\r\n" +
	"--outer\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"Content-Language: en\r\n" +
	"\r\n" +
	"caf=C3=A9 =\r\nau lait\r\n" +
	"--outer--\r\n"

// dialSelected logs in as the test user and selects INBOX.
func dialSelected(t testing.TB, e *env, examine bool) *imaptest.Conn {
	t.Helper()
	c := loggedIn(t, e)
	cmd := "SELECT INBOX"
	if examine {
		cmd = "EXAMINE INBOX"
	}
	if _, err := c.MustOK(cmd); err != nil {
		t.Fatal(err)
	}
	return c
}

// fetchOne runs a FETCH of one message and returns its items rendered
// canonically (imaptest.Value.String), by name.
func fetchOne(t testing.TB, c *imaptest.Conn, command string) map[string]string {
	t.Helper()
	res, err := c.MustOK(command)
	if err != nil {
		t.Fatal(err)
	}
	fetches := res.Named("FETCH")
	if len(fetches) != 1 {
		t.Fatalf("%s: %d FETCH responses: %v", command, len(fetches), res.Untagged)
	}
	items, err := fetches[0].FetchItems()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, it := range items {
		out[it.Name] = it.Value.String()
	}
	return out
}

func TestFetchSections(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, nestedMail)
	c := dialSelected(t, e, true)
	got := fetchOne(t, c, "FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2] BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] "+
		"BODY.PEEK[2.1] BODY.PEEK[2.2.MIME] BODY.PEEK[3]<2.4> BODY.PEEK[4]<100.5> BODY.PEEK[9] BODY.PEEK[1.2] "+
		"BODY.PEEK[HEADER.FIELDS (subject \"Message-ID\")] BODY.PEEK[2.HEADER.FIELDS.NOT (Subject)]<0.10>)")
	for name, want := range map[string]string{
		"BODY[1]":        `"first part"`,
		"BODY[1.MIME]":   `"Content-Type: text/plain; charset=us-ascii\r\n\r\n"`,
		"BODY[2]":        `"Subject: inner\r\nFrom: eve@example.org\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\n\r\nplain inner\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>inner</p>\r\n--inner--"`,
		"BODY[2.HEADER]": `"Subject: inner\r\nFrom: eve@example.org\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"`,
		"BODY[2.TEXT]":   `"--inner\r\n\r\nplain inner\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>inner</p>\r\n--inner--"`,
		"BODY[2.1]":      `"plain inner"`,
		"BODY[2.2.MIME]": `"Content-Type: text/html\r\n\r\n"`,
		"BODY[3]<2>":     `"ECaG"`,
		"BODY[4]<100>":   `""`,
		"BODY[9]":        `""`,
		"BODY[1.2]":      `""`,
		`BODY[HEADER.FIELDS (SUBJECT MESSAGE-ID)]`: `"Subject: =?utf-8?q?caf=C3=A9?= menu\r\nMessage-ID: <n1@example.org>\r\n\r\n"`,
		"BODY[2.HEADER.FIELDS.NOT (SUBJECT)]<0>":   `"From: eve@"`,
	} {
		if got[name] != want {
			t.Errorf("%s = %s, want %s", name, got[name], want)
		}
	}
	if len(got) != 13 {
		t.Errorf("%d items: %v", len(got), got)
	}
}

func TestFetchBinary(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, nestedMail)
	c := dialSelected(t, e, true)
	got := fetchOne(t, c, "FETCH 1 (BINARY.PEEK[3] BINARY.SIZE[3] BINARY.PEEK[3]<2.3> BINARY.PEEK[4] BINARY.SIZE[4] "+
		"BINARY.PEEK[1] BINARY.SIZE[7] BINARY.PEEK[7])")
	for name, want := range map[string]string{
		"BINARY[3]":      `~"\x00\x01\x02hello"`,
		"BINARY.SIZE[3]": "8",
		"BINARY[3]<2>":   `"\x02he"`, // no NUL in the window: a plain literal
		"BINARY[4]":      `"café au lait"`,
		"BINARY.SIZE[4]": fmt.Sprint(len("café au lait")),
		"BINARY[1]":      `"first part"`,
		"BINARY.SIZE[7]": "0",
		"BINARY[7]":      `""`,
	} {
		if got[name] != want {
			t.Errorf("%s = %s, want %s", name, got[name], want)
		}
	}
	// Only part numbers are allowed in BINARY sections.
	for _, cmd := range []string{"FETCH 1 BINARY[1.MIME]", "FETCH 1 BINARY[TEXT]", "FETCH 1 BINARY.SIZE[HEADER]"} {
		if res, err := c.Do(cmd); err != nil || res.Status.Name != "BAD" {
			t.Errorf("%s: %v %v", cmd, res.Status, err)
		}
	}
}

// A message APPENDed as a literal8 with NUL octets comes back byte-exact
// through BINARY[] and BINARY.SIZE[], and a partial BINARY response
// carries its origin.
func TestFetchBinaryAppendedLiteral8(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := dialSelected(t, e, false)
	msg := "Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\nab\x00cd\x00efgh\r\n"
	if _, err := c.MustOK("APPEND INBOX", imaptest.Lit8(msg)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MustOK("NOOP"); err != nil {
		t.Fatal(err)
	}
	got := fetchOne(t, c, "FETCH 1 (BINARY.PEEK[] BINARY.SIZE[] BINARY.PEEK[1]<0.7> BINARY.SIZE[1] BINARY.PEEK[1]<3.100>)")
	for name, want := range map[string]string{
		"BINARY[]":       fmt.Sprintf("~%q", msg),
		"BINARY.SIZE[]":  fmt.Sprint(len(msg)),
		"BINARY[1]<0>":   `~"ab\x00cd\x00e"`,
		"BINARY.SIZE[1]": "12",
		"BINARY[1]<3>":   `~"cd\x00efgh\r\n"`,
	} {
		if got[name] != want {
			t.Errorf("%s = %s, want %s", name, got[name], want)
		}
	}
	// Text without NUL octets comes as an ordinary literal.
	res, err := c.MustOK("FETCH 1 (BINARY.PEEK[1]<6.4>)")
	if err != nil {
		t.Fatal(err)
	}
	if raw := res.Named("FETCH")[0].Raw; !strings.Contains(raw, "BINARY[1]<6> {4}\r\nefgh") {
		t.Errorf("partial BINARY response %q", raw)
	}
}

func TestFetchEnvelopeAndStructure(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, nestedMail)
	c := dialSelected(t, e, true)
	got := fetchOne(t, c, "FETCH 1 (ENVELOPE BODYSTRUCTURE BODY)")
	wantEnvelope := `("Mon, 6 May 2024 07:08:09 +0000" "=?utf-8?q?caf=C3=A9?= menu" ` +
		`(("Ann" NIL "ann" "example.org")) (("Ann" NIL "ann" "example.org")) (("Ann" NIL "ann" "example.org")) ` +
		`((NIL NIL "A Team" NIL) (NIL NIL "bob" "example.net") ("Carol" NIL "carol" "example.com") (NIL NIL NIL NIL) (NIL NIL "dan" "example.org")) ` +
		`((NIL NIL "Undisclosed recipients" NIL) (NIL NIL NIL NIL)) NIL NIL "<n1@example.org>")`
	if got["ENVELOPE"] != wantEnvelope {
		t.Errorf("ENVELOPE\n got %s\nwant %s", got["ENVELOPE"], wantEnvelope)
	}
	inner := `("message" "rfc822" NIL NIL NIL "7bit" 177 (NIL "inner" ((NIL NIL "eve" "example.org")) ((NIL NIL "eve" "example.org")) ` +
		`((NIL NIL "eve" "example.org")) NIL NIL NIL NIL NIL) (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0 NIL NIL NIL NIL)` +
		`("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 12 0 NIL NIL NIL NIL) "alternative" ("boundary" "inner") NIL NIL NIL) 11 NIL NIL NIL NIL)`
	wantStructure := `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0 NIL NIL NIL NIL)` + inner +
		`("application" "octet-stream" ("name" "data.bin") NIL NIL "base64" 12 NIL ("attachment" ("filename" "data.bin")) NIL NIL)` +
		`("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 20 1 NIL NIL ("en") NIL) "mixed" ("boundary" "outer") NIL NIL NIL)`
	tight := func(s string) string { return strings.ReplaceAll(s, ") (", ")(") }
	if tight(got["BODYSTRUCTURE"]) != tight(wantStructure) {
		t.Errorf("BODYSTRUCTURE\n got %s\nwant %s", got["BODYSTRUCTURE"], wantStructure)
	}
	wantBody := `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0) ("message" "rfc822" NIL NIL NIL "7bit" 177 ` +
		`(NIL "inner" ((NIL NIL "eve" "example.org")) ((NIL NIL "eve" "example.org")) ((NIL NIL "eve" "example.org")) NIL NIL NIL NIL NIL) ` +
		`(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0) ("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 12 0) "alternative") 11)` +
		`("application" "octet-stream" ("name" "data.bin") NIL NIL "base64" 12) ("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 20 1) "mixed")`
	if tight(got["BODY"]) != tight(wantBody) {
		t.Errorf("BODY\n got %s\nwant %s", got["BODY"], wantBody)
	}
	// ENVELOPE alone comes from the envelope rendered into the cache by
	// the FETCH above (message.Summary.Wire); a cache entry without one
	// (written by another caller) is decoded and formatted as before.
	if got := fetchOne(t, c, "FETCH 1 ENVELOPE"); got["ENVELOPE"] != wantEnvelope {
		t.Errorf("ENVELOPE from the rendered cache\n got %s\nwant %s", got["ENVELOPE"], wantEnvelope)
	}
	ctx := context.Background()
	inbox, err := e.store.GetMailbox(ctx, e.account(testUser).ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.store.ListMessages(ctx, inbox.ID, store.MessageQuery{Summary: true})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	bare, err := message.UnmarshalSummary(msgs[0].Summary)
	if err != nil || bare.Wire[0] == nil || bare.Wire[1] == nil {
		t.Fatalf("cached summary: %v, rendered envelopes %q (want both: the subject decodes for UTF-8)", err, bare.Wire)
	}
	bare.Wire = [2][]byte{}
	if err := e.store.SetSummaries(ctx, []store.SummaryUpdate{{MessageID: msgs[0].ID, Summary: bare.Marshal()}}); err != nil {
		t.Fatal(err)
	}
	if got := fetchOne(t, c, "FETCH 1 ENVELOPE"); got["ENVELOPE"] != wantEnvelope {
		t.Errorf("ENVELOPE from a cache without a rendered one\n got %s\nwant %s", got["ENVELOPE"], wantEnvelope)
	}
	// The same with the whole summary decoded.
	if got := fetchOne(t, c, "FETCH 1 (ENVELOPE BODYSTRUCTURE)"); got["ENVELOPE"] != wantEnvelope {
		t.Errorf("ENVELOPE with BODYSTRUCTURE\n got %s\nwant %s", got["ENVELOPE"], wantEnvelope)
	}

	// A client that enabled UTF-8 gets the subject decoded.
	u, err := imaptest.Dial(e.addr, imaptest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := u.Login(testUser, testPass); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"ENABLE UTF8=ACCEPT", "EXAMINE INBOX"} {
		if _, err := u.MustOK(cmd); err != nil {
			t.Fatal(err)
		}
	}
	got = fetchOne(t, u, "FETCH 1 ENVELOPE")
	if !strings.HasPrefix(got["ENVELOPE"], `("Mon, 6 May 2024 07:08:09 +0000" "café menu" `) {
		t.Errorf("UTF-8 ENVELOPE %s", got["ENVELOPE"])
	}
}

func TestFetchMacrosAndSyntax(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1))
	c := dialSelected(t, e, true)
	names := func(command string) string {
		got := fetchOne(t, c, command)
		var l []string
		for _, n := range []string{"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY", "BODYSTRUCTURE"} {
			if _, ok := got[n]; ok {
				l = append(l, n)
			}
		}
		return strings.Join(l, " ")
	}
	for cmd, want := range map[string]string{
		"FETCH 1 ALL":             "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE",
		"FETCH 1 FAST":            "FLAGS INTERNALDATE RFC822.SIZE",
		"FETCH 1 full":            "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY",
		"UID FETCH 1 (FLAGS)":     "UID FLAGS",
		"FETCH 1 (uid body)":      "UID BODY",
		"FETCH 1 BODYSTRUCTURE":   "BODYSTRUCTURE",
		"FETCH 1:* (Rfc822.Size)": "RFC822.SIZE",
	} {
		if got := names(cmd); got != want {
			t.Errorf("%s: items %q, want %q", cmd, got, want)
		}
	}
	got := fetchOne(t, c, `FETCH 1 (INTERNALDATE RFC822.HEADER RFC822.TEXT RFC822)`)
	if got["INTERNALDATE"] != `" 6-May-2024 07:08:09 +0000"` || got["RFC822"] != fmt.Sprintf("%q", testMessage(1)) ||
		got["RFC822.TEXT"] != `"body of message 1\r\n"` || !strings.HasSuffix(got["RFC822.HEADER"], `\r\n\r\n"`) {
		t.Errorf("items %v", got)
	}
	for _, cmd := range []string{"FETCH 1 (FOO)", "FETCH 1 BODY[1.]", "FETCH 1 BODY[1", "FETCH 1 BODY.PEEK",
		"FETCH 1 BODY[MIME]", "FETCH 1 BODY[HEADER.FIELDS ()]", "FETCH 1 BODY[]<0.0>", "FETCH 1 (UID", "FETCH 1",
		"FETCH 1 BODY[0]", "FETCH 2 UID", "FETCH 1 BODY[1]<5>"} {
		if res, err := c.Do(cmd); err != nil || res.Status.Name != "BAD" {
			t.Errorf("%s: %v %v", cmd, res.Status, err)
		}
	}
}

func TestFetchSetsSeen(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, nestedMail, testMessage(2))
	ro := dialSelected(t, e, true)
	got := fetchOne(t, ro, "FETCH 1 (BODY[1])")
	if _, ok := got["FLAGS"]; ok || got["BODY[1]"] != `"first part"` {
		t.Errorf("EXAMINE: %v", got)
	}
	c := dialSelected(t, e, false)
	got = fetchOne(t, c, "FETCH 1 BODY[1]")
	if got["FLAGS"] != `(\Seen \Recent)` {
		t.Errorf("BODY[1] FLAGS = %q, want the \\Seen it set", got["FLAGS"])
	}
	got = fetchOne(t, c, "FETCH 2 (BINARY.SIZE[1] BODY.PEEK[1])")
	if _, ok := got["FLAGS"]; ok {
		t.Errorf("PEEK and BINARY.SIZE set \\Seen: %v", got)
	}
	got = fetchOne(t, c, "FETCH 2 RFC822.TEXT")
	if got["FLAGS"] != `(\Seen \Recent)` {
		t.Errorf("RFC822.TEXT FLAGS = %q", got["FLAGS"])
	}
}

func TestFetchUnknownCTE(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, "Content-Transfer-Encoding: x-rot13\r\n\r\nuryyb\r\n")
	c := dialSelected(t, e, true)
	res, err := c.Do("FETCH 1 (UID BINARY.PEEK[1])")
	if err != nil || res.Status.Name != "NO" || res.Status.Code != "UNKNOWN-CTE" || len(res.Named("FETCH")) != 0 {
		t.Errorf("BINARY of x-rot13: %v %v %v", res.Status, res.Untagged, err)
	}
	if got := fetchOne(t, c, "FETCH 1 BODY.PEEK[1]"); got["BODY[1]"] != `"uryyb\r\n"` {
		t.Errorf("BODY[1] = %v", got)
	}
}

// A message expunged by another session is left out of FETCH (never an
// empty literal) and the command says so.
func TestFetchExpungedMeanwhile(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1), testMessage(2), testMessage(3))
	a := dialSelected(t, e, false)
	b := dialSelected(t, e, false)
	if _, err := b.MustOK("STORE 2 +FLAGS.SILENT (\\Deleted)"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.MustOK("EXPUNGE"); err != nil {
		t.Fatal(err)
	}
	checkLeftOut(t, a)
	if res, err := a.Do("NOOP"); err != nil || len(res.Named("EXPUNGE")) != 1 {
		t.Errorf("NOOP after: %v %v", res.Untagged, err)
	}
}

// A summary cached in the old format (JSON, no offsets) is parsed again
// and replaced.
func TestFetchStaleSummary(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, nestedMail)
	ctx := context.Background()
	mb, err := e.store.GetMailbox(ctx, e.account(testUser).ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.store.ListMessages(ctx, mb.ID, store.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	old := []byte(`{"e":{"s":"stale"},"s":{"t":"text","s":"plain","z":3}}`)
	if err := e.store.SetSummaries(ctx, []store.SummaryUpdate{{MessageID: msgs[0].ID, Summary: old}}); err != nil {
		t.Fatal(err)
	}
	c := dialSelected(t, e, true)
	if got := fetchOne(t, c, "FETCH 1 (BODY.PEEK[2.1] ENVELOPE)"); got["BODY[2.1]"] != `"plain inner"` ||
		!strings.Contains(got["ENVELOPE"], "caf") {
		t.Errorf("with a stale cache: %v", got)
	}
	msgs, err = e.store.ListMessages(ctx, mb.ID, store.MessageQuery{Summary: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := message.UnmarshalSummary(msgs[0].Summary); err != nil {
		t.Errorf("the cache was not renewed: %v", err)
	}
}

// A keyword another session set is announced (FLAGS) before the FETCH
// that shows it.
func TestFetchAnnouncesKeywords(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1))
	a := dialSelected(t, e, false)
	b := dialSelected(t, e, false)
	if _, err := b.MustOK("STORE 1 +FLAGS.SILENT (NewKeyword)"); err != nil {
		t.Fatal(err)
	}
	res, err := a.MustOK("FETCH 1 FLAGS")
	if err != nil {
		t.Fatal(err)
	}
	flagsAt, fetchAt := -1, -1
	for i, u := range res.Untagged {
		switch {
		case u.Name == "FLAGS" && strings.Contains(u.Raw, "NewKeyword") && flagsAt < 0:
			flagsAt = i
		case u.Name == "FETCH" && strings.Contains(u.Raw, "NewKeyword") && fetchAt < 0:
			fetchAt = i
		}
	}
	if flagsAt < 0 || fetchAt < 0 || flagsAt > fetchAt {
		t.Errorf("keyword not announced before it was shown: %v", res.Untagged)
	}
}

// FETCH reads the store in batches spanning at most bodyFetchBatch
// messages of the view: every message comes once, in order, whatever
// the gaps in the set.
func TestFetchBatches(t *testing.T) {
	e := newEnv(t, envOptions{})
	const n = 3*bodyFetchBatch + 7
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = testMessage(i + 1)
	}
	e.deliver(testUser, msgs...)
	c := dialSelected(t, e, true)
	// No summary is cached yet: ENVELOPE reads the bodies per batch.
	res, err := c.MustOK("FETCH 2:* (UID ENVELOPE)")
	if err != nil {
		t.Fatal(err)
	}
	if fetches := res.Named("FETCH"); len(fetches) != n-1 {
		t.Fatalf("%d ENVELOPE responses", len(fetches))
	}
	for _, f := range res.Named("FETCH") {
		uid, _ := f.FetchItem("UID")
		env, _ := f.FetchItem("ENVELOPE")
		if len(env.L) < 2 || env.L[1].S != "message "+uid.S {
			t.Errorf("message %s: ENVELOPE %s", uid.S, env)
		}
	}
	for _, set := range []string{"1:*", "1,65,66,130,198,*", "2:3,100:140,190:*"} {
		res, err := c.MustOK("FETCH " + set + " (UID BODY.PEEK[TEXT])")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range res.Named("FETCH") {
			uid, _ := f.FetchItem("UID")
			text, _ := f.FetchItem("BODY[TEXT]")
			if want := fmt.Sprintf("body of message %s\r\n", uid.S); text.S != want || uid.S != fmt.Sprint(f.Num) {
				t.Errorf("FETCH %s: message %d UID %s text %q", set, f.Num, uid.S, text.S)
			}
			got = append(got, uid.S)
		}
		want := expandSet(set, n)
		if strings.Join(got, ",") != want {
			t.Errorf("FETCH %s: UIDs %s, want %s", set, strings.Join(got, ","), want)
		}
	}
}

// expandSet lists the numbers of an ascending sequence set without
// repetitions over n messages.
func expandSet(set string, n int) string {
	var out []string
	for _, r := range strings.Split(set, ",") {
		lo, hi, found := strings.Cut(r, ":")
		if !found {
			hi = lo
		}
		num := func(s string) int {
			if s == "*" {
				return n
			}
			var v int
			fmt.Sscan(s, &v)
			return v
		}
		for i := num(lo); i <= num(hi); i++ {
			out = append(out, fmt.Sprint(i))
		}
	}
	return strings.Join(out, ",")
}

// A header too large to hold is filtered twice (length, then data) for
// HEADER.FIELDS, partial included.
func TestFetchHeaderFieldsLargeHeader(t *testing.T) {
	e := newEnv(t, envOptions{})
	junk := strings.Repeat("X-Junk: "+strings.Repeat("j", 90)+"\r\n", (maxHeaderBuffer/100)+100)
	e.deliver(testUser, "Subject: big\r\n"+junk+"To: x@example.org\r\n\r\nbody\r\n")
	c := dialSelected(t, e, true)
	got := fetchOne(t, c, "FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject To)] BODY.PEEK[HEADER.FIELDS.NOT (X-Junk)]<9.12> "+
		"BODY.PEEK[HEADER.FIELDS (X-Junk)]<0.20>)")
	for name, want := range map[string]string{
		"BODY[HEADER.FIELDS (SUBJECT TO)]":    `"Subject: big\r\nTo: x@example.org\r\n\r\n"`,
		"BODY[HEADER.FIELDS.NOT (X-JUNK)]<9>": `"big\r\nTo: x@e"`,
		"BODY[HEADER.FIELDS (X-JUNK)]<0>":     `"X-Junk: jjjjjjjjjjjj"`,
	} {
		if got[name] != want {
			t.Errorf("%s = %s, want %s", name, got[name], want)
		}
	}
}

// A body file removed after the FETCH listed its message (an expunge by
// another process racing this FETCH) leaves that message out: never an
// empty or padded literal.
func TestFetchBodyFileGone(t *testing.T) {
	e := newEnv(t, envOptions{})
	big := "Subject: large\r\n\r\n" + strings.Repeat("a line of a message stored in a file\r\n", 4000)
	e.deliver(testUser, testMessage(1), big, testMessage(3))
	// The store keeps bodies this large in files; find this one in the
	// test's directories and remove it, leaving its row.
	removed := false
	root := filepath.Dir(t.TempDir())
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || removed {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Size() == int64(len(big)) {
			if b, err := os.ReadFile(path); err == nil && string(b) == big {
				removed = os.Remove(path) == nil
			}
		}
		return nil
	})
	if !removed {
		t.Skip("the store did not keep the large body in a file")
	}
	c := dialSelected(t, e, true)
	checkLeftOut(t, c)
	if _, err := c.MustOK("NOOP"); err != nil {
		t.Errorf("the session did not survive: %v", err)
	}
}

// checkLeftOut fetches the bodies of messages 1 to 3, of which UID 2 can
// no longer be read: it must be left out (not sent empty) and the command
// answered NO [EXPUNGEISSUED].
func checkLeftOut(t *testing.T, c *imaptest.Conn) {
	t.Helper()
	res, err := c.Do("FETCH 1:3 (UID BODY.PEEK[])")
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, f := range res.Named("FETCH") {
		v, _ := f.FetchItem("UID")
		uids = append(uids, v.S)
		if body, _ := f.FetchItem("BODY[]"); body.S == "" {
			t.Errorf("empty body sent: %s", f.Raw)
		}
	}
	if strings.Join(uids, ",") != "1,3" || res.Status.Name != "NO" || res.Status.Code != "EXPUNGEISSUED" {
		t.Errorf("UIDs %v, status %s", uids, res.Status.Raw)
	}
}

func TestFetchPreview(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, nestedMail, "Content-Type: image/png\r\n\r\nxxxx\r\n")
	c := dialSelected(t, e, true)
	got := fetchOne(t, c, "FETCH 1 (PREVIEW (LAZY) UID)")
	if got["PREVIEW"] != `"first part"` || got["UID"] != "1" {
		t.Errorf("PREVIEW: %v", got)
	}
	if got := fetchOne(t, c, "FETCH 2 PREVIEW"); got["PREVIEW"] != `""` {
		t.Errorf("PREVIEW of an image: %v", got)
	}
	if res, err := c.Do("FETCH 1 (PREVIEW (FUZZY))"); err != nil || res.Status.Name != "BAD" {
		t.Errorf("PREVIEW (FUZZY): %v %v", res.Status, err)
	}
}

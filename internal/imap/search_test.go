package imap

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/imap/imaptest"
	"github.com/pochta-mail/pochta/internal/imap/wire"
	"github.com/pochta-mail/pochta/internal/store"
)

// The SEARCH corpus: four messages APPENDed with flags and internal
// dates, after a fifth was expunged so that UIDs (2..5) and sequence
// numbers (1..4) differ.
var searchCorpus = []struct {
	flags, date, body string
}{
	{`(\Seen \Answered)`, "06-May-2024 10:00:00 +0000", "From: \"Ann Example\" <ann@example.org>\r\n" +
		"To: bob@example.net\r\nSubject: =?utf-8?q?caf=C3=A9?= meeting\r\nDate: Mon, 6 May 2024 09:00:00 +0200\r\n" +
		"Message-ID: <m1@example.org>\r\n\r\nLet us meet at the caf\xc3\xa9.\r\n"},
	{`(\Flagged $Work)`, "07-May-2024 10:00:00 +0000", "From: <user (comment)@ (comment) domain.org>\r\n" +
		"Cc: carol@example.com\r\nSubject: hello\r\nDate: Sun, 1 Jan 2023 12:00:00 +0000\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Gr=C3=BC=C3=9Fe from the=\r\n office\r\n" +
		"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"U0VDUkVUV09SRA==\r\n--b1--\r\n"},
	{`(\Deleted \Draft)`, "08-May-2024 23:30:00 +0000", "From: dan@example.org\r\nBcc: eve@example.org\r\n" +
		"Subject: big\r\n\r\n" + strings.Repeat("padding line of a big message\r\n", 200)},
	{`()`, "09-May-2024 10:00:00 +0000", "To: friends: frank@x.org;\r\nSubject: nested\r\n" +
		"Date: Thu, 9 May 2024 10:00:00 +0000\r\nContent-Type: message/rfc822\r\n\r\n" +
		"Subject: inner subject\r\nFrom: gina@example.org\r\n\r\ninner words\r\n"},
}

// loggedIn returns a raw connection logged in as testUser.
func loggedIn(t testing.TB, e *env) *imaptest.Conn {
	t.Helper()
	return loggedInOpts(t, e, imaptest.Options{})
}

func loggedInOpts(t testing.TB, e *env, o imaptest.Options) *imaptest.Conn {
	t.Helper()
	c, err := imaptest.Dial(e.addr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(testUser, testPass); err != nil {
		t.Fatal(err)
	}
	return c
}

// searchSession logs in, fills INBOX with searchCorpus and selects it.
func searchSession(t testing.TB, e *env) *imaptest.Conn {
	t.Helper()
	c := loggedIn(t, e)
	must := func(args ...any) {
		t.Helper()
		if _, err := c.MustOK(args...); err != nil {
			t.Fatal(err)
		}
	}
	must("APPEND", "INBOX", `(\Deleted)`, imaptest.LitPlus("Subject: gone\r\n\r\ngone\r\n"))
	for _, m := range searchCorpus {
		must("APPEND", "INBOX", m.flags, imaptest.Quote(m.date), imaptest.LitPlus(m.body))
	}
	must("SELECT", "INBOX")
	must("UID", "EXPUNGE", "1")
	return c
}

// searchStep is one command and the exact untagged lines it must get.
type searchStep struct {
	cmd    []any
	lines  []string
	status string // prefix of the tagged status line after the tag
}

func runSearchSteps(t *testing.T, c *imaptest.Conn, steps []searchStep) {
	t.Helper()
	for _, st := range steps {
		tag := c.NextTag()
		res, err := c.Do(st.cmd...)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range res.Untagged {
			got = append(got, strings.ReplaceAll(strings.TrimRight(u.Raw, "\r\n"), `"`+tag+`"`, `"TAG"`))
		}
		status := strings.TrimPrefix(strings.TrimRight(res.Status.Raw, "\r\n"), tag+" ")
		if !strings.HasPrefix(status, st.status) || strings.Join(got, "\n") != strings.Join(st.lines, "\n") {
			t.Errorf("%s\n got %q %q\nwant %q %q", res.Command, got, status, st.lines, st.status)
		}
	}
}

func search(args ...any) []any { return append([]any{"SEARCH"}, args...) }
func uidSearch(args ...any) []any {
	return append([]any{"UID", "SEARCH"}, args...)
}

func TestSearchKeys(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := searchSession(t, e)
	big := len(searchCorpus[2].body)
	steps := []searchStep{
		{search("ALL"), []string{"* SEARCH 1 2 3 4"}, "OK"},
		{search("SEEN"), []string{"* SEARCH 1"}, "OK"},
		{search("UNSEEN"), []string{"* SEARCH 2 3 4"}, "OK"},
		{search("ANSWERED"), []string{"* SEARCH 1"}, "OK"},
		{search("UNANSWERED"), []string{"* SEARCH 2 3 4"}, "OK"},
		{search("FLAGGED"), []string{"* SEARCH 2"}, "OK"},
		{search("UNFLAGGED"), []string{"* SEARCH 1 3 4"}, "OK"},
		{search("DELETED"), []string{"* SEARCH 3"}, "OK"},
		{search("UNDELETED"), []string{"* SEARCH 1 2 4"}, "OK"},
		{search("DRAFT"), []string{"* SEARCH 3"}, "OK"},
		{search("UNDRAFT"), []string{"* SEARCH 1 2 4"}, "OK"},
		{search("KEYWORD", "$work"), []string{"* SEARCH 2"}, "OK"},
		{search("UNKEYWORD", "$Work"), []string{"* SEARCH 1 3 4"}, "OK"},
		{search("KEYWORD", "$Nothing"), []string{"* SEARCH"}, "OK"},
		// \Recent: this session selected first and claimed all four.
		{search("RECENT"), []string{"* SEARCH 1 2 3 4"}, "OK"},
		{search("NEW"), []string{"* SEARCH 2 3 4"}, "OK"},
		{search("OLD"), []string{"* SEARCH"}, "OK"},
		// Internal dates, compared by day in their own zone.
		{search("BEFORE", "7-May-2024"), []string{"* SEARCH 1"}, "OK"},
		{search("ON", "07-May-2024"), []string{"* SEARCH 2"}, "OK"},
		{search("ON", `"8-May-2024"`), []string{"* SEARCH 3"}, "OK"},
		{search("SINCE", "8-May-2024"), []string{"* SEARCH 3 4"}, "OK"},
		// Date: header; message 3 has none.
		{search("SENTBEFORE", "1-Jan-2024"), []string{"* SEARCH 2 3"}, "OK"}, // 3 has no Date: (Dovecot: the epoch)
		{search("SENTON", "6-May-2024"), []string{"* SEARCH 1"}, "OK"},
		{search("SENTSINCE", "1-Jan-2024"), []string{"* SEARCH 1 4"}, "OK"},
		{search("LARGER", fmt.Sprint(big-1)), []string{"* SEARCH 3"}, "OK"},
		{search("SMALLER", fmt.Sprint(big)), []string{"* SEARCH 1 2 4"}, "OK"},
		{search("LARGER", fmt.Sprint(big)), []string{"* SEARCH"}, "OK"},
		// Strings: decoded, case-insensitive, comments ignored.
		{search("BODY", `"CAFÉ"`), []string{"* SEARCH 1"}, "OK"},
		{search("CHARSET", "UTF-8", "BODY", imaptest.Lit("grüße from the office")), []string{"* SEARCH 2"}, "OK"},
		{search("BODY", "secretword"), []string{"* SEARCH"}, "OK"},
		{search("TEXT", "SECRETWORD"), []string{"* SEARCH"}, "OK"},
		{search("BODY", `"inner words"`), []string{"* SEARCH 4"}, "OK"},
		{search("BODY", `"inner subject"`), []string{"* SEARCH"}, "OK"},
		{search("TEXT", `"inner subject"`), []string{"* SEARCH 4"}, "OK"},
		{search("TEXT", `"subject: big"`), []string{"* SEARCH 3"}, "OK"},
		{search("BODY", "padding"), []string{"* SEARCH 3"}, "OK"},
		{search("FROM", "user@domain.org"), []string{"* SEARCH 2"}, "OK"},
		{search("FROM", "comment"), []string{"* SEARCH"}, "OK"},
		{search("FROM", `"ann example"`), []string{"* SEARCH 1"}, "OK"},
		{search("TO", "BOB@"), []string{"* SEARCH 1"}, "OK"},
		{search("TO", "frank@x.org"), []string{"* SEARCH 4"}, "OK"},
		{search("CC", "carol"), []string{"* SEARCH 2"}, "OK"},
		{search("BCC", "eve"), []string{"* SEARCH 3"}, "OK"},
		{search("FROM", "gina"), []string{"* SEARCH"}, "OK"},
		{search("SUBJECT", `"café"`), []string{"* SEARCH 1"}, "OK"},
		{search("SUBJECT", `""`), []string{"* SEARCH 1 2 3 4"}, "OK"},
		{search("HEADER", "Message-ID", `""`), []string{"* SEARCH 1"}, "OK"},
		{search("HEADER", "message-id", "M1@EXAMPLE"), []string{"* SEARCH 1"}, "OK"},
		{search("HEADER", "X-Nope", `""`), []string{"* SEARCH"}, "OK"},
		{search("BODY", `""`), []string{"* SEARCH 1 2 3 4"}, "OK"},
		// Boolean structure.
		{search("NOT", "SEEN"), []string{"* SEARCH 2 3 4"}, "OK"},
		{search("OR", "SEEN", "FLAGGED"), []string{"* SEARCH 1 2"}, "OK"},
		{search("OR", "BODY", "padding", "FROM", "ann"), []string{"* SEARCH 1 3"}, "OK"},
		{search("NOT", "BODY", "padding"), []string{"* SEARCH 1 2 4"}, "OK"},
		{search("(SEEN", "ANSWERED)"), []string{"* SEARCH 1"}, "OK"},
		{search("NOT", "(OR", "SEEN", "FLAGGED)"), []string{"* SEARCH 3 4"}, "OK"},
		{search("UNSEEN", "OR", "BODY", `"grüße"`, "(DELETED", "BODY", "padding)"), []string{"* SEARCH 2 3"}, "OK"},
		// Sequence numbers and UIDs (UIDs are 2..5).
		{search("2:3"), []string{"* SEARCH 2 3"}, "OK"},
		{search("*"), []string{"* SEARCH 4"}, "OK"},
		{search("1,3"), []string{"* SEARCH 1 3"}, "OK"},
		{search("3:*", "UNSEEN"), []string{"* SEARCH 3 4"}, "OK"},
		{search("UID", "3:*"), []string{"* SEARCH 2 3 4"}, "OK"},
		{search("UID", "4:2"), []string{"* SEARCH 1 2 3"}, "OK"},
		{search("UID", "1"), []string{"* SEARCH"}, "OK"},
		{uidSearch("SEEN"), []string{"* SEARCH 2"}, "OK"},
		{uidSearch("1:2"), []string{"* SEARCH 2 3"}, "OK"},
		{uidSearch("UID", "4:*", "BODY", "inner"), []string{"* SEARCH 5"}, "OK"},
		// Charsets.
		{search("CHARSET", "us-ascii", "ALL"), []string{"* SEARCH 1 2 3 4"}, "OK"},
		{search("CHARSET", "KOI8-R", "BODY", "x"), nil, "NO [BADCHARSET (UTF-8 US-ASCII)]"},
		// Errors.
		{search("NOSUCHKEY"), nil, "BAD"},
		{search("BEFORE", "yesterday"), nil, "BAD"},
		{search("LARGER", "-1"), nil, "BAD"},
		{search("(SEEN"), nil, "BAD"},
		{search("SEEN", "(UNSEEN))"), nil, "BAD"},
		{search("RETURN", "(BOGUS)", "ALL"), nil, "BAD"},
		{search("KEYWORD"), nil, "BAD"},
		{search("HEADER", "Subject"), nil, "BAD"},
		{search("0"), nil, "BAD"},
	}
	runSearchSteps(t, c, steps)
	// Once FETCH has cached the summaries, the Date: comes from them:
	// the same answers.
	if _, err := c.MustOK("FETCH", "1:*", "ENVELOPE"); err != nil {
		t.Fatal(err)
	}
	var sent []searchStep
	for _, st := range steps {
		if k, _ := st.cmd[1].(string); strings.HasPrefix(k, "SENT") {
			sent = append(sent, st)
		}
	}
	if len(sent) != 3 {
		t.Fatalf("%d SENT* steps", len(sent))
	}
	runSearchSteps(t, c, sent)
	// A second session: nothing is \Recent for it.
	c2 := loggedIn(t, e)
	if _, err := c2.MustOK("EXAMINE", "INBOX"); err != nil {
		t.Fatal(err)
	}
	runSearchSteps(t, c2, []searchStep{
		{search("RECENT"), []string{"* SEARCH"}, "OK"},
		{search("NEW"), []string{"* SEARCH"}, "OK"},
		{search("OLD"), []string{"* SEARCH 1 2 3 4"}, "OK"},
	})
}

func TestSearchReturnAndSave(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := searchSession(t, e)
	runSearchSteps(t, c, []searchStep{
		{search("RETURN", "(MIN MAX COUNT ALL)", "UNSEEN"), []string{`* ESEARCH (TAG "TAG") MIN 2 MAX 4 ALL 2:4 COUNT 3`}, "OK"},
		{uidSearch("RETURN", "(MIN MAX COUNT ALL)", "UNSEEN"), []string{`* ESEARCH (TAG "TAG") UID MIN 3 MAX 5 ALL 3:5 COUNT 3`}, "OK"},
		{uidSearch("RETURN", "(COUNT)", "BODY", "nowhere"), []string{`* ESEARCH (TAG "TAG") UID COUNT 0`}, "OK"},
		{search("RETURN", "(MIN ALL)", "BODY", "nowhere"), []string{`* ESEARCH (TAG "TAG")`}, "OK"},
		{search("RETURN", "()", "OR", "SEEN", "DRAFT"), []string{`* ESEARCH (TAG "TAG") ALL 1,3`}, "OK"},
		// SEARCHRES: SAVE alone answers nothing; "$" reads the result.
		{search("RETURN", "(SAVE)", "FLAGGED"), nil, "OK"},
		{search("$"), []string{"* SEARCH 2"}, "OK"},
		{uidSearch("UID", "$"), []string{"* SEARCH 3"}, "OK"},
		{search("OR", "$", "SEEN"), []string{"* SEARCH 1 2"}, "OK"},
		{search("RETURN", "(SAVE)", "NOT", "$"), nil, "OK"},
		{search("$"), []string{"* SEARCH 1 3 4"}, "OK"},
		// With MIN and MAX only, only those are saved (RFC 5182 §2.4).
		{search("RETURN", "(SAVE MIN MAX)", "UNSEEN"), []string{`* ESEARCH (TAG "TAG") MIN 2 MAX 4`}, "OK"},
		{search("$"), []string{"* SEARCH 2 4"}, "OK"},
		{search("RETURN", "(SAVE COUNT)", "SEEN"), []string{`* ESEARCH (TAG "TAG") COUNT 1`}, "OK"},
		{search("$"), []string{"* SEARCH 1"}, "OK"},
		// A failed SEARCH with SAVE empties "$".
		{search("RETURN", "(SAVE)", "SEEN", "NOSUCHKEY"), nil, "BAD"},
		{search("$"), []string{"* SEARCH"}, "OK"},
	})
	// IMAP4rev2: ESEARCH is the only answer form.
	c2 := loggedIn(t, e)
	runSearchSteps(t, c2, []searchStep{{[]any{"ENABLE", "IMAP4rev2"}, []string{"* ENABLED IMAP4rev2"}, "OK"}})
	if _, err := c2.MustOK("SELECT", "INBOX"); err != nil {
		t.Fatal(err)
	}
	runSearchSteps(t, c2, []searchStep{
		{search("SEEN"), []string{`* ESEARCH (TAG "TAG") ALL 1`}, "OK"},
		{uidSearch("UNSEEN"), []string{`* ESEARCH (TAG "TAG") UID ALL 3:5`}, "OK"},
		{search("BODY", "nowhere"), []string{`* ESEARCH (TAG "TAG")`}, "OK"},
		// and no \Recent for rev2 sessions.
		{search("RECENT"), []string{`* ESEARCH (TAG "TAG")`}, "OK"},
	})
}

// TestSearchDeepNesting: a message nested 10,000 deep, planted by
// delivery, is searched within the client's read timeout (the old engine
// took 20 s per SEARCH TEXT; the matcher is linear).
func TestSearchDeepNesting(t *testing.T) {
	e := newEnv(t, envOptions{})
	var b strings.Builder
	b.WriteString("Subject: deep\r\n")
	for i := range 10000 {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeepest text\r\n")
	e.deliver(testUser, b.String())
	c := loggedIn(t, e)
	if _, err := c.MustOK("SELECT", "INBOX"); err != nil {
		t.Fatal(err)
	}
	runSearchSteps(t, c, []searchStep{
		{search("TEXT", `"deepest text"`), []string{"* SEARCH 1"}, "OK"},
		{search("BODY", "boundary=b9999"), []string{"* SEARCH 1"}, "OK"},
		{search("TEXT", "absent"), []string{"* SEARCH"}, "OK"},
	})
}

// TestSearchSpans checks the resolved form of sequence sets against
// wire.SeqSet.Contains, on overlapping, reversed, "*" and extreme ranges.
func TestSearchSpans(t *testing.T) {
	v := &view{uids: []uint32{3, 5, 9, 10, 11, 4000, math.MaxUint32}}
	s := &session{sel: v}
	sets := []wire.SeqSet{
		{Ranges: []wire.Range{{Lo: 1, Hi: 1}}},
		{Ranges: []wire.Range{{Lo: 4, Hi: 2}, {Lo: 3, Hi: 6}, {Lo: 9, Hi: 9}}},
		{Ranges: []wire.Range{{Lo: wire.Star, Hi: 5}, {Lo: 1, Hi: 2}}},
		{Ranges: []wire.Range{{Lo: 10, Hi: wire.Star}}},
		{Ranges: []wire.Range{{Lo: math.MaxUint32, Hi: math.MaxUint32}, {Lo: 7, Hi: wire.Star}, {Lo: 1, Hi: 1}}},
		{Ranges: []wire.Range{{Lo: 11, Hi: 11}, {Lo: 10, Hi: 10}, {Lo: 12, Hi: 4000}}},
	}
	for _, set := range sets {
		for _, op := range []keyOp{opSeq, opUID} {
			k := &searchKey{op: op, set: set}
			s.prepareSets(k)
			largest := uint32(len(v.uids))
			if op == opUID {
				largest = v.lastUID()
			}
			for _, n := range []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 3999, 4000, 4001, math.MaxUint32 - 1, math.MaxUint32} {
				if got, want := inSpans(k.spans, n), set.Contains(n, largest); got != want {
					t.Errorf("op %d set %s: %d in %v = %v, want %v", op, set, n, k.spans, got, want)
				}
			}
		}
	}
}

// FuzzSearch: for any search program P, the session survives, and when
// both SEARCH P and SEARCH NOT (P) are accepted their results split the
// mailbox in two: each message is in exactly one.
func FuzzSearch(f *testing.F) {
	for _, p := range []string{"ALL", "SEEN", "OR BODY caf FROM ann", "NOT (UNSEEN DELETED)", "1:2,4 UID 3:*",
		"HEADER Subject \"\"", "SENTBEFORE 1-Jan-2024", "LARGER 1000 KEYWORD $Work", "TEXT inner", "$",
		"OR (RECENT NEW) OLD", "CC \"\"", "BODY \"gr\xc3\xbc\"", "SINCE 8-May-2024 NOT BEFORE 9-May-2024"} {
		f.Add(p)
	}
	// Quiet: the log must not reach f inside the fuzz target.
	e := newEnv(f, envOptions{server: func(srv *Server) { srv.Logger = nil }})
	c := searchSession(f, e)
	// connect replaces a session that too many bad commands ended.
	connect := func(t *testing.T) {
		c.Close()
		var err error
		if c, err = imaptest.Dial(e.addr, imaptest.Options{}); err != nil {
			t.Fatal(err)
		}
		if err := c.Login(testUser, testPass); err != nil {
			t.Fatal(err)
		}
		if _, err := c.MustOK("SELECT", "INBOX"); err != nil {
			t.Fatal(err)
		}
	}
	f.Cleanup(func() { c.Close() })
	hits := func(t *testing.T, prog string) (map[string]bool, bool) {
		res, err := c.Do("SEARCH " + prog)
		if err != nil {
			connect(t)
			return nil, false
		}
		if !res.OK() || len(res.Untagged) != 1 {
			return nil, false
		}
		out := map[string]bool{}
		for _, n := range strings.Fields(strings.TrimPrefix(strings.TrimSpace(res.Untagged[0].Raw), "* SEARCH")) {
			out[n] = true
		}
		return out, true
	}
	f.Fuzz(func(t *testing.T, prog string) {
		up := strings.ToUpper(strings.TrimSpace(prog))
		if len(prog) > 500 || strings.ContainsAny(prog, "\r\n{\x00") || strings.HasPrefix(up, "RETURN") || strings.HasPrefix(up, "CHARSET") {
			return
		}
		yes, ok1 := hits(t, prog)
		no, ok2 := hits(t, "NOT ("+prog+")")
		if n := e.srv.RecoveredPanics(); n != 0 {
			t.Fatalf("session panicked on %q", prog)
		}
		if !ok1 || !ok2 {
			return
		}
		for _, seq := range []string{"1", "2", "3", "4"} {
			if yes[seq] == no[seq] {
				t.Fatalf("message %s: in SEARCH %s: %v, in SEARCH NOT (%s): %v", seq, prog, yes[seq], prog, no[seq])
			}
		}
	})
}

func TestBodyBatchEnd(t *testing.T) {
	var listed []store.Message
	sizes := []int64{100, 200, 300 << 10, 300 << 10, 10 << 20, 5, 5}
	for i, sz := range sizes {
		listed = append(listed, store.Message{UID: uint32(10 + 2*i), Size: sz})
	}
	for i := range 40 {
		listed = append(listed, store.Message{UID: uint32(100 + i), Size: 1})
	}
	for _, tc := range []struct{ from, want uint32 }{
		{10, 14},  // 100 + 200 + 300 KB; the next 300 KB would pass 512 KB
		{16, 16},  // 300 KB, then 10 MB would pass
		{18, 18},  // one 10 MB message alone
		{20, 129}, // 32 messages at most: 20, 22 and 30 of the small ones
		{139, 139},
		{11, 14},   // not listed: starts at the next one
		{200, 200}, // past the end
	} {
		if got := bodyBatchEnd(listed, tc.from); got != tc.want {
			t.Errorf("bodyBatchEnd(from %d) = %d, want %d", tc.from, got, tc.want)
		}
	}
}

func TestSearchEmptyMailbox(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := loggedIn(t, e)
	if _, err := c.MustOK("SELECT", "Trash"); err != nil {
		t.Fatal(err)
	}
	runSearchSteps(t, c, []searchStep{
		{search("ALL"), []string{"* SEARCH"}, "OK"},
		{search("*"), []string{"* SEARCH"}, "OK"},
		{uidSearch("UID", "*"), []string{"* SEARCH"}, "OK"},
		{search("BODY", "x"), []string{"* SEARCH"}, "OK"},
		{search("RETURN", "(MIN MAX COUNT ALL)", "ALL"), []string{`* ESEARCH (TAG "TAG") COUNT 0`}, "OK"},
		{search("RETURN", "(SAVE)", "ALL"), nil, "OK"},
		{search("$"), []string{"* SEARCH"}, "OK"},
	})
}

// TestSearchAcrossBatches: 450 messages, more than one listing with
// summaries (200) and many listings with bodies (32): every answer must
// be the one the message numbers predict, before and after FETCH cached
// the summaries, and after an EXPUNGE in the middle.
func TestSearchAcrossBatches(t *testing.T) {
	const n = 450
	e := newEnv(t, envOptions{})
	deliverMany(t, e, n, func(i int) string {
		year := 2025
		if i%5 == 0 {
			year = 2020
		}
		body := "nothing here\r\n"
		if i%7 == 0 {
			body = "a Mark in the text\r\n"
		}
		return fmt.Sprintf("Subject: n%d\r\nDate: 1 Feb %d 10:00:00 +0000\r\n\r\n%s", i, year, body)
	})
	c := loggedIn(t, e)
	if _, err := c.MustOK("SELECT", "INBOX"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		what string
		key  []any
		want func(i int) bool
	}{
		{"BODY", []any{"BODY", "mark"}, func(i int) bool { return i%7 == 0 }},
		{"SENTBEFORE", []any{"SENTBEFORE", "1-Jan-2024"}, func(i int) bool { return i%5 == 0 }},
		{"OR", []any{"OR", "BODY", "mark", "SENTSINCE", "1-Jan-2024"}, func(i int) bool { return i%7 == 0 || i%5 != 0 }},
		{"NOT", []any{"NOT", "BODY", "nothing"}, func(i int) bool { return i%7 == 0 }},
	}
	results := func() []map[uint32]bool {
		t.Helper()
		var out []map[uint32]bool
		for _, tc := range cases {
			res, err := c.MustOK(uidSearch(tc.key...)...)
			if err != nil {
				t.Fatal(err)
			}
			got := map[uint32]bool{}
			for _, f := range strings.Fields(strings.TrimPrefix(strings.TrimSpace(res.Untagged[0].Raw), "* SEARCH")) {
				var u uint32
				fmt.Sscan(f, &u)
				got[u] = true
			}
			out = append(out, got)
		}
		return out
	}
	fresh := results() // before any FETCH: no summary cached
	// Deliveries ran concurrently: learn which UID holds which i from
	// the subjects (this FETCH also caches the summaries).
	index := map[uint32]int{} // UID -> i
	res, err := c.MustOK("FETCH", "1:*", "(UID ENVELOPE)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Named("FETCH") {
		uid, _ := r.FetchItem("UID")
		env, _ := r.FetchItem("ENVELOPE")
		u, _ := uid.Number()
		var i int
		if len(env.L) < 2 || u == 0 {
			t.Fatalf("FETCH: %s", r.Raw)
		}
		if _, err := fmt.Sscanf(env.L[1].Text(), "n%d", &i); err != nil {
			t.Fatalf("FETCH subject: %s", r.Raw)
		}
		index[u] = i
	}
	if len(index) != n {
		t.Fatalf("%d messages indexed", len(index))
	}
	verify := func(when string, got []map[uint32]bool) {
		t.Helper()
		for k, tc := range cases {
			for u := range got[k] {
				if _, ok := index[u]; !ok {
					t.Fatalf("%s, %s: UID %d is not in the mailbox", when, tc.what, u)
				}
			}
			for u, i := range index {
				if got[k][u] != tc.want(i) {
					t.Fatalf("%s, %s: UID %d (message %d) found %v", when, tc.what, u, i, got[k][u])
				}
			}
		}
	}
	verify("no summaries", fresh)
	verify("summaries cached", results())
	// Expunge every message 100 <= i < 200, then search again.
	var gone []string
	for u, i := range index {
		if i >= 100 && i < 200 {
			gone = append(gone, fmt.Sprint(u))
			delete(index, u)
		}
	}
	if _, err := c.MustOK("UID", "STORE", strings.Join(gone, ","), "+FLAGS.SILENT", `(\Deleted)`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MustOK("EXPUNGE"); err != nil {
		t.Fatal(err)
	}
	verify("after EXPUNGE", results())
}

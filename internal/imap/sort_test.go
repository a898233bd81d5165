package imap

import (
	"fmt"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// sortMail is message i of the SORT and THREAD tests: subjects with
// reply prefixes, dates out of arrival order, different senders.
func sortMail(from, to, subject, date string, bodyLen int) string {
	return fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n\r\n%s\r\n",
		from, to, subject, date, strings.Repeat("x", bodyLen))
}

func sortEnv(t *testing.T) *env {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, sortMails()...)
	return e
}

// sortMails are the five messages of the SORT tests.
func sortMails() []string {
	return []string{
		sortMail("Zed <zed@example.org>", "bob@example.net", "Re: lunch", "Tue, 7 May 2024 10:00:00 +0000", 3000),
		sortMail("\"Ann\" <ann@example.org>", "Carl <carl@example.net>", "lunch", "Mon, 6 May 2024 10:00:00 +0000", 1000),
		sortMail("bob@example.org", "amy@example.net", "[list] Budget", "Wed, 8 May 2024 10:00:00 +0000", 2000),
		sortMail("Ann <ann@example.org>", "dan@example.net", "Fwd: lunch", "not a date", 4000),
		sortMail("Yves <yves@example.org>", "Eve <eve@example.net>", "budget (fwd)", "Sun, 5 May 2024 10:00:00 +0000", 500),
	}
}

func TestSort(t *testing.T) {
	e := sortEnv(t)
	c := dialSelected(t, e, true)
	for cmd, want := range map[string]string{
		"SORT (ARRIVAL) UTF-8 ALL":               "* SORT 1 2 3 4 5",
		"SORT (REVERSE ARRIVAL) UTF-8 ALL":       "* SORT 1 2 3 4 5", // one arrival time: sequence order
		"SORT (REVERSE SIZE) UTF-8 ALL":          "* SORT 4 1 3 2 5",
		"SORT (SIZE) US-ASCII ALL":               "* SORT 5 2 3 1 4",
		"SORT (DATE) UTF-8 ALL":                  "* SORT 5 4 2 1 3", // 4 has no parsable date: its arrival, May 6 07:08
		"SORT (SUBJECT) UTF-8 ALL":               "* SORT 3 5 1 2 4",
		"SORT (SUBJECT REVERSE DATE) UTF-8 ALL":  "* SORT 3 5 1 2 4",
		"SORT (FROM) UTF-8 ALL":                  "* SORT 2 4 3 5 1",
		"SORT (TO) UTF-8 ALL":                    "* SORT 3 1 2 4 5",
		"SORT (DISPLAYFROM) UTF-8 ALL":           "* SORT 2 4 3 5 1",
		"SORT (DISPLAYTO) UTF-8 ALL":             "* SORT 3 1 2 4 5",
		"SORT (CC SUBJECT) UTF-8 ALL":            "* SORT 3 5 1 2 4",
		"SORT (SIZE) UTF-8 FROM ann":             "* SORT 2 4",
		"UID SORT (REVERSE SIZE) UTF-8 2:4":      "* SORT 4 3 2",
		"SORT (SIZE) UTF-8 SUBJECT nothing-such": "* SORT",
	} {
		res, err := c.MustOK(cmd)
		if err != nil {
			t.Errorf("%s: %v", cmd, err)
			continue
		}
		if got := res.Named("SORT"); len(got) != 1 || strings.TrimRight(got[0].Raw, "\r\n") != want {
			t.Errorf("%s: %v, want %s", cmd, res.Untagged, want)
		}
	}
	// ESORT (RFC 5267): ALL in sort order, MIN and MAX its ends.
	res, err := c.MustOK("SORT RETURN (MIN MAX COUNT ALL) (SIZE) UTF-8 ALL")
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Untagged[0].Raw; !strings.HasPrefix(got, `* ESEARCH (TAG "`) || !strings.HasSuffix(got, `) MIN 5 MAX 4 ALL 5,2,3,1,4 COUNT 5`+"\r\n") {
		t.Errorf("ESORT: %q", got)
	}
	for _, cmd := range []string{"SORT () UTF-8 ALL", "SORT (REVERSE) UTF-8 ALL", "SORT (NAME) UTF-8 ALL",
		"SORT SIZE UTF-8 ALL", "SORT (SIZE) UTF-8"} {
		if res, err := c.Do(cmd); err != nil || res.Status.Name != "BAD" {
			t.Errorf("%s: %v %v", cmd, res.Status, err)
		}
	}
	if res, err := c.Do("SORT (SIZE) KOI8-R ALL"); err != nil || res.Status.Code != "BADCHARSET" {
		t.Errorf("KOI8-R: %v %v", res.Status, err)
	}
}

func TestThreadOrderedSubject(t *testing.T) {
	e := sortEnv(t)
	c := dialSelected(t, e, true)
	for cmd, want := range map[string]string{
		// budget: 5 (May 5), 3 (May 8); lunch: 4 (its arrival, May 6 07:08), 2 (May 6 10:00), 1 (May 7).
		"THREAD ORDEREDSUBJECT UTF-8 ALL":         "* THREAD (5 3)(4 (2)(1))",
		"UID THREAD ORDEREDSUBJECT UTF-8 1:3":     "* THREAD (2 1)(3)",
		"THREAD ORDEREDSUBJECT UTF-8 SUBJECT xyz": "* THREAD",
	} {
		res, err := c.MustOK(cmd)
		if err != nil {
			t.Errorf("%s: %v", cmd, err)
			continue
		}
		if got := res.Named("THREAD"); len(got) != 1 || strings.TrimRight(got[0].Raw, "\r\n") != want {
			t.Errorf("%s: %v, want %s", cmd, res.Untagged, want)
		}
	}
	if res, err := c.Do("THREAD NOSUCH UTF-8 ALL"); err != nil || res.Status.Name != "BAD" {
		t.Errorf("unknown algorithm: %v %v", res.Status, err)
	}
}

// threadMail is a message with the given identifiers for THREAD REFERENCES.
func threadMail(subject, date, id, refs string) string {
	h := fmt.Sprintf("From: a@example.org\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n", subject, date, id)
	if refs != "" {
		h += "References: " + refs + "\r\n"
	}
	return h + "\r\nbody\r\n"
}

func TestThreadReferences(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := func(day int) string { return fmt.Sprintf("Mon, %d May 2024 10:00:00 +0000", day) }
	e.deliver(testUser,
		threadMail("topic", d(1), "<a@x>", ""),                // 1
		threadMail("Re: topic", d(2), "<b@x>", "<a@x>"),       // 2: reply to 1
		threadMail("Re: topic", d(4), "<c@x>", "<a@x> <b@x>"), // 3: reply to 2
		threadMail("Re: topic", d(3), "<d@x>", "<a@x>"),       // 4: reply to 1, before 3
		threadMail("other", d(5), "<e@x>", ""),                // 5: alone
		threadMail("Re: lost", d(6), "<f@x>", "<gone@x>"),     // 6: parent never seen
		threadMail("Re: lost", d(7), "<g@x>", "<gone@x>"),     // 7: sibling of 6
		threadMail("Re: other", d(8), "<h@x>", "<nowhere@x>"), // 8: merged under 5 by subject
	)
	c := dialSelected(t, e, true)
	for cmd, want := range map[string]string{
		"THREAD REFERENCES UTF-8 ALL":     "* THREAD (1 (2 3)(4))(5 8)((6)(7))",
		"UID THREAD REFERENCES UTF-8 1:2": "* THREAD (1 2)",
	} {
		res, err := c.MustOK(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Named("THREAD"); len(got) != 1 || strings.TrimRight(got[0].Raw, "\r\n") != want {
			t.Errorf("%s: %q, want %s", cmd, res.Named("THREAD")[0].Raw, want)
		}
	}
}

// go-imap's client (a third-party implementation) reads our SORT and
// THREAD answers. (It expects a space before every thread of a THREAD
// answer, which RFC 5256's grammar does not have, so only a single
// thread is asked for here.)
func TestSortThreadGoClient(t *testing.T) {
	e := sortEnv(t)
	c := e.client(testUser, testPass, nil)
	e.selectInbox(c)
	nums, err := c.Sort(&imapclient.SortOptions{SearchCriteria: &goimap.SearchCriteria{},
		SortCriteria: []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}, {Key: imapclient.SortKeyDate, Reverse: true}}}).Wait()
	if err != nil || fmt.Sprint(nums) != "[3 5 1 2 4]" {
		t.Errorf("SORT (SUBJECT REVERSE DATE): %v %v", nums, err)
	}
	uids, err := c.UIDSort(&imapclient.SortOptions{SearchCriteria: &goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Subject", Value: "lunch"}}},
		SortCriteria: []imapclient.SortCriterion{{Key: imapclient.SortKeySize, Reverse: true}}}).Wait()
	if err != nil || fmt.Sprint(uids) != "[4 1 2]" {
		t.Errorf("UID SORT (REVERSE SIZE) SUBJECT lunch: %v %v", uids, err)
	}
	threads, err := c.Thread(&imapclient.ThreadOptions{Algorithm: goimap.ThreadOrderedSubject,
		SearchCriteria: &goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Subject", Value: "lunch"}}}}).Wait()
	if err != nil || len(threads) != 1 || fmt.Sprint(threads[0].Chain) != "[4]" || len(threads[0].SubThreads) != 2 {
		t.Errorf("THREAD ORDEREDSUBJECT SUBJECT lunch: %+v %v", threads, err)
	}
}

// BenchmarkSortThread: SORT (SUBJECT), SORT (REVERSE DATE) and THREAD
// REFERENCES over 2,000 messages whose summaries are cached, one
// connection (bench: the same over 10,000 against Dovecot, see
// docs/BENCHMARKS.md).
func BenchmarkSortThread(b *testing.B) {
	const n = 2000
	e, _ := benchMailbox(b, n)
	c := selectedFraming(b, e)
	c.run("c FETCH 1:* ENVELOPE") // fills the summary cache
	b.ReportAllocs()
	prototest.ReportCPU(b)
	for b.Loop() {
		c.run("d SORT (SUBJECT) UTF-8 ALL")
		c.run("e SORT (REVERSE DATE) UTF-8 ALL")
		c.run("f THREAD REFERENCES UTF-8 ALL")
	}
}

// SORT RETURN (SAVE) with only MIN and/or MAX saves just those messages,
// the first and last in sort order, as SEARCH does (RFC 5182 §2.4, which
// RFC 5267's ESORT result options follow; Dovecot 2.3 does the same);
// with ALL or COUNT, or alone, it saves every match.
func TestSortSaveMinMax(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, mail("Subject: c", "1"), mail("Subject: a", "2"), mail("Subject: d", "3"), mail("Subject: b", "4"))
	r := rfcSelected(t, e)
	for _, tc := range []struct{ sort, saved string }{
		{"SORT RETURN (MIN SAVE) (SUBJECT) UTF-8 ALL", "* SEARCH 2"},
		{"SORT RETURN (MAX SAVE) (SUBJECT) UTF-8 ALL", "* SEARCH 3"},
		{"SORT RETURN (MIN MAX SAVE) (SUBJECT) UTF-8 ALL", "* SEARCH 2 3"},
		{"SORT RETURN (MIN MAX SAVE) (SUBJECT) UTF-8 2", "* SEARCH 2"},
		{"SORT RETURN (MIN COUNT SAVE) (SUBJECT) UTF-8 ALL", "* SEARCH 1 2 3 4"},
		{"SORT RETURN (SAVE) (REVERSE SUBJECT) UTF-8 1:3", "* SEARCH 1 2 3"},
		{"UID SORT RETURN (MAX SAVE) (REVERSE SUBJECT) UTF-8 ALL", "* SEARCH 2"},
	} {
		mustOK(t, r, tc.sort)
		if lines := mustOK(t, r, "SEARCH $"); len(lines) != 1 || lines[0] != tc.saved {
			t.Errorf("%s, then SEARCH $: %q, want %q", tc.sort, lines, tc.saved)
		}
	}
}

// A charset with no search key after it is a syntax error (BAD), whatever
// the charset, as Dovecot 2.3 answers too; only a well-formed command with
// an unsupported charset gets NO [BADCHARSET] (RFC 5256 §3 and RFC 9051
// §6.4.4 require UTF-8 and US-ASCII; Dovecot also converts others).
func TestCharsetWithoutKeys(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1))
	r := rfcSelected(t, e)
	for cmd, want := range map[string]string{
		"THREAD REFERENCES ALL":           "BAD",
		"SORT (SUBJECT) ALL":              "BAD",
		"SORT (SUBJECT) UTF-8":            "BAD",
		"SEARCH CHARSET ALL":              "BAD",
		"SORT (SUBJECT) ISO-8859-1 ALL":   "NO [BADCHARSET",
		"THREAD REFERENCES KOI8-R ALL":    "NO [BADCHARSET",
		"SEARCH CHARSET KOI8-R ALL":       "NO [BADCHARSET",
		"THREAD ORDEREDSUBJECT utf-8 ALL": "OK",
	} {
		if _, status := r.cmd(cmd); !strings.HasPrefix(status, want) {
			t.Errorf("%s: %q, want %s", cmd, status, want)
		}
	}
}

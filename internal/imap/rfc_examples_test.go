package imap

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// The RFCs' own examples as transcripts (issue 9): each mailbox is built
// so that the server's answer is, line for line, the one the RFC prints,
// sequence numbers included. (RFC 7162's are in condstore_test.go, RFC
// 4469's CATENATE example in multiappend_test.go.)

// transcript is one exchange of an RFC example: the client's line with
// the RFC's tag, and the server's untagged lines and tagged status as
// the RFC prints them (the status compared up to its text).
type transcript struct {
	c      string   // "A282 SORT (SUBJECT) ..."
	s      []string // untagged lines, exactly
	status string   // "OK", "NO [TRYCREATE]", ...
}

func runTranscript(t *testing.T, r *raw, steps []transcript) {
	t.Helper()
	for _, st := range steps {
		tag, _, _ := strings.Cut(st.c, " ")
		r.send(st.c)
		var got []string
		for {
			l := r.line()
			if rest, ok := strings.CutPrefix(l, tag+" "); ok {
				if !strings.HasPrefix(rest, st.status) {
					t.Errorf("C: %s\n  status %q, want %q", st.c, rest, st.status)
				}
				break
			}
			got = append(got, l)
		}
		if strings.Join(got, "\n") != strings.Join(st.s, "\n") {
			t.Errorf("C: %s\n  got  %q\n  want %q", st.c, got, st.s)
		}
	}
}

// deliverAt delivers messages to the test user's INBOX with the given
// internal dates, in one go per message.
func (e *env) deliverAt(dates []time.Time, bodies []string) {
	e.t.Helper()
	a := e.account(testUser)
	for i, b := range bodies {
		if err := e.store.Deliver(context.Background(), store.Delivery{
			Recipients: []store.Recipient{{AccountID: a.ID}}, Body: strings.NewReader(b), InternalDate: dates[i],
		}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// rfcSelected logs in over a raw connection and selects INBOX.
func rfcSelected(t *testing.T, e *env) *raw {
	t.Helper()
	r, _ := e.raw(e.addr)
	login(t, r)
	if _, status := r.cmd("SELECT INBOX"); !strings.HasPrefix(status, "OK") {
		t.Fatalf("SELECT: %s", status)
	}
	return r
}

func mail(headers, body string) string {
	return strings.ReplaceAll(strings.TrimSpace(headers), "\n", "\r\n") + "\r\n\r\n" + body + "\r\n"
}

// RFC 5256 §3: the SORT examples.
func TestRFC5256SortExamples(t *testing.T) {
	t.Run("SINCE", func(t *testing.T) {
		// 882 messages, of which 2, 84 and 882 arrived after 1-Feb-1994;
		// their base subjects sort 2, 84, 882.
		e := newEnv(t, envOptions{})
		old, recent := time.Date(1993, 12, 24, 10, 0, 0, 0, time.UTC), time.Date(1994, 2, 7, 10, 0, 0, 0, time.UTC)
		subjects := map[int]string{2: "Re: agenda", 84: "[list] Budget", 882: "Fwd: minutes"}
		var dates []time.Time
		var bodies []string
		for i := 1; i <= 882; i++ {
			date, subject := old, fmt.Sprintf("archive %d", i)
			if s, ok := subjects[i]; ok {
				date, subject = recent, s
			}
			dates = append(dates, date)
			bodies = append(bodies, mail("Subject: "+subject, "x"))
		}
		e.deliverAt(dates, bodies)
		runTranscript(t, rfcSelected(t, e), []transcript{
			{c: "A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994", s: []string{"* SORT 2 84 882"}, status: "OK"},
		})
	})
	t.Run("REVERSE DATE", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.deliver(testUser,
			mail("Subject: Re: lunch\nDate: Thu, 9 May 2024 10:00:00 +0000", "1"),
			mail("Subject: lunch\nDate: Wed, 8 May 2024 10:00:00 +0000", "2"),
			mail("Subject: Budget\nDate: Wed, 1 May 2024 10:00:00 +0000", "3"),
			mail("Subject: Fwd: dinner\nDate: Sat, 4 May 2024 10:00:00 +0000", "4"),
			mail("Subject: Re: budget\nDate: Thu, 2 May 2024 10:00:00 +0000", "5"),
		)
		runTranscript(t, rfcSelected(t, e), []transcript{
			{c: "A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL", s: []string{"* SORT 5 3 4 1 2"}, status: "OK"},
			{c: `A284 SORT (SUBJECT) US-ASCII TEXT "not in mailbox"`, s: []string{"* SORT"}, status: "OK"},
		})
	})
}

// RFC 5256 §4 and §3: the THREAD response of its example, "(2)(3 6 (4 23)(44 7
// 96))", from References among 96 messages; ORDEREDSUBJECT as its example
// shows it (a parent with its children one level down in date order, two
// messages as a plain chain); and the empty answer.
func TestRFC5256ThreadExamples(t *testing.T) {
	e := newEnv(t, envOptions{})
	base := time.Date(2000, 3, 6, 0, 0, 0, 0, time.UTC)
	refs := map[int][]int{6: {3}, 4: {3, 6}, 23: {3, 6, 4}, 44: {3, 6}, 7: {3, 6, 44}, 96: {3, 6, 44, 7}}
	ordered := map[int]string{10: "Re: plan", 11: "plan", 12: "Plan", 13: "Re: plan", 14: "PLAN", 15: "budget", 16: "Re: budget", 17: "solo"}
	var bodies []string
	for i := 1; i <= 96; i++ {
		date := base.Add(time.Duration(i) * time.Hour)
		switch i {
		case 13:
			date = base.Add(14*time.Hour + 30*time.Minute) // after 14
		case 17:
			date = base.Add(-time.Hour) // the oldest thread
		}
		h := fmt.Sprintf("Message-ID: <m%d@example.org>\nDate: %s", i, date.Format(time.RFC1123Z))
		switch {
		case i == 2:
			h += "\nSubject: alone\nX-Example: references"
		case i == 3:
			h += "\nSubject: tree\nX-Example: references"
		case refs[i] != nil:
			var ids []string
			for _, p := range refs[i] {
				ids = append(ids, fmt.Sprintf("<m%d@example.org>", p))
			}
			h += "\nSubject: Re: tree\nX-Example: references\nReferences: " + strings.Join(ids, " ") + "\nIn-Reply-To: " + ids[len(ids)-1]
		case ordered[i] != "":
			h += "\nSubject: " + ordered[i] + "\nX-Example: ordered"
		default:
			h += fmt.Sprintf("\nSubject: other %d", i)
		}
		bodies = append(bodies, mail(h, "x"))
	}
	e.deliver(testUser, bodies...)
	runTranscript(t, rfcSelected(t, e), []transcript{
		{c: "A285 THREAD REFERENCES UTF-8 HEADER X-Example references", s: []string{"* THREAD (2)(3 6 (4 23)(44 7 96))"}, status: "OK"},
		{c: "A283 THREAD ORDEREDSUBJECT UTF-8 HEADER X-Example ordered", s: []string{"* THREAD (17)(10 (11)(12)(14)(13))(15 16)"}, status: "OK"},
		{c: `A284 THREAD ORDEREDSUBJECT US-ASCII TEXT "gewp"`, s: []string{"* THREAD"}, status: "OK"},
	})
}

// RFC 5032's example: "SEARCH UNSEEN YOUNGER 259200" answers 4 8 15 16 23 42
// where those are the unseen messages of the last three days.
func TestRFC5032WithinExample(t *testing.T) {
	e := newEnv(t, envOptions{})
	now := time.Now()
	var dates []time.Time
	var bodies []string
	for i := 1; i <= 42; i++ {
		date := now.Add(-time.Hour) // young
		if i%3 == 0 {
			date = now.Add(-4 * 24 * time.Hour) // old
		}
		dates = append(dates, date)
		bodies = append(bodies, testMessage(i))
	}
	// 15 and 42 are young too (multiples of 3).
	dates[14], dates[41] = now.Add(-2*24*time.Hour), now.Add(-time.Minute)
	e.deliverAt(dates, bodies)
	r := rfcSelected(t, e)
	// Every young message but the six is seen; the old ones are not.
	mustOK(t, r, `STORE 1:* +FLAGS.SILENT (\Seen)`)
	mustOK(t, r, `STORE 3,4,6,8,9,12,15,16,18,21,23:24,27,30,33,36,39,42 -FLAGS.SILENT (\Seen)`)
	runTranscript(t, r, []transcript{
		{c: "a1 SEARCH UNSEEN YOUNGER 259200", s: []string{"* SEARCH 4 8 15 16 23 42"}, status: "OK"},
	})
}

// RFC 4731 §3.1 (ESEARCH, as IMAP4rev2 has it): MIN and COUNT, then
// "RETURN ()" meaning ALL.
func TestRFC4731SearchExamples(t *testing.T) {
	e := newEnv(t, envOptions{})
	old, recent := time.Date(1994, 1, 20, 0, 0, 0, 0, time.UTC), time.Date(1994, 2, 7, 0, 0, 0, 0, time.UTC)
	var dates []time.Time
	var bodies []string
	for i := 1; i <= 11; i++ {
		from := "Jones <jones@example.org>"
		if i == 5 {
			from = "John Smith <smith@example.org>"
		}
		date := recent
		if i == 1 {
			date = old
		}
		dates = append(dates, date)
		bodies = append(bodies, mail("From: "+from+fmt.Sprintf("\nSubject: %d", i), "x"))
	}
	e.deliverAt(dates, bodies)
	r := rfcSelected(t, e)
	mustOK(t, r, `STORE 1,2,5,10,11 +FLAGS.SILENT (\Flagged)`)
	runTranscript(t, r, []transcript{
		{c: `A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"`, s: []string{`* ESEARCH (TAG "A282") MIN 2 COUNT 3`}, status: "OK"},
		{c: `A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"`, s: []string{`* ESEARCH (TAG "A283") ALL 2,10:11`}, status: "OK"},
	})
}

// RFC 8438 (STATUS=SIZE): SIZE is the total of the messages' RFC822.SIZE,
// and follows an APPEND and an EXPUNGE.
func TestStatusSize(t *testing.T) {
	e := newEnv(t, envOptions{})
	m1, m2 := testMessage(1), testMessage(22)
	e.deliver(testUser, m1, m2)
	r, _ := e.raw(e.addr)
	login(t, r)
	want := fmt.Sprintf(`* STATUS "INBOX" (MESSAGES 2 SIZE %d)`, len(m1)+len(m2))
	if lines := mustOK(t, r, "STATUS INBOX (MESSAGES SIZE)"); len(lines) != 1 || lines[0] != want {
		t.Errorf("STATUS: %q, want %q", lines, want)
	}
	mustOK(t, r, "SELECT INBOX")
	mustOK(t, r, `STORE 1 +FLAGS.SILENT (\Deleted)`)
	mustOK(t, r, "EXPUNGE")
	mustOK(t, r, "UNSELECT")
	want = fmt.Sprintf(`* STATUS "INBOX" (MESSAGES 1 SIZE %d)`, len(m2))
	if lines := mustOK(t, r, "STATUS INBOX (MESSAGES SIZE)"); len(lines) != 1 || lines[0] != want {
		t.Errorf("STATUS after EXPUNGE: %q, want %q", lines, want)
	}
}

// RFC 5957 §3: DISPLAYFROM and DISPLAYTO sort on the display-name of the
// first address, decoded (RFC 2047), and on the addr-spec where the
// display-name is absent or empty; FROM and TO sort on the mailbox. Every
// string key compares under i;unicode-casemap (RFC 5256 §3 by way of
// I18NLEVEL=1, RFC 5255 §4.2; RFC 5051 §2: titlecase, then NFKD), so "aab"
// sorts before "a_b" ("AAB" < "A_B") and "eclair" before "Éclair". The
// mail is chosen so that each order differs from the others.
func TestRFC5957SortDisplay(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser,
		mail(`From: "Zoe Zeta" <adam@example.org>`+"\nTo: Walter <ann@example.net>\nSubject: a_b", "x"),
		mail(`From: "Adam Alpha" <zoe@example.org>`+"\nTo: bo@example.net\nSubject: aab", "x"),
		mail("From: bart@example.org\nTo: \"\" <carl@example.net>\nSubject: =?utf-8?q?=C3=89clair?=", "x"),
		mail("From: =?utf-8?q?=C3=89mile?= <carl@example.org>\nTo: =?utf-8?q?Andr=C3=A9?= <zed@example.net>\nSubject: eclair", "x"),
		mail(`From: "" <aaron@example.org>`+"\nTo: Carla <dora@example.net>\nSubject: zeta", "x"),
	)
	runTranscript(t, rfcSelected(t, e), []transcript{
		{c: "a1 SORT (FROM) UTF-8 ALL", s: []string{"* SORT 5 1 3 4 2"}, status: "OK"},
		{c: "a2 SORT (DISPLAYFROM) UTF-8 ALL", s: []string{"* SORT 5 2 3 4 1"}, status: "OK"},
		{c: "a3 SORT (TO) UTF-8 ALL", s: []string{"* SORT 1 2 3 5 4"}, status: "OK"},
		{c: "a4 SORT (DISPLAYTO) UTF-8 ALL", s: []string{"* SORT 4 2 3 5 1"}, status: "OK"},
		{c: "a5 SORT (REVERSE DISPLAYFROM) UTF-8 ALL", s: []string{"* SORT 1 4 3 2 5"}, status: "OK"},
		{c: "a6 SORT (SUBJECT) UTF-8 ALL", s: []string{"* SORT 2 1 4 3 5"}, status: "OK"},
	})
}

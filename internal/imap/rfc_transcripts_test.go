package imap

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The examples of RFC 3502 (MULTIAPPEND), RFC 8474 (OBJECTID), RFC 5267 §3.2 (ESORT) and RFC 8970 (PREVIEW) as
// transcripts on a real socket against the real store, with the RFCs'
// tags and command texts. Where an example prints values the server
// chooses (object ids, UIDVALIDITY), the expected line names them
// ("<F1>") and the test checks that the same name always stands for the
// same value and different names for different values. (RFC 4978's
// COMPRESS example is in compress_test.go.)

// idVar is a placeholder in an expected line: "<" name ">".
var idVar = regexp.MustCompile(`<([A-Z][A-Za-z0-9]*)>`)

// matchVars compares got with want, binding want's placeholders to
// RFC 8474 objectids (1*255 of ALPHA / DIGIT / "_" / "-") in vars.
func matchVars(got, want string, vars map[string]string, prefix bool) bool {
	var names []string
	pattern := "^" + idVar.ReplaceAllStringFunc(regexp.QuoteMeta(want), func(m string) string {
		names = append(names, idVar.FindStringSubmatch(m)[1])
		return `([A-Za-z0-9_-]{1,255})`
	})
	if !prefix {
		pattern += "$"
	}
	// QuoteMeta leaves < > alone, so the placeholders are intact.
	m := regexp.MustCompile(pattern).FindStringSubmatch(got)
	if m == nil {
		return false
	}
	for i, name := range names {
		if v, ok := vars[name]; ok {
			if v != m[i+1] {
				return false
			}
			continue
		}
		for other, v := range vars {
			if v == m[i+1] {
				panic(fmt.Sprintf("<%s> has the value of <%s>: %s", name, other, v))
			}
		}
		vars[name] = m[i+1]
	}
	return true
}

// runVarTranscript is runTranscript with placeholders in the expected
// untagged lines and the status.
func runVarTranscript(t *testing.T, r *raw, vars map[string]string, steps []transcript) {
	t.Helper()
	for _, st := range steps {
		c := substitute(st.c, vars)
		tag, _, _ := strings.Cut(c, " ")
		r.send(c)
		var got []string
		var status string
		for {
			l := r.line()
			if rest, ok := strings.CutPrefix(l, tag+" "); ok {
				status = rest
				break
			}
			got = append(got, l)
		}
		if !matchVars(status, st.status, vars, true) {
			t.Errorf("C: %s\n  status %q, want %q", st.c, status, st.status)
		}
		ok := len(got) == len(st.s)
		for i := 0; ok && i < len(got); i++ {
			ok = matchVars(got[i], st.s[i], vars, false)
		}
		if !ok {
			t.Errorf("C: %s\n  got  %q\n  want %q", st.c, got, st.s)
		}
	}
}

// RFC 3502 §3: the example, message by message. Two messages with
// synchronising literals; an APPEND to a mailbox that does not exist is
// refused before its literal is sent; and an APPEND whose second literal
// cannot fit in the quota is refused before that literal, with nothing of
// the command stored.
func TestRFC3502MultiAppendExample(t *testing.T) {
	e := newEnv(t, envOptions{})
	r, _ := e.raw(e.addr)
	login(t, r)
	mustOK(t, r, "CREATE saved-messages")
	mustOK(t, r, "CREATE test")

	first := strings.Join([]string{
		"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)",
		"From: Fred Foobar <foobar@Blurdybloop.example.COM>",
		"Subject: afternoon meeting",
		"To: mooch@owatagu.example.net",
		"Message-Id: <B27397-0100000@Blurdybloop.example.COM>",
		"MIME-Version: 1.0",
		"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII",
		"",
		"Hello Joe, do you think we can meet at 3:30 tomorrow?",
		""}, "\r\n")
	second := strings.Join([]string{
		"Date: Mon, 7 Feb 1994 22:43:04 -0800 (PST)",
		"From: Joe Mooch <mooch@OWaTaGu.example.net>",
		"Subject: Re: afternoon meeting",
		"To: foobar@blurdybloop.example.com",
		"Message-Id: <a0434793874930@OWaTaGu.example.net>",
		"MIME-Version: 1.0",
		"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII",
		"",
		"3:30 is fine with me.",
		""}, "\r\n")
	if len(first) != 329 || len(second) != 295 {
		t.Fatalf("the RFC's messages are 329 and 295 octets, not %d and %d", len(first), len(second))
	}
	cont := func(after string) {
		t.Helper()
		if l := r.line(); !strings.HasPrefix(l, "+") {
			t.Fatalf("after %s: %q, want a continuation request", after, l)
		}
	}
	r.send(`A003 APPEND saved-messages (\Seen) {329}`)
	cont("A003's first literal")
	r.send(first + ` (\Seen) " 7-Feb-1994 22:43:04 -0800" {295}`)
	cont("A003's second literal")
	r.send(second)
	if l := r.line(); !regexp.MustCompile(`^A003 OK \[APPENDUID \d+ 1:2\] `).MatchString(l) {
		t.Fatalf("A003: %q", l)
	}
	if got := e.bodies("saved-messages"); len(got) != 2 || got[0] != first || got[1] != second {
		t.Fatalf("saved-messages holds %q", got)
	}
	msgs := e.messages(testUser, "saved-messages")
	if !msgs[0].HasFlag(`\Seen`) || !msgs[1].HasFlag(`\Seen`) {
		t.Errorf("flags: %+v", msgs)
	}
	if want := time.Date(1994, 2, 8, 6, 43, 4, 0, time.UTC); !msgs[1].InternalDate.Equal(want) {
		t.Errorf("the second message's internal date is %v, want %v", msgs[1].InternalDate, want)
	}

	// No continuation for the literal: the client sends none of it.
	r.send(`A004 APPEND bogusname (\Flagged) {1023}`)
	if l := r.line(); !strings.HasPrefix(l, "A004 NO [TRYCREATE]") {
		t.Fatalf("A004: %q", l)
	}

	// The quota leaves room for the first message, not the second.
	if err := e.store.SetQuota(context.Background(), testUser, int64(len(first)+len(second)+1000)); err != nil {
		t.Fatal(err)
	}
	hmm := "Date: Mon, 7 Feb 2000 22:43:04 -0800 (PST)\r\nFrom: Fred Foobar <fred@example.com>\r\nSubject: hmm...\r\n"
	if len(hmm) != 99 {
		t.Fatalf("the RFC's third message is 99 octets, not %d", len(hmm))
	}
	r.send(`A005 APPEND test (\Flagged) {99}`)
	cont("A005's first literal")
	r.send(hmm + " {35403}")
	if l := r.line(); !strings.HasPrefix(l, "A005 NO [OVERQUOTA]") {
		t.Fatalf("A005: %q, want NO [OVERQUOTA] instead of a continuation request", l)
	}
	// The session is in step (the 35403 octets were never expected) and
	// "test" holds nothing of A005.
	mustOK(t, r, "NOOP")
	if n := len(e.messages(testUser, "test")); n != 0 {
		t.Errorf("test holds %d messages after the refused MULTIAPPEND", n)
	}
}

// RFC 8474 §4 and §5: MAILBOXID from CREATE, kept by RENAME, in STATUS
// and SELECT; EMAILID from FETCH, kept by COPY; THREADID; and the SEARCH
// keys. The RFC's "* OK rename foo renamed" is its server's chatter and
// is not sent here; mailbox names in STATUS are quoted here, as
// RFC 9051's grammar allows.
func TestRFC8474ObjectIDExamples(t *testing.T) {
	e := newEnv(t, envOptions{})
	r, _ := e.raw(e.addr)
	login(t, r)
	vars := map[string]string{}
	runVarTranscript(t, r, vars, []transcript{
		{c: "3 create foo", status: "OK [MAILBOXID (<F1>)]"},
		{c: "4 create bar", status: "OK [MAILBOXID (<F2>)]"},
		{c: "5 create foo", status: "NO"},
		{c: "5 rename foo renamed", status: "OK"},
		{c: "6 status renamed (mailboxid)", s: []string{`* STATUS "renamed" (MAILBOXID (<F1>))`}, status: "OK"},
		{c: "7 status bar (mailboxid)", s: []string{`* STATUS "bar" (MAILBOXID (<F2>))`}, status: "OK"},
	})
	msg := mail("Date: Tue, 20 Mar 2018 03:07:37 +1100\nFrom: a@example.org\nSubject: one\nMessage-ID: <one@example.org>", "one")
	reply := mail("Date: Tue, 20 Mar 2018 04:07:37 +1100\nFrom: b@example.org\nSubject: Re: one\nMessage-ID: <two@example.org>\nIn-Reply-To: <one@example.org>\nReferences: <one@example.org>", "two")
	other := mail("Date: Tue, 20 Mar 2018 05:07:37 +1100\nFrom: c@example.org\nSubject: other\nMessage-ID: <three@example.org>", "three")
	mustOK(t, r, `APPEND inbox "20-Mar-2018 03:07:37 +1100" `+lit(msg))
	mustOK(t, r, `APPEND inbox `+lit(reply))
	mustOK(t, r, `APPEND inbox `+lit(other))
	// SELECT and EXAMINE answer "* OK [MAILBOXID (...)]" among their
	// other lines (RFC 8474 §4.3).
	selectID := func(command, id string) {
		t.Helper()
		lines := mustOK(t, r, command)
		if !contains(lines, "* OK [MAILBOXID ("+id+")] Ok") {
			t.Errorf("%s: no MAILBOXID (%s) in %q", command, id, lines)
		}
	}
	selectID(`EXAMINE renamed`, vars["F1"])
	lines := mustOK(t, r, `select inbox`)
	inbox := objectID(t, lines, "MAILBOXID")
	if inbox == vars["F1"] || inbox == vars["F2"] {
		t.Errorf("INBOX has the MAILBOXID of another mailbox: %s", inbox)
	}
	runVarTranscript(t, r, vars, []transcript{
		{c: "11 uid fetch 1 (emailid)", s: []string{"* 1 FETCH (UID 1 EMAILID (<M1>))"}, status: "OK"},
		{c: "12 copy 1 foo", status: "NO [TRYCREATE]"}, // foo was renamed
		{c: "12 copy 1 bar", status: "OK [COPYUID"},
	})
	selectID(`select "bar"`, vars["F2"])
	runVarTranscript(t, r, vars, []transcript{
		{c: "14 uid fetch 1 (emailid)", s: []string{"* 1 FETCH (UID 1 EMAILID (<M1>))"}, status: "OK"},
	})
	selectID("select inbox", inbox)
	runVarTranscript(t, r, vars, []transcript{
		{c: "3 uid fetch 1:* (threadid)", s: []string{
			"* 1 FETCH (UID 1 THREADID (<T1>))",
			"* 2 FETCH (UID 2 THREADID (<T1>))",
			"* 3 FETCH (UID 3 THREADID (<T2>))",
		}, status: "OK"},
		{c: "27 search emailid <M1>", s: []string{"* SEARCH 1"}, status: "OK"},
		{c: "28 search threadid <T1>", s: []string{"* SEARCH 1 2"}, status: "OK"},
	})
}

// substitute replaces placeholders in a command with their values.
func substitute(c string, vars map[string]string) string {
	return idVar.ReplaceAllStringFunc(c, func(m string) string { return vars[idVar.FindStringSubmatch(m)[1]] })
}

// RFC 5267 §3.2: SORT RETURN (ESORT), where MIN and MAX are the first and
// last message of the sort order, not the lowest and highest numbers, and
// ALL lists the messages in sort order.
func TestRFC5267ESortExamples(t *testing.T) {
	e := newEnv(t, envOptions{})
	jan, feb := time.Date(1994, 1, 20, 0, 0, 0, 0, time.UTC), time.Date(1994, 2, 7, 0, 0, 0, 0, time.UTC)
	// Sent dates: 3 before 5 before 4 before 2; 1 is too old for SINCE.
	sent := []string{"15 Jan 1994", "10 Feb 1994", "3 Feb 1994", "8 Feb 1994", "5 Feb 1994"}
	var bodies []string
	for i, d := range sent {
		bodies = append(bodies, mail(fmt.Sprintf("Subject: %d\nDate: %s 10:00:00 +0000", i+1, d), "x"))
	}
	e.deliverAt([]time.Time{jan, feb, feb, feb, feb}, bodies)
	runTranscript(t, rfcSelected(t, e), []transcript{
		{c: "A282 SORT RETURN (MIN) (DATE) UTF-8 SINCE 1-Feb-1994", s: []string{`* ESEARCH (TAG "A282") MIN 3`}, status: "OK"},
		{c: "A283 SORT RETURN (MAX) (DATE) UTF-8 SINCE 1-Feb-1994", s: []string{`* ESEARCH (TAG "A283") MAX 2`}, status: "OK"},
		{c: "A284 SORT RETURN (ALL COUNT) (DATE) UTF-8 SINCE 1-Feb-1994", s: []string{`* ESEARCH (TAG "A284") ALL 3,5,4,2 COUNT 4`}, status: "OK"},
		{c: "A285 SORT RETURN (MIN MAX) (REVERSE DATE) UTF-8 SINCE 1-Feb-1994", s: []string{`* ESEARCH (TAG "A285") MIN 2 MAX 3`}, status: "OK"},
		{c: "A286 UID SORT RETURN (MIN ALL) (DATE) UTF-8 ALL", s: []string{`* ESEARCH (TAG "A286") UID MIN 1 ALL 1,3,5,4,2`}, status: "OK"},
		{c: "A287 SORT RETURN () (DATE) UTF-8 SINCE 1-Feb-1994", s: []string{`* ESEARCH (TAG "A287") ALL 3,5,4,2`}, status: "OK"},
		// No match: only the tag (RFC 4731 §3.1: MIN, MAX and ALL are
		// left out; COUNT is 0).
		{c: "A288 SORT RETURN (MIN MAX ALL) (DATE) UTF-8 BEFORE 1-Jan-1990", s: []string{`* ESEARCH (TAG "A288")`}, status: "OK"},
		{c: "A289 SORT RETURN (COUNT) (DATE) UTF-8 BEFORE 1-Jan-1990", s: []string{`* ESEARCH (TAG "A289") COUNT 0`}, status: "OK"},
		{c: "A290 SORT RETURN (FOO) (DATE) UTF-8 ALL", status: "BAD"},
	})
}

// RFC 8970 §3 and §4: "FETCH 1 (PREVIEW)" answers the message's text;
// PREVIEW (LAZY) may answer NIL but never an error; a message without
// text gets "". §3.3: at most 256 characters, UTF-8, and on an IMAP4rev1
// session without UTF8=ACCEPT a non-ASCII preview is a literal (a quoted
// string carries only 7-bit text there, RFC 3501 §9).
func TestRFC8970PreviewExamples(t *testing.T) {
	e := newEnv(t, envOptions{})
	long := strings.Repeat("Grüße aus Köln, ", 100)
	e.deliver(testUser,
		mail("Subject: one", "Preview text!"),
		"Content-Type: image/png\r\n\r\nxxxx\r\n",
		mail("Subject: long\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit", long),
	)
	r := rfcSelected(t, e)
	runTranscript(t, r, []transcript{
		{c: "A1 FETCH 1 (PREVIEW)", s: []string{`* 1 FETCH (PREVIEW "Preview text!")`}, status: "OK"},
		{c: "B1 FETCH 1:2 (PREVIEW (LAZY))", s: []string{`* 1 FETCH (PREVIEW "Preview text!")`, `* 2 FETCH (PREVIEW "")`}, status: "OK"},
		// A preview does not mark the message read: \Seen stays unset,
		// as with BODY.PEEK.
		{c: "B3 FETCH 1 (FLAGS)", s: []string{`* 1 FETCH (FLAGS (\Recent))`}, status: "OK"},
	})
	preview := func(utf8Quoted bool) string {
		t.Helper()
		r.send("B2 FETCH 3 (PREVIEW)")
		head := r.line()
		var text string
		if m := regexp.MustCompile(`^\* 3 FETCH \(PREVIEW \{(\d+)\}$`).FindStringSubmatch(head); m != nil {
			if utf8Quoted {
				t.Errorf("with UTF8=ACCEPT a preview need not be a literal: %q", head)
			}
			n, _ := strconv.Atoi(m[1])
			buf := make([]byte, n)
			if _, err := io.ReadFull(r.r, buf); err != nil {
				t.Fatal(err)
			}
			text = string(buf)
			if l := r.line(); l != ")" {
				t.Fatalf("after the literal: %q", l)
			}
		} else if m := regexp.MustCompile(`^\* 3 FETCH \(PREVIEW "(.*)"\)$`).FindStringSubmatch(head); m != nil && utf8Quoted {
			text = m[1]
		} else {
			t.Fatalf("B2: %q", head)
		}
		if l := r.line(); !strings.HasPrefix(l, "B2 OK") {
			t.Fatalf("B2: %q", l)
		}
		return text
	}
	for _, enabled := range []bool{false, true} {
		if enabled {
			// ENABLE is valid before SELECT only (RFC 5161 §3.1).
			r, _ = e.raw(e.addr)
			login(t, r)
			mustOK(t, r, "ENABLE UTF8=ACCEPT")
			mustOK(t, r, "SELECT INBOX")
		}
		text := preview(enabled)
		if !utf8.ValidString(text) || utf8.RuneCountInString(text) > 256 || !strings.HasPrefix(text, "Grüße aus Köln") {
			t.Errorf("preview of %d characters: %q", utf8.RuneCountInString(text), text)
		}
	}
}

package imap

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// objectID returns the id in "NAME (id)" of the lines, or fails.
func objectID(t *testing.T, lines []string, name string) string {
	t.Helper()
	re := regexp.MustCompile(name + ` \(([A-Za-z0-9_-]+)\)`)
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no %s in %q", name, lines)
	return ""
}

func wantOK(t *testing.T, what, status string) {
	t.Helper()
	if !strings.HasPrefix(status, "OK") {
		t.Fatalf("%s: %s", what, status)
	}
}

// RFC 8474 MAILBOXID: in CREATE's OK, SELECT and STATUS, kept by RENAME,
// new for a mailbox re-created under the same name.
func TestMailboxID(t *testing.T) {
	e := newEnv(t, envOptions{})
	r, _ := e.raw(e.addr)
	login(t, r)
	if lines, _ := r.cmd("CAPABILITY"); !hasCap(lines, "OBJECTID") || !hasCap(lines, "SAVEDATE") {
		t.Fatalf("no OBJECTID or SAVEDATE in %q", lines)
	}
	_, status := r.cmd("CREATE Projects")
	wantOK(t, "CREATE", status)
	created := objectID(t, []string{status}, "MAILBOXID")
	lines, status := r.cmd("STATUS Projects (MESSAGES MAILBOXID)")
	wantOK(t, "STATUS", status)
	if got := objectID(t, lines, "MAILBOXID"); got != created {
		t.Errorf("STATUS MAILBOXID %s, CREATE said %s", got, created)
	}
	_, status = r.cmd("RENAME Projects Archive/Projects")
	wantOK(t, "RENAME", status)
	lines, status = r.cmd("SELECT Archive/Projects")
	wantOK(t, "SELECT", status)
	if got := objectID(t, lines, "MAILBOXID"); got != created {
		t.Errorf("MAILBOXID after RENAME %s, want %s", got, created)
	}
	lines, _ = r.cmd(`LIST "" "Archive/*" RETURN (STATUS (MAILBOXID))`)
	if got := objectID(t, lines, "MAILBOXID"); got != created {
		t.Errorf("LIST-STATUS MAILBOXID %s, want %s", got, created)
	}
	r.cmd("UNSELECT")
	_, status = r.cmd("DELETE Archive/Projects")
	wantOK(t, "DELETE", status)
	_, status = r.cmd("CREATE Archive/Projects")
	if again := objectID(t, []string{status}, "MAILBOXID"); again == created {
		t.Errorf("a re-created mailbox got the deleted one's MAILBOXID %s", again)
	}
}

// RFC 8474 EMAILID and THREADID, RFC 8514 SAVEDATE: as FETCH items and
// search keys.
func TestEmailThreadIDAndSaveDate(t *testing.T) {
	e := newEnv(t, envOptions{})
	root := "Subject: plan\r\nMessage-ID: <root@example.org>\r\n\r\nlet us plan\r\n"
	reply := "Subject: Re: plan\r\nMessage-ID: <r1@example.org>\r\nIn-Reply-To: <root@example.org>\r\n" +
		"References: <root@example.org>\r\n\r\nyes\r\n"
	replyToReply := "Subject: Re: plan\r\nMessage-ID: <r2@example.org>\r\nIn-Reply-To: <r1@example.org>\r\n" +
		"References: <root@example.org> <r1@example.org>\r\n\r\nagreed\r\n"
	other := "Subject: lunch\r\nMessage-ID: <lunch@example.org>\r\n\r\nnoon?\r\n"
	noID := "Subject: no id\r\n\r\nanonymous\r\n"
	e.deliver(testUser, root, reply, replyToReply, other, noID)
	r, _ := e.raw(e.addr)
	login(t, r)
	_, status := r.cmd("SELECT INBOX")
	wantOK(t, "SELECT", status)

	emailIDs := map[int]string{}
	threadIDs := map[int]string{}
	for i := 1; i <= 5; i++ {
		lines, status := r.cmd("FETCH " + itoa(i) + " (EMAILID THREADID SAVEDATE)")
		wantOK(t, "FETCH", status)
		emailIDs[i] = objectID(t, lines, "EMAILID")
		threadIDs[i] = objectID(t, lines, "THREADID")
		if !regexp.MustCompile(`SAVEDATE "[ 0-9]{2}-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [-+]\d{4}"`).MatchString(strings.Join(lines, " ")) {
			t.Errorf("FETCH SAVEDATE: %q", lines)
		}
	}
	if threadIDs[1] != threadIDs[2] || threadIDs[2] != threadIDs[3] {
		t.Errorf("a thread's messages have THREADIDs %s %s %s", threadIDs[1], threadIDs[2], threadIDs[3])
	}
	if threadIDs[4] == threadIDs[1] || threadIDs[5] == threadIDs[1] || threadIDs[5] == threadIDs[4] {
		t.Errorf("unrelated messages share a THREADID: %v", threadIDs)
	}
	for i := 1; i <= 5; i++ {
		for j := i + 1; j <= 5; j++ {
			if emailIDs[i] == emailIDs[j] {
				t.Errorf("messages %d and %d share EMAILID %s", i, j, emailIDs[i])
			}
		}
	}

	search := func(keys, want string) {
		t.Helper()
		lines, status := r.cmd("SEARCH " + keys)
		wantOK(t, "SEARCH "+keys, status)
		if got := strings.Join(lines, "|"); got != "* SEARCH"+want {
			t.Errorf("SEARCH %s: %q, want %q", keys, got, "* SEARCH"+want)
		}
	}
	search("EMAILID "+emailIDs[4], " 4")
	search("EMAILID M999999", "")
	search("THREADID "+threadIDs[1], " 1 2 3")
	search("OR THREADID "+threadIDs[4]+" THREADID "+threadIDs[5], " 4 5")
	search("THREADID T0000000000000000", "")
	today := time.Now().Format("2-Jan-2006")
	search("SAVEDON "+today, " 1 2 3 4 5")
	search("SAVEDSINCE "+today, " 1 2 3 4 5")
	search("SAVEDBEFORE "+today, "")
	search("SAVEDBEFORE 1-Jan-2000", "")
	search("SAVEDATESUPPORTED", " 1 2 3 4 5")
	if _, status := r.cmd("SEARCH EMAILID bad!id"); !strings.HasPrefix(status, "BAD") {
		t.Errorf("SEARCH with a malformed EMAILID: %s", status)
	}

	// A copy keeps its EMAILID and THREADID; the save date is the copy's.
	_, status = r.cmd("COPY 2 Archive")
	wantOK(t, "COPY", status)
	_, status = r.cmd("EXAMINE Archive")
	wantOK(t, "EXAMINE", status)
	lines, status := r.cmd("FETCH 1 (EMAILID THREADID SAVEDATE)")
	wantOK(t, "FETCH", status)
	if objectID(t, lines, "EMAILID") != emailIDs[2] || objectID(t, lines, "THREADID") != threadIDs[2] {
		t.Errorf("the copy: %q, want EMAILID %s THREADID %s", lines, emailIDs[2], threadIDs[2])
	}
	search("EMAILID "+emailIDs[2], " 1")
}

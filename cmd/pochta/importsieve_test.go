package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// importSieveScript files reports, and asks for what must not leave
// during an import: a vacation reply for every message, a redirect and a
// reject.
const importSieveScript = `require ["fileinto", "mailbox", "vacation", "reject"];
if header :contains "subject" "report" { fileinto :create "Reports"; }
elsif header :contains "subject" "forward" { redirect "bob@remote.example"; }
elsif header :contains "subject" "refuse" { reject "not here"; stop; }
elsif header :contains "subject" "broken" { reject "a reject with the vacation below: a runtime error"; }
vacation :days 1 "I am away.";
`

// sourceMessage is a message as the old server stored it, from a sender
// a vacation reply would go to.
func sourceMessage(subject string) string {
	return "Return-Path: <dan@remote.example>\nFrom: dan@remote.example\nTo: alice@example.test\n" +
		"Subject: " + subject + "\n\nbody\n"
}

// writeSourceMaildir writes a Maildir++ with a dovecot-uidlist: INBOX
// holds inbox, .Archive holds archive (subjects).
func writeSourceMaildir(t *testing.T, root string, inbox, archive []string) {
	t.Helper()
	for folder, subjects := range map[string][]string{root: inbox, filepath.Join(root, ".Archive"): archive} {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(folder, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		list := fmt.Sprintf("3 V99 N%d\n", len(subjects)+1)
		for i, s := range subjects {
			base := fmt.Sprintf("%d.M%dP1.host", 1700000000+i, i)
			if err := os.WriteFile(filepath.Join(folder, "cur", base+":2,S"), []byte(sourceMessage(s)), 0o644); err != nil {
				t.Fatal(err)
			}
			list += fmt.Sprintf("%d :%s\n", i+1, base)
		}
		if err := os.WriteFile(filepath.Join(folder, "dovecot-uidlist"), []byte(list), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var subjectRE = regexp.MustCompile(`(?m)^Subject: (.*)\r$`)

// subjects lists the Subject of every message in a mailbox, by UID;
// nil when there is no such mailbox.
func subjects(t *testing.T, dir, address, mailbox string) []string {
	t.Helper()
	st := openStore(t, dir)
	defer st.Close()
	acct, err := st.Account(t.Context(), address)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.GetMailbox(t.Context(), acct.ID, mailbox)
	if err != nil {
		return nil
	}
	msgs, err := st.ListMessages(t.Context(), mb.ID, store.MessageQuery{Bodies: true})
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, m := range msgs {
		r, err := m.Open()
		if err == nil {
			var b []byte
			b, err = io.ReadAll(r)
			r.Close()
			out = append(out, subjectRE.FindStringSubmatch(string(b) + "Subject: -\r\n")[1]) // "-": none
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestImportSieve: import --sieve runs the active script over what the
// import put into INBOX, as sieve run --apply does: matching messages
// move, the others and the mail INBOX held before stay, other folders are
// not filtered, nothing is sent (no vacation reply, redirect or reject:
// the queue stays empty, and the vacation's once-per-period is not used
// up). A second run imports and filters nothing, the messages the script
// moved included. Without --sieve nothing is filtered; neither is an mbox
// import without a script.
func TestImportSieve(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	for _, a := range []string{"alice@example.test", "bob@example.test"} {
		must(t, "pw\n", "-d", dir, "user", "add", a, "--password-stdin")
	}
	// Mail INBOX held before the import, delivered without a script.
	must(t, sourceMessage("old report"), "-d", dir, "deliver", "-f", "dan@remote.example", "alice@example.test")
	for _, a := range []string{"alice@example.test", "bob@example.test"} {
		must(t, importSieveScript, "-d", dir, "sieve", "put", a, "filters", "--activate")
	}
	src := filepath.Join(t.TempDir(), "Maildir")
	writeSourceMaildir(t, src, []string{"daily report", "hello", "please forward", "refuse this", "broken", "weekly report"},
		[]string{"archived report"})

	out := must(t, "", "-d", dir, "import", "alice@example.test", src, "--sieve")
	if !strings.HasSuffix(out, "sieve alice@example.test: 6 messages filtered, 2 moved out of INBOX; "+
		"the script failed on 1, left in INBOX (first: script \"filters\": sieve: runtime error: reject together with vacation)\n") {
		t.Errorf("import --sieve:\n%s", out)
	}
	if got, want := subjects(t, dir, "alice@example.test", "INBOX"), []string{"old report", "hello", "please forward", "refuse this", "broken"}; !slices.Equal(got, want) {
		t.Errorf("INBOX holds %q, want %q", got, want)
	}
	if got, want := subjects(t, dir, "alice@example.test", "Reports"), []string{"daily report", "weekly report"}; !slices.Equal(got, want) {
		t.Errorf("Reports holds %q, want %q", got, want)
	}
	if got := subjects(t, dir, "alice@example.test", "Archive"); !slices.Equal(got, []string{"archived report"}) {
		t.Errorf("Archive holds %q: another folder was filtered", got)
	}
	if q := must(t, "", "-d", dir, "queue", "list"); q != "" {
		t.Errorf("the import sent mail:\n%s", q)
	}
	// Run again: the messages the script moved out of INBOX are known
	// there still, so nothing is imported or filtered again.
	if out := must(t, "", "-d", dir, "import", "alice@example.test", src, "--sieve"); !strings.HasPrefix(out, "imported: 0 messages") ||
		!strings.Contains(out, "already imported before: 7 messages\n") || strings.Contains(out, "sieve ") {
		t.Errorf("a second run after the script's moves:\n%s", out)
	}
	if got := subjects(t, dir, "alice@example.test", "INBOX"); len(got) != 5 {
		t.Errorf("INBOX after the second run holds %q, want the 5 of the first", got)
	}
	if got := subjects(t, dir, "alice@example.test", "Reports"); len(got) != 2 {
		t.Errorf("Reports after the second run holds %q, want the 2 of the first", got)
	}
	// The import claimed no vacation period: the next delivery replies.
	must(t, sourceMessage("hi again"), "-d", dir, "deliver", "-f", "dan@remote.example", "alice@example.test")
	if q := must(t, "", "-d", dir, "queue", "list"); strings.Count(q, "<dan@remote.example>") != 1 {
		t.Errorf("queue after a real delivery, want one vacation reply to dan:\n%s", q)
	}

	// Without --sieve: stored as the source had it.
	out = must(t, "", "-d", dir, "import", "bob@example.test", src)
	if strings.Contains(out, "sieve ") {
		t.Errorf("import without --sieve:\n%s", out)
	}
	if got := subjects(t, dir, "bob@example.test", "INBOX"); len(got) != 6 {
		t.Errorf("bob's INBOX holds %q, want all 6", got)
	}
	if got := subjects(t, dir, "bob@example.test", "Reports"); got != nil {
		t.Errorf("bob has Reports %q without --sieve", got)
	}
	// Again with --sieve: nothing new, so nothing filtered (not the
	// whole INBOX).
	if out := must(t, "", "-d", dir, "import", "bob@example.test", src, "--sieve"); strings.Contains(out, "sieve ") {
		t.Errorf("a second run filtered:\n%s", out)
	}
	if got := subjects(t, dir, "bob@example.test", "INBOX"); len(got) != 6 {
		t.Errorf("bob's INBOX after the second run: %q", got)
	}

	// An mbox into INBOX of an account without an active script.
	must(t, "", "-d", dir, "sieve", "deactivate", "bob@example.test")
	mbox := filepath.Join(t.TempDir(), "mbox")
	text := "From dan@remote.example Mon Nov 30 10:00:00 2026\n" + sourceMessage("mbox report") + "\n"
	if err := os.WriteFile(mbox, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out = must(t, "", "-d", dir, "import", "bob@example.test", mbox, "--sieve")
	if !strings.HasSuffix(out, "sieve bob@example.test: no active script, 1 messages left in INBOX\n") {
		t.Errorf("import --sieve without a script:\n%s", out)
	}
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// listRE matches a LIST or LSUB response: its attributes and the name
// (quoted or an atom).
var listRE = regexp.MustCompile(`(?m)^\* (?:LIST|LSUB) \(([^)]*)\) (?:"[^"]*"|NIL) (.+?)\r?$`)

// listed returns the names of out's LIST or LSUB responses whose
// attributes hold want and not skip ("" for none), each through rename.
func listed(out, want, skip string, rename func(string) string) []string {
	var names []string
	for _, m := range listRE.FindAllStringSubmatch(out, -1) {
		attrs := strings.Fields(strings.ToLower(m[1]))
		if (want != "" && !slices.Contains(attrs, strings.ToLower(want))) || (skip != "" && slices.Contains(attrs, strings.ToLower(skip))) {
			continue
		}
		names = append(names, rename(strings.Trim(m[2], `"`)))
	}
	slices.Sort(names)
	return names
}

// TestImportCourierKeywordsSubscriptions: real Courier-IMAP sets
// keywords (UID STORE +FLAGS, -FLAGS, over two sessions, so that its
// courierimapkeywords/ holds a :list, older ".N." updates and a newest
// plain one) and subscriptions (SUBSCRIBE, also to a name that is no
// folder and to one in UTF-8 on disk); pochta import of that Maildir,
// served by pochta serve, shows imaplib every message of every folder
// with the flags and keywords Courier serves, and IMAP LIST (SUBSCRIBED)
// the folders Courier's LSUB lists: INBOX and Trash, which Courier does
// not subscribe, are not subscribed, although a new account subscribes
// its own; Drafts, Junk and Archive, the account's own folders the
// Maildir lacks, stay subscribed.
func TestImportCourierKeywordsSubscriptions(t *testing.T) {
	prototest.NeedProgram(t, "python3", "python3")
	c := startCourier(t)
	md := filepath.Join(c.home, "Maildir")
	folders := []string{".Sent", ".Trash", ".Lists.foo"}
	for _, d := range append([]string{""}, folders...) {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(md, d, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		if d != "" {
			if err := os.WriteFile(filepath.Join(md, d, "maildirfolder"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	msg := func(subject string) string {
		return "From: a@example.org\nTo: tester@example.org\nSubject: " + subject + "\n\nhello\n"
	}
	for i := 1; i <= 4; i++ {
		courierDeliver(t, md, i, msg(fmt.Sprint("inbox ", i)))
	}
	courierDeliver(t, filepath.Join(md, ".Sent"), 7, msg("sent"))
	courierDeliver(t, filepath.Join(md, ".Trash"), 8, msg("trash"))
	courierDeliver(t, filepath.Join(md, ".Lists.foo"), 9, msg("list"))
	steps := [][]string{{
		"a SELECT INBOX", `b UID STORE 1 +FLAGS (customkw $Label1 \Seen)`, `c UID STORE 2 +FLAGS (other customkw)`,
		`d UID STORE 3 +FLAGS (gone \Flagged)`, `e UID STORE 3 -FLAGS (gone)`, `f UID STORE 4 +FLAGS (Work)`,
		"g SELECT INBOX.Sent", `h UID STORE 1 +FLAGS (sentkw $Forwarded)`,
		`i CREATE "INBOX.Entw&APw-rfe"`, "j SUBSCRIBE INBOX.Sent", "k SUBSCRIBE inbox.Lists.foo",
		`l SUBSCRIBE "INBOX.Entw&APw-rfe"`, "m SUBSCRIBE INBOX.Gone", "n LOGOUT",
	}, {
		// The second session consolidates the first's updates into :list
		// and renames them ".N.<file>"; its own STOREs are plain files.
		"a SELECT INBOX", `b UID STORE 2 +FLAGS (later)`, `c UID STORE 4 -FLAGS (work)`, "d LOGOUT",
	}}
	for _, lines := range steps {
		out := c.session(t, c.imapAddr, lines...)
		if strings.Count(out, " OK ") < len(lines) || strings.Contains(out, " NO ") || strings.Contains(out, " BAD ") {
			t.Fatalf("Courier IMAP session:\n%s", out)
		}
	}
	for _, dir := range []string{md, filepath.Join(md, ".Sent")} {
		ents, err := os.ReadDir(filepath.Join(dir, "courierimapkeywords"))
		if err != nil {
			t.Fatalf("Courier wrote no keywords: %v", err)
		}
		var files []string
		kinds := map[byte]bool{} // ':' for :list, '.' for an older update, others for the newest
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(dir, "courierimapkeywords", e.Name()))
			files = append(files, fmt.Sprintf("%s: %q", e.Name(), b))
			kinds[e.Name()[0]] = true
		}
		t.Logf("Courier's %s/courierimapkeywords:\n%s", dir, strings.Join(files, "\n"))
		if dir == md && (!kinds[':'] || len(kinds) < 2) {
			t.Errorf("INBOX's keywords are not both in :list and in update files: the test covers less than it says")
		}
	}
	b, err := os.ReadFile(filepath.Join(md, "courierimapsubscribed"))
	if err != nil {
		t.Fatalf("Courier wrote no courierimapsubscribed: %v", err)
	}
	t.Logf("Courier's courierimapsubscribed:\n%s", b)

	// What Courier serves, before the copy: its first look at a folder
	// (and the first POP3 session) numbers the messages.
	want := map[string]mailboxView{"INBOX": c.view(t, "INBOX"), "Sent": c.view(t, "INBOX.Sent"),
		"Trash": c.view(t, "INBOX.Trash"), "Lists/foo": c.view(t, "INBOX.Lists.foo")}
	src := filepath.Join(t.TempDir(), "Maildir")
	if out, err := exec.Command("cp", "-a", md, src).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	if got := want["INBOX"].Flags; got["1"] != `$Label1 \Seen customkw` || got["2"] != "customkw later other" || got["3"] != `\Flagged` || got["4"] != "" {
		t.Fatalf("Courier serves INBOX flags %v", got)
	}
	// Courier's LSUB "*" also lists, \Noselect, the unsubscribed parents
	// of subscribed names (INBOX, INBOX.Lists); no name subscribed here
	// is \Noselect.
	courierSubs := listed(c.session(t, c.imapAddr, `a LSUB "" "*"`, "b LOGOUT"), "", `\Noselect`, func(n string) string {
		return strings.ReplaceAll(strings.TrimPrefix(n, "INBOX."), ".", "/")
	})
	if want := []string{"Entw&APw-rfe", "Gone", "Lists/foo", "Sent"}; !slices.Equal(courierSubs, want) {
		t.Fatalf("Courier's LSUB %q, want %q", courierSubs, want)
	}

	dir := newDir(t)
	must(t, "secret-pw\n", "-d", dir, "user", "add", "tester@example.test", "--password-stdin")
	out := must(t, "", "-d", dir, "import", "tester@example.test", src)
	t.Logf("pochta import:\n%s", out)
	if !strings.Contains(out, "imported: 7 messages") || strings.Contains(out, "skipped") {
		t.Errorf("import:\n%s", out)
	}
	s := serve(t, dir)
	compareServedBy(t, s, want)
	got := listed(c.session(t, s.addr("imap"), "a LOGIN tester@example.test secret-pw", `b LIST (SUBSCRIBED) "" "*"`, "c LOGOUT"),
		`\Subscribed`, "", func(n string) string { return n })
	if want := append([]string{"Archive", "Drafts", "Junk"}, courierSubs...); !slices.Equal(got, sortedCopy(want)) {
		t.Errorf("Pochta subscribes %q, want Courier's %q and the account's own Archive, Drafts and Junk", got, courierSubs)
	}
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

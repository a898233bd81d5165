package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/migrate/dovecottest"
)

// TestImportDovecotSubscriptions: real Dovecot subscribes and
// unsubscribes folders over IMAP (a nested one, one with a non-ASCII
// name, one it then deletes, which stays subscribed; Trash and a folder
// it never subscribes; not INBOX), writing its subscriptions file in
// version 2; a second Dovecot does the same on a version 1 file (as
// Dovecot 2.0 and older left it, which 2.3 keeps in that version). After
// pochta import of each Maildir, pochta serve's LSUB and LIST
// (SUBSCRIBED) list the names Dovecot's LSUB lists, plus the account's
// own Archive, Drafts and Junk, which the Maildirs lack: INBOX, Trash and
// the never-subscribed folder, which a new account or the import would
// otherwise subscribe, are not.
func TestImportDovecotSubscriptions(t *testing.T) {
	msg := "From: a@example.org\nTo: tester@example.org\nSubject: hi\n\nhello\n"
	setup := []string{`a CREATE Sent`, `b CREATE Trash`, `c CREATE Lists.foo`, `d CREATE "Entw&APw-rfe"`,
		`e CREATE Notes`, `f CREATE Old`}
	cases := []struct {
		name, account string
		v1            string // a version 1 file written before Dovecot's sessions, "" for none
		sessions      [][]string
		want          []string // Dovecot's LSUB, Pochta's names
	}{{
		name: "version 2", account: "tester@example.test",
		sessions: [][]string{setup, {
			`a SUBSCRIBE Lists.foo`, `b SUBSCRIBE "Entw&APw-rfe"`, `c SUBSCRIBE Sent`, `d SUBSCRIBE Trash`,
			`e SUBSCRIBE Old`, `f SUBSCRIBE INBOX`,
		}, {
			`a UNSUBSCRIBE Trash`, `b UNSUBSCRIBE INBOX`, `c DELETE Old`,
		}},
		want: []string{"Entw&APw-rfe", "Lists/foo", "Old", "Sent"},
	}, {
		name: "version 1", account: "other@example.test",
		v1: "Lists.foo\nSent\nTrash\nOld\n",
		sessions: [][]string{setup, {
			`a SUBSCRIBE "Entw&APw-rfe"`, `b UNSUBSCRIBE Trash`, `c DELETE Old`,
		}},
		want: []string{"Entw&APw-rfe", "Lists/foo", "Old", "Sent"},
	}}

	var dir string
	for _, tc := range cases {
		d := dovecottest.Start(t, "maildir:~/Maildir") // (skips the test without Dovecot)
		d.Deliver("INBOX", msg)
		md := filepath.Join(d.Home, "Maildir")
		subsFile := filepath.Join(md, "subscriptions")
		if tc.v1 != "" {
			if err := os.WriteFile(subsFile, []byte(tc.v1), 0o600); err != nil {
				t.Fatal(err)
			}
			d.Own(subsFile)
		}
		for _, lines := range tc.sessions {
			out := d.IMAP(append(lines, "z LOGOUT")...)
			if strings.Count(out, " OK ") < len(lines)+1 || strings.Contains(out, " NO ") || strings.Contains(out, " BAD ") {
				t.Fatalf("%s: Dovecot IMAP session:\n%s", tc.name, out)
			}
		}
		d.Deliver("Lists.foo", msg)
		b, err := os.ReadFile(subsFile)
		if err != nil {
			t.Fatalf("%s: Dovecot wrote no subscriptions file: %v", tc.name, err)
		}
		t.Logf("%s: Dovecot's subscriptions file: %q", tc.name, b)
		if v2 := strings.HasPrefix(string(b), "V\t2\n\n"); v2 != (tc.v1 == "") {
			t.Fatalf("%s: Dovecot's file %q: the test covers another version than it says", tc.name, b)
		}
		// Dovecot's LSUB "*" may list an unsubscribed parent as \Noselect;
		// none is expected here, and none is a subscription.
		got := listed(d.IMAP(`a LSUB "" "*"`, "b LOGOUT"), "", `\Noselect`, func(n string) string {
			return strings.ReplaceAll(n, ".", "/")
		})
		if !slices.Equal(got, tc.want) {
			t.Fatalf("%s: Dovecot's LSUB %q, want %q", tc.name, got, tc.want)
		}

		if dir == "" {
			dir = newDir(t)
		}
		must(t, "secret-pw\n", "-d", dir, "user", "add", tc.account, "--password-stdin")
		out := must(t, "", "-d", dir, "import", tc.account, d.Home)
		t.Logf("%s: pochta import:\n%s", tc.name, out)
		if !strings.Contains(out, "imported: 2 messages") || !strings.Contains(out, "in 6 folders") || strings.Contains(out, "skipped") {
			t.Errorf("%s: import:\n%s", tc.name, out)
		}
	}

	s := serve(t, dir)
	for _, tc := range cases {
		want := sortedCopy(append([]string{"Archive", "Drafts", "Junk"}, tc.want...))
		out := lineSession(t, s.addr("imap"), "a LOGIN "+tc.account+" secret-pw", `b LSUB "" "*"`,
			`c LIST (SUBSCRIBED) "" "*"`, "d LOGOUT")
		lsub := listed(strings.Join(slices.DeleteFunc(strings.SplitAfter(out, "\n"), func(l string) bool {
			return !strings.HasPrefix(l, "* LSUB ")
		}), ""), "", `\Noselect`, func(n string) string { return n })
		list := listed(out, `\Subscribed`, "", func(n string) string { return n })
		if !slices.Equal(lsub, want) || !slices.Equal(list, want) {
			t.Errorf("%s: Pochta's LSUB %q and LIST (SUBSCRIBED) %q, want Dovecot's %q and the account's own Archive, Drafts and Junk\n%s",
				tc.name, lsub, list, tc.want, out)
		}
	}
}

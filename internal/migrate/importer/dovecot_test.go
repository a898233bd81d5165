package importer

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDovecotSubscriptions: Dovecot's subscriptions file (version 2, and
// the older version 1) decides which imported folders are subscribed, as
// Courier's does: a folder it does not list (INBOX, Trash) is not,
// although the new account subscribed its own INBOX and Trash; a listed
// name without a folder (Dovecot keeps the subscription of a deleted
// folder) is subscribed; the account's other folders are left alone. A
// line that names no folder of the Maildir is reported. A dry run
// changes no subscription. Next to Courier's courierimapsubscribed,
// Dovecot's file is the one read.
func TestDovecotSubscriptions(t *testing.T) {
	st := newStore(t, "a@example.test", "b@example.test", "c@example.test")
	tree := func() string {
		src := filepath.Join(t.TempDir(), "Maildir")
		for _, dir := range []string{"", ".Sent", ".Trash", ".Lists.foo", ".Entw&APw-rfe"} {
			writeMaildir(t, filepath.Join(src, dir), 1, "")
		}
		return src
	}
	wantSubs := []string{"Archive", "Drafts", "Entwürfe", "Junk", "Lists/foo", "Old", "Sent"}

	src := tree()
	writeFile(t, filepath.Join(src, "subscriptions"), "V\t2\n\nLists\tfoo\nEntw&APw-rfe\nSent\nOld\nshared/bob/INBOX\n")
	sum := importAfterDryRun(t, st, "a@example.test", src)
	if sum.Messages != 5 || len(sum.Problems) != 1 || !strings.Contains(sum.Problems[0].String(), `subscriptions: subscription "shared/bob/INBOX"`) {
		t.Errorf("summary %+v, want 5 messages and the other namespace's subscription reported", sum)
	}
	if got := subscriptions(t, st, "a@example.test"); !slices.Equal(got, wantSubs) {
		t.Errorf("version 2: subscriptions %q, want %q", got, wantSubs)
	}

	// Version 1, and Courier's file next to it (not read).
	s := &Service{Store: st}
	src = tree()
	writeFile(t, filepath.Join(src, "subscriptions"), "Lists.foo\nEntw&APw-rfe\nSent.\nOld\n")
	writeFile(t, filepath.Join(src, "courierimapsubscribed"), "INBOX\nINBOX.Trash\n")
	if _, err := s.Account(context.Background(), "b@example.test", src); err != nil {
		t.Fatal(err)
	}
	if got := subscriptions(t, st, "b@example.test"); !slices.Equal(got, wantSubs) {
		t.Errorf("version 1: subscriptions %q, want %q", got, wantSubs)
	}

	// An empty file: Dovecot subscribes nothing, and no imported folder
	// stays subscribed.
	src = tree()
	writeFile(t, filepath.Join(src, "subscriptions"), "V\t2\n\n")
	if _, err := s.Account(context.Background(), "c@example.test", src); err != nil {
		t.Fatal(err)
	}
	if got, want := subscriptions(t, st, "c@example.test"), []string{"Archive", "Drafts", "Junk"}; !slices.Equal(got, want) {
		t.Errorf("empty file: subscriptions %q, want %q", got, want)
	}
}

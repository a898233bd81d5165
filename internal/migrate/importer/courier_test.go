package importer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// writeCourierMaildir turns a writeMaildir folder into one Courier-IMAP
// left: courierimapuiddb instead of dovecot-uidlist (UIDs 10, 11, ...),
// and kw as courierimapkeywords/:list when not "".
func writeCourierMaildir(t *testing.T, dir string, n int, kw string) {
	t.Helper()
	writeMaildir(t, dir, n, "")
	uiddb := "1 777 100\n"
	for i := range n {
		uiddb += fmt.Sprintf("%d 170000000%d.M%dP1.host\n", 10+i, i, i)
	}
	if err := os.Remove(filepath.Join(dir, "dovecot-uidlist")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "courierimapuiddb"), uiddb)
	if kw != "" {
		if err := os.Mkdir(filepath.Join(dir, "courierimapkeywords"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "courierimapkeywords", ":list"), kw)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// flagsByUID reads every message's flags from the store.
func flagsByUID(t *testing.T, st *sqlite.Store, address, mailbox string) map[uint32][]string {
	t.Helper()
	ctx := context.Background()
	a, err := st.Account(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.GetMailbox(ctx, a.ID, mailbox)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.ListMessages(ctx, mb.ID, store.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32][]string{}
	for _, m := range msgs {
		out[m.UID] = m.Flags
	}
	return out
}

// importAfterDryRun imports src into address, first as a dry run, which
// must leave the account's subscriptions as they were.
func importAfterDryRun(t *testing.T, st *sqlite.Store, address, src string) Summary {
	t.Helper()
	before := subscriptions(t, st, address)
	s := &Service{Store: st, Opt: Options{DryRun: true}}
	if _, err := s.Account(context.Background(), address, src); err != nil {
		t.Fatal(err)
	}
	if got := subscriptions(t, st, address); !slices.Equal(got, before) {
		t.Errorf("a dry run changed the subscriptions %q to %q", before, got)
	}
	s.Opt.DryRun = false
	sum, err := s.Account(context.Background(), address, src)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func subscriptions(t *testing.T, st *sqlite.Store, address string) []string {
	t.Helper()
	a, err := st.Account(context.Background(), address)
	if err != nil {
		t.Fatal(err)
	}
	subs, err := st.Subscriptions(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return subs
}

// TestCourierKeywordsAndSubscriptions: a Courier Maildir's keywords
// (courierimapkeywords/) arrive with their messages, and its
// subscriptions (courierimapsubscribed) decide which imported folders are
// subscribed: a folder it does not list (INBOX, Trash) is not, although
// the new account subscribed its own INBOX and Trash; a listed name
// without a folder is subscribed; the account's other folders are left
// alone. A dry run changes no subscription; a Maildir without the file
// gets every imported folder subscribed, as before.
func TestCourierKeywordsAndSubscriptions(t *testing.T) {
	st := newStore(t, "a@example.test", "b@example.test")
	src := filepath.Join(t.TempDir(), "Maildir")
	writeCourierMaildir(t, src, 3, "customkw\nother\n$Label1\n\n1700000000.M0P1.host:2 0\n1700000002.M2P1.host:0 1\n")
	writeCourierMaildir(t, filepath.Join(src, ".Sent"), 1, "stale\n")
	writeCourierMaildir(t, filepath.Join(src, ".Trash"), 1, "")
	writeCourierMaildir(t, filepath.Join(src, ".Lists.foo"), 1, "")
	writeFile(t, filepath.Join(src, ".Sent", "courierimapkeywords", "1700000000.M0P1.host"), "sentkw\n")
	writeFile(t, filepath.Join(src, "courierimapsubscribed"), "INBOX.Sent\nINBOX.Lists.foo\nINBOX.Gone\nshared.news\n")

	sum := importAfterDryRun(t, st, "a@example.test", src)
	if sum.Messages != 6 || len(sum.Problems) != 1 {
		t.Errorf("summary %+v, want 6 messages and the shared folder reported", sum)
	}
	want := map[uint32][]string{10: {`$Label1`, `\Seen`, "customkw"}, 11: {`\Seen`}, 12: {`\Seen`, "customkw", "other"}}
	if got := flagsByUID(t, st, "a@example.test", "INBOX"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("INBOX flags %v, want %v", got, want)
	}
	if got := flagsByUID(t, st, "a@example.test", "Sent"); fmt.Sprint(got) != fmt.Sprint(map[uint32][]string{10: {`\Seen`, "sentkw"}}) {
		t.Errorf("Sent flags %v", got)
	}
	wantSubs := []string{"Archive", "Drafts", "Gone", "Junk", "Lists/foo", "Sent"}
	if got := subscriptions(t, st, "a@example.test"); !slices.Equal(got, wantSubs) {
		t.Errorf("subscriptions %q, want %q", got, wantSubs)
	}

	other := filepath.Join(t.TempDir(), "Maildir")
	writeCourierMaildir(t, other, 1, "")
	writeCourierMaildir(t, filepath.Join(other, ".Old"), 1, "")
	s := &Service{Store: st}
	if _, err := s.Account(context.Background(), "b@example.test", other); err != nil {
		t.Fatal(err)
	}
	wantSubs = []string{"Archive", "Drafts", "INBOX", "Junk", "Old", "Sent", "Trash"}
	if got := subscriptions(t, st, "b@example.test"); !slices.Equal(got, wantSubs) {
		t.Errorf("without courierimapsubscribed: subscriptions %q, want %q", got, wantSubs)
	}
}

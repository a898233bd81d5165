package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

func mailboxNames(t *testing.T, s store.Store, a store.Account) []string {
	t.Helper()
	ms, err := s.ListMailboxes(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func getMailbox(t *testing.T, s store.Store, a store.Account, name string) store.Mailbox {
	t.Helper()
	m, err := s.GetMailbox(context.Background(), a.ID, name)
	if err != nil {
		t.Fatalf("GetMailbox(%q): %v", name, err)
	}
	return m
}

func testDefaultFolders(t *testing.T, s store.Store) {
	a := account(t, s, "folders@example.org")
	ms, err := s.ListMailboxes(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	uses := map[string]string{}
	for _, m := range ms {
		uses[m.Name] = m.SpecialUse
		if m.UIDValidity == 0 || m.UIDNext != 1 || !m.Subscribed || m.AccountID != a.ID {
			t.Errorf("new mailbox %+v: want UIDVALIDITY set, UIDNEXT 1, subscribed", m)
		}
	}
	want := map[string]string{"INBOX": ""}
	for _, f := range store.DefaultFolders() {
		want[f.Name] = f.SpecialUse
	}
	if len(uses) != len(want) {
		t.Errorf("mailboxes %v, want %v", uses, want)
	}
	for name, use := range want {
		if got, ok := uses[name]; !ok || got != use {
			t.Errorf("mailbox %q: special-use %q (exists %v), want %q", name, got, ok, use)
		}
	}
	if m := getMailbox(t, s, a, "inbox"); m.Name != "INBOX" {
		t.Errorf("GetMailbox(inbox).Name = %q", m.Name)
	}
}

func testCreateDeleteMailbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "create@example.org")
	other := account(t, s, "other@example.org")
	m, err := s.CreateMailbox(ctx, a.ID, "Lists/go/nuts", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "Lists/go/nuts" || m.UIDNext != 1 || m.ID == 0 {
		t.Errorf("created %+v", m)
	}
	names := mailboxNames(t, s, a)
	for _, want := range []string{"Lists", "Lists/go", "Lists/go/nuts"} {
		if !slices.Contains(names, want) {
			t.Errorf("after CREATE Lists/go/nuts: %v lacks %q (parents are created)", names, want)
		}
	}
	if slices.Contains(mailboxNames(t, s, other), "Lists") {
		t.Errorf("another account sees the new mailbox")
	}
	_, err = s.CreateMailbox(ctx, a.ID, "Lists/go", "")
	wantErr(t, "CreateMailbox of an existing name", err, store.ErrExists)
	_, err = s.CreateMailbox(ctx, a.ID, "inbox", "")
	wantErr(t, "CreateMailbox(inbox)", err, store.ErrExists)
	for _, bad := range []string{"", "a//b", "/a", "a/", "a*", "b%", "tab\there", strings.Repeat("x", 600)} {
		_, err = s.CreateMailbox(ctx, a.ID, bad, "")
		wantErr(t, "CreateMailbox("+bad+")", err, store.ErrInvalid)
	}
	sp, err := s.CreateMailbox(ctx, a.ID, "Everything", store.UseAll)
	if err != nil || sp.SpecialUse != store.UseAll {
		t.Errorf("CreateMailbox with special-use: %+v, %v", sp, err)
	}

	err = s.DeleteMailbox(ctx, a.ID, "Lists/go")
	wantErr(t, "DeleteMailbox with children", err, store.ErrExists)
	wantErr(t, "DeleteMailbox(INBOX)", s.DeleteMailbox(ctx, a.ID, "Inbox"), store.ErrInvalid)
	wantErr(t, "DeleteMailbox(unknown)", s.DeleteMailbox(ctx, a.ID, "nope"), store.ErrNotFound)

	// Deleting a mailbox deletes its messages.
	nuts := getMailbox(t, s, a, "Lists/go/nuts")
	appendMsg(t, s, nuts, msgBody(1))
	if err := s.DeleteMailbox(ctx, a.ID, "Lists/go/nuts"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "Lists/go"); err != nil {
		t.Errorf("DeleteMailbox after its child went: %v", err)
	}
	if _, err := s.ListMessages(ctx, nuts.ID, store.MessageQuery{}); err != nil {
		t.Errorf("ListMessages of a deleted mailbox: %v", err)
	}
	// A re-created name is a new mailbox: new id, UIDs from 1 again, and
	// never the old messages.
	again, err := s.CreateMailbox(ctx, a.ID, "Lists/go/nuts", "")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == nuts.ID {
		t.Errorf("re-created mailbox reuses id %d", again.ID)
	}
	if msgs := list(t, s, again); len(msgs) != 0 {
		t.Errorf("re-created mailbox has %d messages", len(msgs))
	}
	// Within the same second too, its UIDs start again, so its
	// UIDVALIDITY must differ (RFC 9051 2.3.1.1).
	if again.UIDValidity == nuts.UIDValidity {
		t.Errorf("re-created mailbox kept UIDVALIDITY %d", again.UIDValidity)
	}
}

// testRecreatedAccountUIDLs: an account deleted and created again at once
// under the same address must not repeat its predecessor's UIDLs, or a
// POP3 client that leaves mail on the server would skip the new mail.
func testRecreatedAccountUIDLs(t *testing.T, s store.Store) {
	ctx := context.Background()
	old := account(t, s, "again@example.org")
	deliver(t, s, msgBody(1), old)
	oldUIDLs := uidls(t, s, old)
	if err := s.DeleteAccount(ctx, old.Address); err != nil {
		t.Fatal(err)
	}
	renewed := account(t, s, "again@example.org")
	deliver(t, s, msgBody(1), renewed)
	for _, u := range uidls(t, s, renewed) {
		if slices.Contains(oldUIDLs, u) {
			t.Errorf("re-created account repeats UIDL %q", u)
		}
	}
}

// uidls returns the UIDLs of an account's maildrop.
func uidls(t *testing.T, s store.Store, a store.Account) []string {
	t.Helper()
	drop, err := s.OpenMaildrop(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer drop.Close()
	var out []string
	for _, m := range drop.Messages() {
		out = append(out, m.UIDL)
	}
	return out
}

func testRenameMailbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "rename@example.org")
	for _, n := range []string{"Work/2024", "Work/2025", "Workshop"} {
		if _, err := s.CreateMailbox(ctx, a.ID, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	w := getMailbox(t, s, a, "Work/2024")
	appendMsg(t, s, w, msgBody(1))
	if err := s.RenameMailbox(ctx, a.ID, "Work", "Old/Jobs"); err != nil {
		t.Fatal(err)
	}
	names := mailboxNames(t, s, a)
	for _, want := range []string{"Old", "Old/Jobs", "Old/Jobs/2024", "Old/Jobs/2025", "Workshop"} {
		if !slices.Contains(names, want) {
			t.Errorf("after rename: %v lacks %q", names, want)
		}
	}
	for _, gone := range []string{"Work", "Work/2024"} {
		if slices.Contains(names, gone) {
			t.Errorf("after rename: %v still has %q", names, gone)
		}
	}
	moved := getMailbox(t, s, a, "Old/Jobs/2024")
	if moved.ID != w.ID || moved.UIDValidity != w.UIDValidity || len(list(t, s, moved)) != 1 {
		t.Errorf("renamed mailbox %+v lost its identity or messages (was %+v)", moved, w)
	}
	wantErr(t, "rename onto an existing name", s.RenameMailbox(ctx, a.ID, "Workshop", "Old"), store.ErrExists)
	wantErr(t, "rename of an unknown name", s.RenameMailbox(ctx, a.ID, "Nope", "Yes"), store.ErrNotFound)
	wantErr(t, "rename into itself", s.RenameMailbox(ctx, a.ID, "Old", "Old/inner"), store.ErrInvalid)

	// RFC 9051 6.3.6: renaming INBOX moves its messages to the new name
	// and leaves INBOX in place, empty.
	deliver(t, s, msgBody(2), a)
	deliver(t, s, msgBody(3), a)
	inbox := getMailbox(t, s, a, "INBOX")
	if err := s.RenameMailbox(ctx, a.ID, "INBOX", "Saved"); err != nil {
		t.Fatal(err)
	}
	if got := list(t, s, getMailbox(t, s, a, "INBOX")); len(got) != 0 {
		t.Errorf("INBOX after rename has %d messages", len(got))
	}
	saved := getMailbox(t, s, a, "Saved")
	if got := list(t, s, saved); len(got) != 2 {
		t.Errorf("Saved has %d messages, want 2", len(got))
	}
	if got := bodies(t, s, a); len(got) != 0 {
		t.Errorf("POP3 maildrop after renaming INBOX: %d messages", len(got))
	}
	// New mail still goes to INBOX, with a UID above the moved ones.
	deliver(t, s, msgBody(4), a)
	if got := list(t, s, getMailbox(t, s, a, "INBOX")); len(got) != 1 || got[0].UID < inbox.UIDNext {
		t.Errorf("INBOX after a new delivery: %+v (UIDNEXT was %d)", got, inbox.UIDNext)
	}
}

func testSubscribeAndStatus(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "status@example.org")
	if err := s.SetSubscribed(ctx, a.ID, "Junk", false); err != nil {
		t.Fatal(err)
	}
	if getMailbox(t, s, a, "Junk").Subscribed {
		t.Errorf("Junk still subscribed")
	}
	// Subscriptions are names: one without a mailbox is kept.
	if err := s.SetSubscribed(ctx, a.ID, "Nope/Child", true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSubscribed(ctx, a.ID, "Nope/Child", true); err != nil {
		t.Fatal("subscribing twice:", err)
	}

	for i := range 4 {
		deliver(t, s, msgBody(i), a)
	}
	inbox := getMailbox(t, s, a, "INBOX")
	uids := uidsOf(list(t, s, inbox))
	if _, err := s.UpdateFlags(ctx, inbox.ID, uids[:2], store.FlagsAdd, []string{`\seen`}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFlags(ctx, inbox.ID, uids[1:2], store.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	st, err := s.MailboxStatus(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for i := range 4 {
		size += int64(len(msgBody(i)))
	}
	if st.Messages != 4 || st.Unseen != 2 || st.Deleted != 1 || st.Size != size || st.UIDNext != uids[3]+1 {
		t.Errorf("status %+v, want 4 messages, 2 unseen, 1 deleted, size %d, UIDNEXT %d", st, size, uids[3]+1)
	}
	_, err = s.MailboxStatus(ctx, inbox.ID+10000)
	wantErr(t, "MailboxStatus(unknown)", err, store.ErrNotFound)
}

// testSubscriptionsAreNames: CREATE does not subscribe, DELETE keeps the
// subscription, RENAME leaves it (RFC 9051 6.3.7).
func testSubscriptionsAreNames(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "subs@example.org")
	subs := func() string {
		t.Helper()
		names, err := s.Subscriptions(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(names, ",")
	}
	if got := subs(); got != "Archive,Drafts,INBOX,Junk,Sent,Trash" {
		t.Fatalf("new account subscribes to %q", got)
	}
	if _, err := s.CreateMailbox(ctx, a.ID, "Lists/Go", ""); err != nil {
		t.Fatal(err)
	}
	if getMailbox(t, s, a, "Lists/Go").Subscribed || strings.Contains(subs(), "Lists") {
		t.Fatalf("CREATE subscribed: %q", subs())
	}
	if err := s.SetSubscribed(ctx, a.ID, "Lists/Go", true); err != nil {
		t.Fatal(err)
	}
	if !getMailbox(t, s, a, "Lists/Go").Subscribed {
		t.Fatal("not subscribed")
	}
	if err := s.RenameMailbox(ctx, a.ID, "Lists", "Groups"); err != nil {
		t.Fatal(err)
	}
	if got := subs(); got != "Archive,Drafts,INBOX,Junk,Lists/Go,Sent,Trash" {
		t.Fatalf("after RENAME: %q", got)
	}
	if getMailbox(t, s, a, "Groups/Go").Subscribed {
		t.Fatal("the renamed mailbox is subscribed")
	}
	if err := s.SetSubscribed(ctx, a.ID, "Lists/Go", false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSubscribed(ctx, a.ID, "Groups/Go", true); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "Groups/Go"); err != nil {
		t.Fatal(err)
	}
	if got := subs(); got != "Archive,Drafts,Groups/Go,INBOX,Junk,Sent,Trash" {
		t.Fatalf("DELETE dropped the subscription: %q", got)
	}
	if err := s.SetSubscribed(ctx, a.ID, "Groups/Go", false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSubscribed(ctx, a.ID, "bad%name", true); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("subscribing an invalid name: %v", err)
	}
	if got := subs(); got != "Archive,Drafts,INBOX,Junk,Sent,Trash" {
		t.Fatalf("after UNSUBSCRIBE: %q", got)
	}
}

// testClaimRecent: each new message is \Recent for exactly one claimer.
func testClaimRecent(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "recent@example.org")
	inbox := getMailbox(t, s, a, "INBOX")
	after, upTo, err := s.ClaimRecent(ctx, inbox.ID)
	if err != nil || after != upTo {
		t.Fatalf("empty mailbox: %d %d %v", after, upTo, err)
	}
	for i := range 3 {
		deliver(t, s, msgBody(i), a)
	}
	st, err := s.MailboxStatus(ctx, inbox.ID)
	if err != nil || st.Recent != 3 {
		t.Fatalf("status before the claim: %+v %v", st, err)
	}
	uids := uidsOf(list(t, s, inbox))
	// Concurrent claimers: every UID is claimed exactly once.
	type claim struct{ after, upTo uint32 }
	got := make(chan claim, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, u, err := s.ClaimRecent(ctx, inbox.ID)
			if err != nil && !errors.Is(err, store.ErrTemporary) {
				t.Error(err)
			}
			got <- claim{a, u}
		}()
	}
	wg.Wait()
	close(got)
	claimed := 0
	for c := range got {
		if c.upTo > c.after {
			claimed++
			if c.after >= uids[0] || c.upTo != uids[2] {
				t.Errorf("claim (%d, %d], want (.., %d]", c.after, c.upTo, uids[2])
			}
		}
	}
	if claimed != 1 {
		t.Fatalf("%d claims of the same messages", claimed)
	}
	if m := getMailbox(t, s, a, "INBOX"); m.RecentUID != uids[2] {
		t.Errorf("RecentUID %d, want %d", m.RecentUID, uids[2])
	}
	if st, _ := s.MailboxStatus(ctx, inbox.ID); st.Recent != 0 {
		t.Errorf("status after the claim: %+v", st)
	}
	_, _, err = s.ClaimRecent(ctx, inbox.ID+10000)
	wantErr(t, "ClaimRecent(unknown)", err, store.ErrNotFound)
}

package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// The store side of CONDSTORE and QRESYNC (RFC 7162): mod-sequences on
// every change, conditional flag updates, expunge tombstones.

func modSeq(t *testing.T, s store.Store, m store.Mailbox) uint64 {
	t.Helper()
	n, err := s.MailboxModSeq(context.Background(), m.ID)
	if err != nil {
		t.Fatalf("MailboxModSeq(%s): %v", m.Name, err)
	}
	return n
}

func expunged(t *testing.T, s store.Store, m store.Mailbox, since uint64) []uint32 {
	t.Helper()
	uids, complete, err := s.Expunged(context.Background(), m.ID, since)
	if err != nil {
		t.Fatalf("Expunged(%s, %d): %v", m.Name, since, err)
	}
	if !complete {
		t.Errorf("Expunged(%s, %d) incomplete, with a handful of tombstones", m.Name, since)
	}
	return uids
}

// checkModSeqs fails unless every message of m has a ModSeq in (0, the
// mailbox's ModSeq].
func checkModSeqs(t *testing.T, s store.Store, m store.Mailbox) {
	t.Helper()
	highest := modSeq(t, s, m)
	for _, msg := range list(t, s, m) {
		if msg.ModSeq == 0 || msg.ModSeq > highest {
			t.Errorf("%s UID %d: ModSeq %d, mailbox ModSeq %d", m.Name, msg.UID, msg.ModSeq, highest)
		}
	}
}

func testModSeqOnEveryChange(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "modseq@example.org")
	inbox := getMailbox(t, s, a, "INBOX")
	archive := getMailbox(t, s, a, "Archive")

	// Delivery and APPEND: the new message gets the bumped mod-sequence,
	// above every earlier one (RFC 7162 §3.1), so CHANGEDSINCE finds it.
	m0 := modSeq(t, s, inbox)
	deliver(t, s, msgBody(0), a)
	m1 := modSeq(t, s, inbox)
	uid := appendMsg(t, s, inbox, msgBody(1))
	m2 := modSeq(t, s, inbox)
	if !(m0 < m1 && m1 < m2) {
		t.Errorf("mod-sequence over delivery and APPEND: %d, %d, %d", m0, m1, m2)
	}
	msgs := list(t, s, inbox)
	if len(msgs) != 2 || msgs[0].ModSeq != m1 || msgs[1].ModSeq != m2 || msgs[1].UID != uid {
		t.Errorf("delivered and appended messages %+v, want ModSeq %d and %d", msgs, m1, m2)
	}
	since, err := s.ListMessages(ctx, inbox.ID, store.MessageQuery{SinceModSeq: m1})
	if err != nil || !slices.Equal(uidsOf(since), []uint32{uid}) {
		t.Errorf("changed since %d: %v, %v; want the appended UID %d", m1, uidsOf(since), err, uid)
	}

	// COPY and MOVE: the copies are new messages of the destination.
	a0 := modSeq(t, s, archive)
	res, err := s.CopyMessages(ctx, inbox.ID, []uint32{msgs[0].UID}, archive.ID)
	if err != nil {
		t.Fatal(err)
	}
	a1 := modSeq(t, s, archive)
	if modSeq(t, s, inbox) != m2 {
		t.Errorf("COPY moved the source's mod-sequence")
	}
	mv, err := s.MoveMessages(ctx, inbox.ID, []uint32{uid}, archive.ID)
	if err != nil {
		t.Fatal(err)
	}
	a2 := modSeq(t, s, archive)
	if !(a0 < a1 && a1 < a2) {
		t.Errorf("destination mod-sequence over COPY and MOVE: %d, %d, %d", a0, a1, a2)
	}
	if m3 := modSeq(t, s, inbox); m3 <= m2 {
		t.Errorf("MOVE left the source's mod-sequence at %d", m3)
	}
	got := list(t, s, archive)
	if len(got) != 2 || got[0].UID != res.Dest[0] || got[0].ModSeq != a1 || got[1].UID != mv.Dest[0] || got[1].ModSeq != a2 {
		t.Errorf("archive after COPY and MOVE: %+v, want ModSeq %d and %d", got, a1, a2)
	}

	// Flags: one new mod-sequence for the whole change; unchanged
	// messages keep theirs.
	deliver(t, s, msgBody(2), a)
	uids := uidsOf(list(t, s, inbox))
	before := list(t, s, inbox)
	changed, err := s.UpdateFlags(ctx, inbox.ID, uids, store.FlagsAdd, []string{store.FlagSeen})
	if err != nil || len(changed) != 2 || changed[0].ModSeq != changed[1].ModSeq || changed[0].ModSeq != modSeq(t, s, inbox) {
		t.Fatalf("UpdateFlags: %+v, %v", changed, err)
	}
	if changed[0].ModSeq <= before[1].ModSeq {
		t.Errorf("flag change stamped %d, not above %d", changed[0].ModSeq, before[1].ModSeq)
	}
	if _, err := s.UpdateFlags(ctx, inbox.ID, uids[:1], store.FlagsAdd, []string{store.FlagFlagged}); err != nil {
		t.Fatal(err)
	}
	after := list(t, s, inbox)
	if after[1].ModSeq != changed[1].ModSeq {
		t.Errorf("untouched message's ModSeq %d -> %d", changed[1].ModSeq, after[1].ModSeq)
	}
	// Renaming INBOX moves its messages into a mailbox whose mod-sequence
	// is at least theirs.
	if err := s.RenameMailbox(ctx, a.ID, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"INBOX", "Archive", "Old"} {
		checkModSeqs(t, s, getMailbox(t, s, a, name))
	}
	if n := len(list(t, s, getMailbox(t, s, a, "Old"))); n != 2 {
		t.Errorf("renamed INBOX has %d messages, want 2", n)
	}
}

func testUpdateFlagsIf(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "unchangedsince@example.org")
	for i := range 3 {
		deliver(t, s, msgBody(i), a)
	}
	inbox := getMailbox(t, s, a, "INBOX")
	msgs := list(t, s, inbox)
	uids := uidsOf(msgs)

	// UNCHANGEDSINCE 0 always fails (RFC 7162 §3.1.3 example 8).
	changed, modified, err := s.UpdateFlagsIf(ctx, inbox.ID, uids, store.FlagsAdd, []string{"$MDNSent"}, 0)
	if err != nil || len(changed) != 0 || !slices.Equal(modified, uids) {
		t.Errorf("UNCHANGEDSINCE 0: changed %v, modified %v, %v; want all modified", changed, modified, err)
	}
	m0 := modSeq(t, s, inbox)
	// Another client changes the second message.
	if _, err := s.UpdateFlags(ctx, inbox.ID, uids[1:2], store.FlagsAdd, []string{store.FlagAnswered}); err != nil {
		t.Fatal(err)
	}
	// A STORE based on m0 changes the others and reports the second.
	changed, modified, err = s.UpdateFlagsIf(ctx, inbox.ID, uids, store.FlagsAdd, []string{store.FlagDeleted}, m0)
	if err != nil || !slices.Equal(uidsOf(changed), []uint32{uids[0], uids[2]}) || !slices.Equal(modified, uids[1:2]) {
		t.Fatalf("UNCHANGEDSINCE %d: changed %v, modified %v, %v", m0, uidsOf(changed), modified, err)
	}
	if changed[0].ModSeq != modSeq(t, s, inbox) || !slices.Equal(changed[0].Flags, []string{store.FlagDeleted}) {
		t.Errorf("changed %+v, mailbox ModSeq %d", changed[0], modSeq(t, s, inbox))
	}
	got := list(t, s, inbox)
	if got[1].HasFlag(store.FlagDeleted) {
		t.Errorf("the modified message was changed: %v", got[1].Flags)
	}
	// Passing the test without a change moves nothing.
	m1 := modSeq(t, s, inbox)
	changed, modified, err = s.UpdateFlagsIf(ctx, inbox.ID, uids[:1], store.FlagsAdd, []string{store.FlagDeleted}, m1)
	if err != nil || len(changed) != 0 || len(modified) != 0 || modSeq(t, s, inbox) != m1 {
		t.Errorf("no-op conditional store: %v, %v, %v; mod-sequence %d -> %d", changed, modified, err, m1, modSeq(t, s, inbox))
	}
}

func testTombstones(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "tombstones@example.org")
	for i := range 6 {
		deliver(t, s, msgBody(i), a)
	}
	inbox := getMailbox(t, s, a, "INBOX")
	trash := getMailbox(t, s, a, "Trash")
	uids := uidsOf(list(t, s, inbox))
	if got := expunged(t, s, inbox, 0); len(got) != 0 {
		t.Errorf("tombstones before any removal: %v", got)
	}
	m0 := modSeq(t, s, inbox)

	// EXPUNGE.
	if _, err := s.UpdateFlags(ctx, inbox.ID, uids[:2], store.FlagsAdd, []string{store.FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	m1 := modSeq(t, s, inbox)
	if _, err := s.Expunge(ctx, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	m2 := modSeq(t, s, inbox)
	if m2 <= m1 {
		t.Errorf("EXPUNGE left the mod-sequence at %d", m2)
	}
	// MOVE.
	if _, err := s.MoveMessages(ctx, inbox.ID, uids[2:3], trash.ID); err != nil {
		t.Fatal(err)
	}
	m3 := modSeq(t, s, inbox)
	// POP3 DELE + QUIT.
	drop := open(t, s, a)
	if err := drop.Delete(ctx, ids(drop.Messages()[:1])); err != nil {
		t.Fatal(err)
	}
	drop.Close()
	m4 := modSeq(t, s, inbox)
	if !(m2 < m3 && m3 < m4) {
		t.Errorf("mod-sequence over MOVE and POP3 delete: %d, %d, %d", m2, m3, m4)
	}

	for _, c := range []struct {
		since uint64
		want  []uint32
	}{
		{0, uids[:4]},
		{m0, uids[:4]},
		{m1, uids[:4]},
		{m2, uids[2:4]},
		{m3, uids[3:4]},
		{m4, nil},
	} {
		if got := expunged(t, s, inbox, c.since); !slices.Equal(got, c.want) {
			t.Errorf("Expunged(since %d) = %v, want %v", c.since, got, c.want)
		}
	}
	if got := expunged(t, s, trash, 0); len(got) != 0 {
		t.Errorf("the destination of a MOVE has tombstones %v", got)
	}

	// Renaming INBOX empties it: every message it had is a tombstone.
	if err := s.RenameMailbox(ctx, a.ID, "INBOX", "Before"); err != nil {
		t.Fatal(err)
	}
	m5 := modSeq(t, s, inbox)
	if got := expunged(t, s, inbox, m4); m5 <= m4 || !slices.Equal(got, uids[4:]) {
		t.Errorf("after RENAME INBOX: Expunged(since %d) = %v at mod-sequence %d, want %v", m4, got, m5, uids[4:])
	}
	if got := expunged(t, s, getMailbox(t, s, a, "Before"), 0); len(got) != 0 {
		t.Errorf("the renamed INBOX has tombstones %v", got)
	}
	// A deleted mailbox's tombstones go with it; a new one by that name
	// starts clean.
	if err := s.DeleteMailbox(ctx, a.ID, "Trash"); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Expunged(ctx, trash.ID, 0)
	wantErr(t, "Expunged of a deleted mailbox", err, store.ErrNotFound)
	again, err := s.CreateMailbox(ctx, a.ID, "Trash", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := expunged(t, s, again, 0); len(got) != 0 {
		t.Errorf("re-created mailbox has tombstones %v", got)
	}
}

// Pruning checks the tombstone pruning both engines share, on s opened
// to keep `keep` tombstones per mailbox (at least 2): past 5/4 of that
// many, the oldest go down to keep, and a mod-sequence from before the
// newest one pruned is answered as incomplete, so the caller
// resynchronises in full. It returns the mailbox it used.
func Pruning(t *testing.T, s store.Store, keep int) int64 {
	t.Helper()
	ctx := context.Background()
	a := account(t, s, "prune@example.org")
	n := keep*5/4 + 2 // removals: one prune, then one more tombstone
	for i := range n + 2 {
		deliver(t, s, msgBody(i), a)
	}
	inbox := getMailbox(t, s, a, "INBOX")
	uids := uidsOf(list(t, s, inbox))
	var at []uint64 // the mod-sequence of each removal, one at a time
	for _, u := range uids[:n] {
		if _, err := s.UpdateFlags(ctx, inbox.ID, []uint32{u}, store.FlagsAdd, []string{store.FlagDeleted}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Expunge(ctx, inbox.ID, nil); err != nil {
			t.Fatal(err)
		}
		at = append(at, modSeq(t, s, inbox))
	}
	// The prune came with removal keep*5/4+1 and kept the newest keep;
	// one more came after.
	pruned := keep*5/4 + 1 - keep // removals pruned
	check := func(since uint64, want []uint32, wantComplete bool) {
		t.Helper()
		got, complete, err := s.Expunged(ctx, inbox.ID, since)
		if err != nil || complete != wantComplete || !slices.Equal(got, want) {
			t.Errorf("Expunged(since %d) = %v, complete %v, %v; want %v, complete %v", since, got, complete, err, want, wantComplete)
		}
	}
	check(at[pruned-1], uids[pruned:n], true)
	check(at[n-2], uids[n-1:n], true)
	check(at[pruned-1]-1, uids[pruned:n], false)
	check(0, uids[pruned:n], false)
	return inbox.ID
}

// testImportModSeq: a mailbox imported with the source's HIGHESTMODSEQ is
// never behind it, and removals before it are unknown (store.ImportMailbox).
func testImportModSeq(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "importmodseq@example.org")
	mb := importMailbox(t, s, a, store.ImportMailbox{Name: "Copied", UIDValidity: 1700000001, UIDNext: 4, ModSeq: 5000})
	if mb.ModSeq < 5000 {
		t.Errorf("imported mailbox ModSeq %d, want at least the source's 5000", mb.ModSeq)
	}
	res := importAll(t, s, mb, importMsg("k1", 1, "", msgBody(1)))
	if msgs := list(t, s, mb); len(msgs) != 1 || msgs[0].ModSeq <= 5000 || res[0].UID != 1 {
		t.Errorf("imported message %+v, want a ModSeq above 5000", msgs)
	}
	if _, complete, err := s.Expunged(ctx, mb.ID, 4999); err != nil || complete {
		t.Errorf("Expunged from before the import: complete %v, %v; want incomplete", complete, err)
	}
	if _, complete, err := s.Expunged(ctx, mb.ID, 5000); err != nil || !complete {
		t.Errorf("Expunged from the import on: complete %v, %v", complete, err)
	}
}

package storetest

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

func list(t *testing.T, s store.Store, m store.Mailbox) []store.Message {
	t.Helper()
	msgs, err := s.ListMessages(context.Background(), m.ID, store.MessageQuery{})
	if err != nil {
		t.Fatalf("ListMessages(%s): %v", m.Name, err)
	}
	return msgs
}

func uidsOf(msgs []store.Message) []uint32 {
	var out []uint32
	for _, m := range msgs {
		out = append(out, m.UID)
	}
	return out
}

func appendMsg(t *testing.T, s store.Store, m store.Mailbox, body string, flags ...string) uint32 {
	t.Helper()
	v, uid, err := s.Append(context.Background(), m.ID, store.AppendMessage{
		Body: strings.NewReader(body), Flags: flags, InternalDate: date})
	if err != nil {
		t.Fatalf("Append to %s: %v", m.Name, err)
	}
	if v != m.UIDValidity {
		t.Errorf("Append UIDVALIDITY %d, want %d", v, m.UIDValidity)
	}
	return uid
}

func openBody(t *testing.T, s store.Store, m store.Mailbox, uid uint32) string {
	t.Helper()
	r, err := s.OpenMessage(context.Background(), m.ID, uid)
	if err != nil {
		t.Fatalf("OpenMessage(%s, %d): %v", m.Name, uid, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testAppendAndList(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "append@example.org")
	drafts := getMailbox(t, s, a, "Drafts")
	u1 := appendMsg(t, s, drafts, "Subject: d1\n\nbare lf\n", `\draft`, `\Seen`, "$Label1", `\Seen`)
	u2 := appendMsg(t, s, drafts, msgBody(2))
	if u1 == 0 || u2 <= u1 {
		t.Errorf("UIDs %d, %d: want ascending from 1", u1, u2)
	}
	msgs := list(t, s, drafts)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	m := msgs[0]
	if m.UID != u1 || m.Size != int64(len("Subject: d1\r\n\r\nbare lf\r\n")) || !m.InternalDate.Equal(date) {
		t.Errorf("message %+v", m)
	}
	if !slices.Equal(m.Flags, []string{"$Label1", `\Draft`, `\Seen`}) {
		t.Errorf("flags %q, want canonical, sorted, deduplicated", m.Flags)
	}
	if !m.HasFlag(`\SEEN`) || m.HasFlag(`\Deleted`) {
		t.Errorf("HasFlag is wrong for %q", m.Flags)
	}
	if got := openBody(t, s, drafts, u1); got != "Subject: d1\r\n\r\nbare lf\r\n" {
		t.Errorf("body %q", got)
	}
	// A binary append (IMAP literal8) is stored byte for byte.
	raw := "Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\x01\n\r.x\r\n"
	_, u3, err := s.Append(ctx, drafts.ID, store.AppendMessage{Body: strings.NewReader(raw), Binary: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := openBody(t, s, drafts, u3); got != raw {
		t.Errorf("binary body %q, want %q", got, raw)
	}
	if m := list(t, s, drafts)[2]; m.Size != int64(len(raw)) {
		t.Errorf("binary size %d, want %d", m.Size, len(raw))
	}
	_, err = s.OpenMessage(ctx, drafts.ID, 999)
	wantErr(t, "OpenMessage(unknown UID)", err, store.ErrNotFound)
	_, _, err = s.Append(ctx, drafts.ID+10000, store.AppendMessage{Body: strings.NewReader(msgBody(1))})
	wantErr(t, "Append to an unknown mailbox", err, store.ErrNotFound)

	// Queries: UID ranges and limits.
	for i := 3; i < 8; i++ {
		appendMsg(t, s, drafts, msgBody(i))
	}
	all := list(t, s, drafts)
	got, err := s.ListMessages(ctx, drafts.ID, store.MessageQuery{MinUID: all[2].UID, MaxUID: all[4].UID})
	if err != nil || !slices.Equal(uidsOf(got), uidsOf(all[2:5])) {
		t.Errorf("UID range query: %v, %v", uidsOf(got), err)
	}
	got, err = s.ListMessages(ctx, drafts.ID, store.MessageQuery{MinUID: all[1].UID, Limit: 2})
	if err != nil || !slices.Equal(uidsOf(got), uidsOf(all[1:3])) {
		t.Errorf("limited query: %v, %v", uidsOf(got), err)
	}
	withBodies, err := s.ListMessages(ctx, drafts.ID, store.MessageQuery{Bodies: true})
	if err != nil || len(withBodies) != len(all) {
		t.Fatalf("ListMessages with bodies: %d, %v", len(withBodies), err)
	}
	for i, m := range withBodies {
		if m.Open == nil {
			t.Fatalf("message %d: no Open", i)
		}
		r, err := m.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if want := openBody(t, s, drafts, m.UID); string(b) != want {
			t.Errorf("message %d: Open gives %q, OpenMessage %q", i, b, want)
		}
	}
	// Open again: every reader is the whole body, independent of the
	// readers of the other listed messages, open or closed.
	readers := make([]io.ReadCloser, len(withBodies))
	for i, m := range withBodies {
		if readers[i], err = m.Open(); err != nil {
			t.Fatalf("message %d: second Open: %v", i, err)
		}
	}
	for i, r := range readers {
		b, _ := io.ReadAll(r)
		r.Close()
		if want := openBody(t, s, drafts, withBodies[i].UID); string(b) != want {
			t.Errorf("message %d: second Open gives %q, want %q", i, b, want)
		}
	}
	uids, err := s.ListUIDs(ctx, drafts.ID)
	if err != nil || !slices.Equal(uids, uidsOf(all)) {
		t.Errorf("ListUIDs = %v, %v", uids, err)
	}
	// UIDs are never reused, even after the highest message is gone.
	last := all[len(all)-1]
	if _, err := s.UpdateFlags(ctx, drafts.ID, []uint32{last.UID}, store.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, drafts.ID, nil); err != nil {
		t.Fatal(err)
	}
	if next := appendMsg(t, s, drafts, msgBody(9)); next <= last.UID {
		t.Errorf("UID %d after expunging UID %d: reused", next, last.UID)
	}
}

func testFlagsAndModSeq(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "flags@example.org")
	for i := range 3 {
		deliver(t, s, msgBody(i), a)
	}
	inbox := getMailbox(t, s, a, "INBOX")
	uids := uidsOf(list(t, s, inbox))
	before, err := s.MailboxModSeq(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := s.UpdateFlags(ctx, inbox.ID, uids, store.FlagsAdd, []string{`\Flagged`, "work"})
	if err != nil || len(changed) != 3 {
		t.Fatalf("UpdateFlags add: %d changed, %v", len(changed), err)
	}
	after, _ := s.MailboxModSeq(ctx, inbox.ID)
	if after <= before || changed[0].ModSeq != after {
		t.Errorf("mod-sequence %d -> %d, message stamped %d", before, after, changed[0].ModSeq)
	}
	// A STORE that changes nothing reports nothing and moves nothing.
	if again, err := s.UpdateFlags(ctx, inbox.ID, uids, store.FlagsAdd, []string{`\flagged`}); err != nil || len(again) != 0 {
		t.Errorf("no-op UpdateFlags: %d changed, %v", len(again), err)
	}
	if n, _ := s.MailboxModSeq(ctx, inbox.ID); n != after {
		t.Errorf("no-op UpdateFlags moved the mod-sequence %d -> %d", after, n)
	}
	if _, err := s.UpdateFlags(ctx, inbox.ID, uids[1:2], store.FlagsRemove, []string{"WORK"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFlags(ctx, inbox.ID, uids[2:], store.FlagsSet, []string{`\Answered`}); err != nil {
		t.Fatal(err)
	}
	msgs := list(t, s, inbox)
	want := [][]string{{`\Flagged`, "work"}, {`\Flagged`}, {`\Answered`}}
	for i, m := range msgs {
		if !slices.Equal(m.Flags, want[i]) {
			t.Errorf("message %d flags %q, want %q", i, m.Flags, want[i])
		}
	}
	since, err := s.ListMessages(ctx, inbox.ID, store.MessageQuery{SinceModSeq: after})
	if err != nil || !slices.Equal(uidsOf(since), uids[1:]) {
		t.Errorf("changed since %d: %v, %v; want %v", after, uidsOf(since), err, uids[1:])
	}
	// Missing UIDs are skipped.
	if ch, err := s.UpdateFlags(ctx, inbox.ID, []uint32{uids[2] + 100}, store.FlagsAdd, []string{`\Seen`}); err != nil || len(ch) != 0 {
		t.Errorf("UpdateFlags on a missing UID: %v, %v", ch, err)
	}
	// Deliveries and POP3 deletions move the mod-sequence too.
	m1, _ := s.MailboxModSeq(ctx, inbox.ID)
	deliver(t, s, msgBody(9), a)
	m2, _ := s.MailboxModSeq(ctx, inbox.ID)
	drop := open(t, s, a)
	if err := drop.Delete(ctx, ids(drop.Messages()[:1])); err != nil {
		t.Fatal(err)
	}
	drop.Close()
	m3, _ := s.MailboxModSeq(ctx, inbox.ID)
	if !(m1 < m2 && m2 < m3) {
		t.Errorf("mod-sequence over delivery and POP3 delete: %d, %d, %d; want ascending", m1, m2, m3)
	}
}

func testCopyMoveExpunge(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "copy@example.org")
	for i := range 4 {
		deliver(t, s, msgBody(i), a)
	}
	inbox := getMailbox(t, s, a, "INBOX")
	archive := getMailbox(t, s, a, "Archive")
	uids := uidsOf(list(t, s, inbox))
	if _, err := s.UpdateFlags(ctx, inbox.ID, uids[:1], store.FlagsAdd, []string{`\Seen`}); err != nil {
		t.Fatal(err)
	}
	res, err := s.CopyMessages(ctx, inbox.ID, slices.Concat(uids[:2], []uint32{9999}), archive.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.UIDValidity != archive.UIDValidity || !slices.Equal(res.Source, uids[:2]) || len(res.Dest) != 2 {
		t.Errorf("copy result %+v", res)
	}
	copies := list(t, s, archive)
	if !slices.Equal(uidsOf(copies), res.Dest) || !slices.Equal(copies[0].Flags, []string{`\Seen`}) {
		t.Errorf("copies %+v, want UIDs %v with flags kept", copies, res.Dest)
	}
	if got := openBody(t, s, archive, res.Dest[1]); got != msgBody(1) {
		t.Errorf("copied body %q", got)
	}
	if len(list(t, s, inbox)) != 4 {
		t.Errorf("copy changed the source")
	}

	trash := getMailbox(t, s, a, "Trash")
	mv, err := s.MoveMessages(ctx, inbox.ID, uids[2:3], trash.ID)
	if err != nil || !slices.Equal(mv.Source, uids[2:3]) || len(mv.Dest) != 1 {
		t.Fatalf("move: %+v, %v", mv, err)
	}
	if got := uidsOf(list(t, s, inbox)); !slices.Equal(got, []uint32{uids[0], uids[1], uids[3]}) {
		t.Errorf("INBOX after move: %v", got)
	}
	if got := openBody(t, s, trash, mv.Dest[0]); got != msgBody(2) {
		t.Errorf("moved body %q", got)
	}
	other := account(t, s, "stranger@example.org")
	_, err = s.CopyMessages(ctx, inbox.ID, uids, getMailbox(t, s, other, "INBOX").ID)
	wantErr(t, "copy into another account", err, store.ErrInvalid)

	// Expunge: only \Deleted, only among the given UIDs when given.
	if _, err := s.UpdateFlags(ctx, inbox.ID, []uint32{uids[0], uids[1]}, store.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	gone, err := s.Expunge(ctx, inbox.ID, []uint32{uids[1], uids[3]})
	if err != nil || !slices.Equal(gone, uids[1:2]) {
		t.Errorf("UID EXPUNGE: %v, %v; want %v", gone, err, uids[1:2])
	}
	gone, err = s.Expunge(ctx, inbox.ID, nil)
	if err != nil || !slices.Equal(gone, uids[:1]) {
		t.Errorf("EXPUNGE: %v, %v; want %v", gone, err, uids[:1])
	}
	// The copies share bodies with expunged originals and must survive.
	if got := openBody(t, s, archive, res.Dest[0]); got != msgBody(0) {
		t.Errorf("copy after expunging the original: %q", got)
	}
	// POP3 sees what IMAP left in INBOX.
	if got := bodies(t, s, a); !slices.Equal(got, []string{msgBody(3)}) {
		t.Errorf("POP3 after IMAP expunge: %q", got)
	}
	// A move into INBOX gets a POP3 UIDL of its own.
	if _, err := s.MoveMessages(ctx, archive.ID, res.Dest[:1], inbox.ID); err != nil {
		t.Fatal(err)
	}
	drop := open(t, s, a)
	msgs := drop.Messages()
	if len(msgs) != 2 || msgs[0].UIDL == msgs[1].UIDL || msgs[1].UIDL == "" {
		t.Errorf("maildrop after a move into INBOX: %+v", msgs)
	}
}

func testPOP3SnapshotAfterIMAPExpunge(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "both@example.org")
	deliver(t, s, msgBody(1), a)
	deliver(t, s, msgBody(2), a)
	drop := open(t, s, a)
	inbox := getMailbox(t, s, a, "INBOX")
	uids := uidsOf(list(t, s, inbox))
	if _, err := s.UpdateFlags(ctx, inbox.ID, uids[:1], store.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	msgs := drop.Messages()
	_, err := drop.Body(ctx, msgs[0].ID)
	wantErr(t, "maildrop Body of a message IMAP expunged", err, store.ErrNotFound)
	if got := read(t, drop, msgs[1].ID); got != msgBody(2) {
		t.Errorf("the other message: %q", got)
	}
	if err := drop.Delete(ctx, ids(msgs)); err != nil {
		t.Errorf("Delete including an expunged message: %v", err)
	}
}

func testSummariesAndQuota(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "summary@example.org")
	deliver(t, s, msgBody(1), a)
	inbox := getMailbox(t, s, a, "INBOX")
	m := list(t, s, inbox)[0]
	if m.Summary != nil {
		t.Errorf("summary before SetSummaries: %q", m.Summary)
	}
	if err := s.SetSummaries(ctx, []store.SummaryUpdate{{MessageID: m.ID, Summary: []byte("cached")}, {MessageID: m.ID + 999, Summary: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListMessages(ctx, inbox.ID, store.MessageQuery{Summary: true})
	if err != nil || string(got[0].Summary) != "cached" {
		t.Errorf("summary %q, %v", got[0].Summary, err)
	}
	// Copies carry the summary along.
	res, err := s.CopyMessages(ctx, inbox.ID, []uint32{m.UID}, getMailbox(t, s, a, "Archive").ID)
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := s.ListMessages(ctx, getMailbox(t, s, a, "Archive").ID, store.MessageQuery{Summary: true, MinUID: res.Dest[0]})
	if len(arch) != 1 || string(arch[0].Summary) != "cached" {
		t.Errorf("copy's summary: %+v", arch)
	}
	q, err := s.Quota(ctx, a.ID)
	if err != nil || q.Used != 2*int64(len(msgBody(1))) {
		t.Errorf("Quota = %+v, %v; want Used %d (both copies)", q, err, 2*len(msgBody(1)))
	}
}

func testEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "events@example.org")
	b := account(t, s, "quiet@example.org")
	sub := s.Subscribe(a.ID)
	defer sub.Close()
	quiet := s.Subscribe(b.ID)
	defer quiet.Close()
	inbox := getMailbox(t, s, a, "INBOX")
	drain := func(sub *store.Subscription) {
		for {
			select {
			case <-sub.C:
			default:
				return
			}
		}
	}
	// waitFor waits for a wake-up; a generous bound only keeps a broken
	// engine from hanging the suite.
	waitFor := func(what string) {
		t.Helper()
		select {
		case <-sub.C:
		case <-time.After(10 * time.Second):
			t.Fatalf("no event after %s", what)
		}
		sub.Changed(inbox.ID)
	}
	// OnChange is called for events too, on the publisher's goroutine.
	called := make(chan struct{}, 1)
	cb := s.Subscribe(a.ID)
	defer cb.Close()
	cb.OnChange(func() {
		select {
		case called <- struct{}{}:
		default:
		}
	})
	drain(sub)
	deliver(t, s, msgBody(1), a)
	waitFor("Deliver")
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatalf("OnChange not called for a delivery")
	}
	cb.OnChange(nil)
	uid := uidsOf(list(t, s, inbox))[0]
	drain(sub)
	if _, err := s.UpdateFlags(ctx, inbox.ID, []uint32{uid}, store.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	waitFor("UpdateFlags")
	drain(sub)
	if _, err := s.Expunge(ctx, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	waitFor("Expunge")
	deliver(t, s, msgBody(2), a)
	drain(sub)
	drop := open(t, s, a)
	if err := drop.Delete(ctx, ids(drop.Messages())); err != nil {
		t.Fatal(err)
	}
	drop.Close()
	waitFor("Maildrop.Delete")
	drain(sub)
	sent := getMailbox(t, s, a, "Sent")
	appendMsg(t, s, sent, msgBody(3))
	select {
	case <-sub.C:
	case <-time.After(10 * time.Second):
		t.Fatalf("no event after Append")
	}
	if !sub.Changed(sent.ID) {
		t.Errorf("Changed(Sent) is false after an Append to Sent")
	}
	if quiet.Changed(sent.ID) {
		t.Errorf("another account's subscriber was told about this account's mailbox")
	}
	sub.Close()
	sub.Close()
	drain(sub)
	deliver(t, s, msgBody(4), a)
	select {
	case <-sub.C:
		t.Errorf("event after Close")
	default:
	}
}

func testQuotaAppendCopy(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "quota@example.org")
	body := msgBody(1)
	if err := s.SetQuota(ctx, a.Address, int64(2*len(body)+1)); err != nil {
		t.Fatal(err)
	}
	drafts := getMailbox(t, s, a, "Drafts")
	appendMsg(t, s, drafts, body)
	q, err := s.Quota(ctx, a.ID)
	if err != nil || q.Limit != int64(2*len(body)+1) || q.Used != int64(len(body)) {
		t.Errorf("Quota = %+v, %v", q, err)
	}
	uid := appendMsg(t, s, drafts, body)
	_, _, err = s.Append(ctx, drafts.ID, store.AppendMessage{Body: strings.NewReader(body)})
	wantErr(t, "Append over quota", err, store.ErrQuota)
	_, err = s.CopyMessages(ctx, drafts.ID, []uint32{uid}, getMailbox(t, s, a, "Archive").ID)
	wantErr(t, "Copy over quota", err, store.ErrQuota)
	// A move adds nothing, so it is allowed at the limit.
	if _, err := s.MoveMessages(ctx, drafts.ID, []uint32{uid}, getMailbox(t, s, a, "Archive").ID); err != nil {
		t.Errorf("Move at the quota: %v", err)
	}
	if got := list(t, s, drafts); len(got) != 1 {
		t.Errorf("Drafts has %d messages after the refused Append and the Move, want 1", len(got))
	}
}

// testSparseUIDSets: flag changes and expunges over scattered UIDs (a
// set like 1,3,5) touch exactly those messages and report them in
// ascending UID order, whatever order the engine's statement yields.
func testSparseUIDSets(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "sparse@example.org")
	for i := range 7 {
		deliver(t, s, msgBody(i), a)
	}
	inbox := getMailbox(t, s, a, "INBOX")
	uids := uidsOf(list(t, s, inbox))
	odd := []uint32{uids[0], uids[2], uids[4], uids[6]}
	changed, err := s.UpdateFlags(ctx, inbox.ID, odd, store.FlagsAdd, []string{`\Flagged`})
	if err != nil {
		t.Fatal(err)
	}
	if got := uidsOf(changed); !slices.Equal(got, odd) {
		t.Errorf("UpdateFlags over %v changed %v", odd, got)
	}
	even := []uint32{uids[5], uids[1], uids[3]} // unsorted on purpose
	if _, err := s.UpdateFlags(ctx, inbox.ID, even, store.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	for _, m := range list(t, s, inbox) {
		if m.HasFlag(`\Flagged`) != slices.Contains(odd, m.UID) || m.HasFlag(`\Deleted`) == slices.Contains(odd, m.UID) {
			t.Errorf("UID %d has flags %v", m.UID, m.Flags)
		}
	}
	gone, err := s.Expunge(ctx, inbox.ID, []uint32{uids[5], uids[1]})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{uids[1], uids[5]}; !slices.Equal(gone, want) {
		t.Errorf("Expunge of %v returned %v, want %v in order", []uint32{uids[5], uids[1]}, gone, want)
	}
	left := uidsOf(list(t, s, inbox))
	if want := []uint32{uids[0], uids[2], uids[3], uids[4], uids[6]}; !slices.Equal(left, want) {
		t.Errorf("after expunge the mailbox holds %v, want %v", left, want)
	}
	// COPY of scattered UIDs, asked for out of order: the copies come in
	// UID order, each source UID paired with its new one.
	dest, err := s.CreateMailbox(ctx, a.ID, "Sparse", "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.CopyMessages(ctx, inbox.ID, []uint32{uids[6], uids[0], uids[3]}, dest.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{uids[0], uids[3], uids[6]}; !slices.Equal(res.Source, want) || len(res.Dest) != 3 {
		t.Errorf("CopyMessages returned source %v dest %v, want source %v", res.Source, res.Dest, want)
	}
	if got := uidsOf(list(t, s, dest)); !slices.Equal(got, res.Dest) {
		t.Errorf("the copies have UIDs %v, CopyMessages said %v", got, res.Dest)
	}
}

package storetest

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// testObjectIDs checks what RFC 8474 (OBJECTID) and RFC 8514 (SAVEDATE)
// need from an engine: a mailbox id kept over RENAME and never reused, an
// email id shared by copies and kept by a move, and a save date per copy.
func testObjectIDs(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "objectid@example.org")
	deliver(t, s, msgBody(0), a)
	inbox := getMailbox(t, s, a, "INBOX")
	drafts := getMailbox(t, s, a, "Drafts")
	appendMsg(t, s, drafts, msgBody(1))
	delivered, appended := list(t, s, inbox)[0], list(t, s, drafts)[0]
	if delivered.EmailID == 0 || appended.EmailID == 0 || delivered.EmailID == appended.EmailID {
		t.Errorf("EmailIDs %d and %d: want two distinct non-zero ids", delivered.EmailID, appended.EmailID)
	}
	if delivered.SaveDate.IsZero() || appended.SaveDate.IsZero() {
		t.Errorf("SaveDate of a delivered (%v) or appended (%v) message is zero", delivered.SaveDate, appended.SaveDate)
	}

	archive := getMailbox(t, s, a, "Archive")
	res, err := s.CopyMessages(ctx, inbox.ID, []uint32{delivered.UID}, archive.ID)
	if err != nil {
		t.Fatal(err)
	}
	copied := list(t, s, archive)[0]
	if copied.EmailID != delivered.EmailID || copied.UID != res.Dest[0] {
		t.Errorf("copy has EmailID %d, want the original's %d", copied.EmailID, delivered.EmailID)
	}
	if copied.SaveDate.IsZero() || copied.SaveDate.Before(delivered.SaveDate) {
		t.Errorf("copy's SaveDate %v, want one not before the original's %v", copied.SaveDate, delivered.SaveDate)
	}
	trash := getMailbox(t, s, a, "Trash")
	if _, err := s.MoveMessages(ctx, drafts.ID, []uint32{appended.UID}, trash.ID); err != nil {
		t.Fatal(err)
	}
	if moved := list(t, s, trash)[0]; moved.EmailID != appended.EmailID || moved.SaveDate.IsZero() {
		t.Errorf("moved message: EmailID %d (want %d), SaveDate %v", moved.EmailID, appended.EmailID, moved.SaveDate)
	}

	// The mailbox id survives RENAME; a re-created name gets a new one.
	if err := s.RenameMailbox(ctx, a.ID, "Archive", "Old"); err != nil {
		t.Fatal(err)
	}
	if old := getMailbox(t, s, a, "Old"); old.ID != archive.ID {
		t.Errorf("renamed mailbox has id %d, want %d", old.ID, archive.ID)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "Old"); err != nil {
		t.Fatal(err)
	}
	again, err := s.CreateMailbox(ctx, a.ID, "Old", "")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == archive.ID {
		t.Errorf("a mailbox re-created after DELETE got the deleted one's id %d", again.ID)
	}
	// RENAME INBOX: INBOX keeps its id, the new mailbox gets another,
	// and the messages keep their email ids.
	if err := s.RenameMailbox(ctx, a.ID, "INBOX", "Moved"); err != nil {
		t.Fatal(err)
	}
	moved := getMailbox(t, s, a, "Moved")
	if getMailbox(t, s, a, "INBOX").ID != inbox.ID || moved.ID == inbox.ID {
		t.Errorf("after RENAME INBOX: INBOX id %d, new mailbox id %d; want %d and another",
			getMailbox(t, s, a, "INBOX").ID, moved.ID, inbox.ID)
	}
	if m := list(t, s, moved); len(m) != 1 || m[0].EmailID != delivered.EmailID {
		t.Errorf("messages of the renamed INBOX: %+v, want EmailID %d", m, delivered.EmailID)
	}
}

// brokenReader returns data, then an error.
type brokenReader struct{ r io.Reader }

var errBroken = errors.New("connection broke")

func (f *brokenReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errBroken
	}
	return n, err
}

// testAppendMessages checks MULTIAPPEND's all or nothing (RFC 3502).
func testAppendMessages(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "multiappend@example.org")
	drafts := getMailbox(t, s, a, "Drafts")
	bodies := []string{msgBody(1), msgBody(2), strings.Repeat("x", 300<<10) + "\r\n"}
	var ms []store.AppendMessage
	for i, b := range bodies {
		ms = append(ms, store.AppendMessage{Body: strings.NewReader(b), InternalDate: date,
			Flags: []string{[]string{`\Seen`, `\Draft`, "$Work"}[i]}})
	}
	validity, uids, err := s.AppendMessages(ctx, drafts.ID, ms)
	if err != nil {
		t.Fatal(err)
	}
	if validity != drafts.UIDValidity || len(uids) != 3 || uids[1] != uids[0]+1 || uids[2] != uids[1]+1 {
		t.Fatalf("AppendMessages = %d, %v", validity, uids)
	}
	got := list(t, s, drafts)
	if !slices.Equal(uidsOf(got), uids) {
		t.Fatalf("listed UIDs %v, want %v", uidsOf(got), uids)
	}
	for i, m := range got {
		if b := openBody(t, s, drafts, m.UID); b != bodies[i] || !m.HasFlag(ms[i].Flags[0]) || !m.InternalDate.Equal(date) {
			t.Errorf("message %d: flags %v, date %v, body of %d octets", i, m.Flags, m.InternalDate, len(b))
		}
	}

	// A body that fails to read (a client gone mid-literal) stores none,
	// whether small or large.
	for _, failing := range []string{msgBody(9), strings.Repeat("y", 300<<10)} {
		_, _, err = s.AppendMessages(ctx, drafts.ID, []store.AppendMessage{
			{Body: strings.NewReader(msgBody(3))},
			{Body: strings.NewReader(strings.Repeat("z", 300<<10))},
			{Body: &brokenReader{strings.NewReader(failing)}},
		})
		if !errors.Is(err, errBroken) {
			t.Errorf("AppendMessages with a failing body: %v, want the reader's error", err)
		}
		if n := len(list(t, s, drafts)); n != 3 {
			t.Errorf("%d messages after a failed AppendMessages, want 3", n)
		}
	}

	// Over quota: the messages fit one by one but not together.
	q, err := s.Quota(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetQuota(ctx, a.Address, q.Used+int64(len(msgBody(4)))+1); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.AppendMessages(ctx, drafts.ID, []store.AppendMessage{
		{Body: strings.NewReader(msgBody(4))}, {Body: strings.NewReader(msgBody(5))}})
	wantErr(t, "AppendMessages over quota", err, store.ErrQuota)
	if n := len(list(t, s, drafts)); n != 3 {
		t.Errorf("%d messages after AppendMessages over quota, want 3", n)
	}
	if q2, err := s.Quota(ctx, a.ID); err != nil || q2.Used != q.Used {
		t.Errorf("usage after refused appends: %+v, %v; want %d", q2, err, q.Used)
	}
}

package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// importMsg is an ImportMessage whose body is text.
func importMsg(key string, uid uint32, uidl, text string, flags ...string) store.ImportMessage {
	return store.ImportMessage{Key: key, UID: uid, UIDL: uidl, Flags: flags, InternalDate: date,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(text)), nil }}
}

func importMailbox(t *testing.T, s store.Store, a store.Account, m store.ImportMailbox) store.Mailbox {
	t.Helper()
	mb, err := s.ImportMailbox(context.Background(), a.ID, m)
	if err != nil {
		t.Fatalf("ImportMailbox(%+v): %v", m, err)
	}
	return mb
}

func importAll(t *testing.T, s store.Store, mb store.Mailbox, msgs ...store.ImportMessage) []store.ImportedMessage {
	t.Helper()
	res, err := s.ImportMessages(context.Background(), mb.ID, msgs)
	if err != nil {
		t.Fatalf("ImportMessages(%s): %v", mb.Name, err)
	}
	if len(res) != len(msgs) {
		t.Fatalf("ImportMessages returned %d results for %d messages", len(res), len(msgs))
	}
	return res
}

// testImportMailbox: new and never-used mailboxes take the source's
// UIDVALIDITY and UIDNEXT; a mailbox that held mail keeps its own.
func testImportMailbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "import@example.org")
	inbox := importMailbox(t, s, a, store.ImportMailbox{Name: "inbox", UIDValidity: 1234567, UIDNext: 40})
	if inbox.Name != store.InboxName || inbox.UIDValidity != 1234567 || inbox.UIDNext != 40 {
		t.Errorf("INBOX after import: %+v, want UIDVALIDITY 1234567, UIDNEXT 40", inbox)
	}
	sent := importMailbox(t, s, a, store.ImportMailbox{Name: "Sent Items", SpecialUse: store.UseSent, UIDValidity: 99, UIDNext: 7})
	if sent.UIDValidity != 99 || sent.UIDNext != 7 || sent.SpecialUse != store.UseSent {
		t.Errorf("new mailbox: %+v", sent)
	}
	nested := importMailbox(t, s, a, store.ImportMailbox{Name: "Lists/go/nuts", UIDValidity: 5})
	if nested.UIDValidity != 5 {
		t.Errorf("nested mailbox: %+v", nested)
	}
	if _, err := s.GetMailbox(ctx, a.ID, "Lists/go"); err != nil {
		t.Errorf("parent of an imported mailbox: %v", err)
	}
	// Again, as a second run does: nothing changes, UIDNEXT only grows.
	again := importMailbox(t, s, a, store.ImportMailbox{Name: "Sent Items", UIDValidity: 99, UIDNext: 3})
	if again.ID != sent.ID || again.UIDValidity != 99 || again.UIDNext != 7 {
		t.Errorf("second import of the mailbox: %+v, first %+v", again, sent)
	}
	// A mailbox that has held mail keeps its UIDVALIDITY and UIDNEXT.
	b := account(t, s, "used@example.org")
	deliver(t, s, msgBody(1), b)
	before := getMailbox(t, s, b, store.InboxName)
	after := importMailbox(t, s, b, store.ImportMailbox{Name: "INBOX", UIDValidity: 1234567, UIDNext: 500})
	if after.UIDValidity != before.UIDValidity || after.UIDNext != before.UIDNext {
		t.Errorf("used INBOX became %+v, was %+v", after, before)
	}
	// Without a source UIDVALIDITY the engine picks one.
	plain := importMailbox(t, s, a, store.ImportMailbox{Name: "Plain", SpecialUse: store.UseArchive})
	if plain.UIDValidity == 0 || plain.UIDNext != 1 {
		t.Errorf("plain mailbox: %+v", plain)
	}
	_, err := s.ImportMailbox(ctx, a.ID, store.ImportMailbox{Name: "bad/*"})
	wantErr(t, "ImportMailbox with a wildcard", err, store.ErrInvalid)
	_, err = s.ImportMailbox(ctx, 1<<40, store.ImportMailbox{Name: "x"})
	wantErr(t, "ImportMailbox of an unknown account", err, store.ErrNotFound)
}

// testImportMessages: UIDs, UIDLs, flags and dates kept; a second run
// stores only what is new; one unreadable message fails alone.
func testImportMessages(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "import@example.org")
	if err := s.SetQuota(ctx, a.Address, 10); err != nil {
		t.Fatal(err)
	}
	inbox := importMailbox(t, s, a, store.ImportMailbox{Name: "INBOX", UIDValidity: 1700000000, UIDNext: 9})
	res := importAll(t, s, inbox,
		importMsg("k3", 3, "00000003657d1e00", "Subject: three\n\nbare lf\n", `\seen`, "$Forwarded", `\Recent`),
		importMsg("k5", 5, "00000005657d1e00", msgBody(5), `\Answered`, `\Flagged`),
		importMsg("k0", 0, "", msgBody(0)),
		importMsg("k5", 5, "dup", msgBody(5)),
	)
	if res[0].UID != 3 || res[1].UID != 5 || res[2].UID != 9 || !res[3].Skipped {
		t.Errorf("results %+v: want UIDs 3, 5, UIDNEXT 9, and the repeated key skipped", res)
	}
	if res[0].UIDL != "00000003657d1e00" || res[0].Size != int64(len("Subject: three\r\n\r\nbare lf\r\n")) {
		t.Errorf("result %+v", res[0])
	}
	msgs := list(t, s, inbox)
	if got := uidsOf(msgs); !slices.Equal(got, []uint32{3, 5, 9}) {
		t.Fatalf("UIDs %v, want [3 5 9]", got)
	}
	if !slices.Equal(msgs[0].Flags, []string{"$Forwarded", `\Seen`}) || !slices.Equal(msgs[1].Flags, []string{`\Answered`, `\Flagged`}) {
		t.Errorf("flags %q, %q", msgs[0].Flags, msgs[1].Flags)
	}
	if !msgs[0].InternalDate.Equal(date) {
		t.Errorf("date %v, want %v", msgs[0].InternalDate, date)
	}
	if got := openBody(t, s, inbox, 3); got != "Subject: three\r\n\r\nbare lf\r\n" {
		t.Errorf("body %q", got)
	}
	if mb := getMailbox(t, s, a, store.InboxName); mb.UIDNext != 10 {
		t.Errorf("UIDNEXT %d, want 10", mb.UIDNext)
	}
	m := open(t, s, a)
	var uidls []string
	for _, msg := range m.Messages() {
		uidls = append(uidls, msg.UIDL)
	}
	m.Close()
	if len(uidls) != 3 || uidls[0] != "00000003657d1e00" || uidls[1] != "00000005657d1e00" || uidls[2] == "" {
		t.Errorf("POP3 UIDLs %q", uidls)
	}
	byUID, err := s.UIDLs(ctx, inbox.ID)
	if err != nil || byUID[3] != uidls[0] || byUID[9] != uidls[2] || len(byUID) != 3 {
		t.Errorf("UIDLs = %v, %v", byUID, err)
	}

	// A second run: the known keys are skipped without being opened; a
	// new message with a taken UID gets a new one; a UIDL the account
	// uses is replaced; an unreadable message fails alone.
	opened := false
	known := importMsg("k3", 3, "00000003657d1e00", "")
	known.Open = func() (io.ReadCloser, error) { opened = true; return nil, errors.New("opened") }
	broken := importMsg("bad", 20, "", "")
	broken.Open = func() (io.ReadCloser, error) { return io.NopCloser(failingReader{}), nil }
	missing := importMsg("gone", 21, "", "")
	missing.Open = func() (io.ReadCloser, error) { return nil, errors.New("no such file") }
	// A large body that fails after 1 MiB (past what engines write at once).
	cut := importMsg("cut", 22, "", "")
	cut.Open = func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader("Subject: cut\r\n\r\n"+strings.Repeat("x", 1<<20)), failingReader{})), nil
	}
	res = importAll(t, s, inbox, known,
		importMsg("k6", 5, "", msgBody(6)),
		importMsg("k7", 7, "00000005657d1e00", msgBody(7)),
		broken, missing,
		importMsg("k8", 30, "x-8", msgBody(8)),
		cut,
	)
	if opened || !res[0].Skipped || res[0].UID != 3 {
		t.Errorf("known message: %+v, opened %v", res[0], opened)
	}
	if res[1].UID != 10 || res[2].UID != 7 || res[5].UID != 30 {
		t.Errorf("UIDs %d, %d, %d; want 10 (5 taken), 7, 30", res[1].UID, res[2].UID, res[5].UID)
	}
	if res[2].UIDL == "00000005657d1e00" || res[2].UIDL == "" {
		t.Errorf("a UIDL used twice in the account was kept: %+v", res[2])
	}
	if res[3].Err == nil || res[4].Err == nil || res[6].Err == nil {
		t.Errorf("unreadable messages: %+v, %+v, %+v", res[3], res[4], res[6])
	}
	if got := uidsOf(list(t, s, inbox)); !slices.Equal(got, []uint32{3, 5, 7, 9, 10, 30}) {
		t.Errorf("UIDs after the second run %v", got)
	}
	keys, err := s.ImportedKeys(ctx, inbox.ID)
	if err != nil || len(keys) != 6 || keys["k8"] != 30 || keys["k3"] != 3 {
		t.Errorf("ImportedKeys = %v, %v", keys, err)
	}
	// Delivery continues above the imported UIDs; quota did not stop
	// the import.
	if err := s.SetQuota(ctx, a.Address, 0); err != nil {
		t.Fatal(err)
	}
	deliver(t, s, msgBody(99), a)
	if got := uidsOf(list(t, s, inbox)); got[len(got)-1] != 31 {
		t.Errorf("delivered after import: UIDs %v, want the last 31", got)
	}

	// Refused for the whole call: nothing stored.
	for _, bad := range []store.ImportMessage{
		importMsg("", 0, "", msgBody(1)),
		importMsg(strings.Repeat("k", 256), 0, "", msgBody(1)),
		importMsg("sp", 0, "a b", msgBody(1)),
	} {
		_, err := s.ImportMessages(ctx, inbox.ID, []store.ImportMessage{importMsg("fine", 0, "", msgBody(1)), bad})
		wantErr(t, fmt.Sprintf("import of %q/%q", bad.Key, bad.UIDL), err, store.ErrInvalid)
	}
	if keys, _ := s.ImportedKeys(ctx, inbox.ID); keys["fine"] != 0 {
		t.Error("a refused call stored a message")
	}
	_, err = s.ImportMessages(ctx, 1<<40, []store.ImportMessage{importMsg("x", 0, "", msgBody(1))})
	wantErr(t, "ImportMessages into an unknown mailbox", err, store.ErrNotFound)

	// Outside INBOX, UIDLs are the engine's own unless given.
	sent := importMailbox(t, s, a, store.ImportMailbox{Name: "Sent", UIDValidity: 42, UIDNext: 3})
	res = importAll(t, s, sent, importMsg("s1", 1, "", msgBody(1)), importMsg("s2", 2, "", msgBody(2)))
	if res[0].UID != 1 || res[1].UID != 2 || res[0].UIDL == res[1].UIDL || res[0].UIDL == "" {
		t.Errorf("Sent: %+v", res)
	}
}

// testImportKeysKept: a mailbox remembers what was imported into it
// apart from the messages, so a second run of the same import stores
// nothing again whatever became of them: moved (MOVE, Sieve fileinto),
// copied and expunged (a client without MOVE), or deleted by the user.
// Only deleting the mailbox forgets.
func testImportKeysKept(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "moved@example.org")
	inbox := importMailbox(t, s, a, store.ImportMailbox{Name: "INBOX", UIDValidity: 1700000000, UIDNext: 6})
	archive := getMailbox(t, s, a, "Archive")
	source := []store.ImportMessage{
		importMsg("kept", 1, "", msgBody(1)),
		importMsg("moved", 2, "", msgBody(2)),
		importMsg("copied", 3, "", msgBody(3)),
		importMsg("deleted", 4, "", msgBody(4)),
		importMsg("refiled", 5, "", msgBody(5)),
	}
	importAll(t, s, inbox, source...)
	if _, err := s.MoveMessages(ctx, inbox.ID, []uint32{2}, archive.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CopyMessages(ctx, inbox.ID, []uint32{3}, archive.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFlags(ctx, inbox.ID, []uint32{3, 4}, store.FlagsAdd, []string{store.FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	// Moved out and back in: a new UID.
	lists := importMailbox(t, s, a, store.ImportMailbox{Name: "Lists"})
	mv, err := s.MoveMessages(ctx, inbox.ID, []uint32{5}, lists.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveMessages(ctx, lists.ID, mv.Dest, inbox.ID); err != nil {
		t.Fatal(err)
	}
	keys, err := s.ImportedKeys(ctx, inbox.ID)
	if err != nil || len(keys) != 5 || keys["moved"] != 2 || keys["copied"] != 3 || keys["deleted"] != 4 || keys["refiled"] != 5 {
		t.Errorf("ImportedKeys after moves = %v, %v; want all 5", keys, err)
	}
	if keys, err := s.ImportedKeys(ctx, archive.ID); err != nil || len(keys) != 0 {
		t.Errorf("ImportedKeys of the mailbox messages moved into = %v, %v; want none", keys, err)
	}

	// The second run: all known (with the UIDs given then), one new.
	opened := 0
	again := slices.Clone(source)
	for i := range again {
		again[i].Open = func() (io.ReadCloser, error) { opened++; return nil, errors.New("opened") }
	}
	res := importAll(t, s, inbox, append(again, importMsg("new", 7, "", msgBody(7)))...)
	for i, r := range res[:len(source)] {
		if !r.Skipped || r.UID != source[i].UID {
			t.Errorf("second run, %s: %+v; want skipped, UID %d", source[i].Key, r, source[i].UID)
		}
	}
	if opened != 0 || res[len(source)].Skipped || res[len(source)].UID != 7 {
		t.Errorf("second run: %d known messages opened, the new one %+v", opened, res[len(source)])
	}
	if got := len(list(t, s, inbox)); got != 3 {
		t.Errorf("INBOX holds %d messages after the second run, want 3 (kept, refiled, new)", got)
	}
	if got := len(list(t, s, archive)); got != 2 {
		t.Errorf("Archive holds %d messages, want 2 (moved, copied)", got)
	}

	// Deleting a mailbox forgets what was imported into it: imported
	// again, it is a new import.
	importAll(t, s, lists, importMsg("list1", 0, "", msgBody(8)))
	if err := s.DeleteMailbox(ctx, a.ID, "Lists"); err != nil {
		t.Fatal(err)
	}
	lists = importMailbox(t, s, a, store.ImportMailbox{Name: "Lists"})
	if keys, err := s.ImportedKeys(ctx, lists.ID); err != nil || len(keys) != 0 {
		t.Errorf("ImportedKeys of a mailbox created again = %v, %v", keys, err)
	}
	if res := importAll(t, s, lists, importMsg("list1", 0, "", msgBody(8))); res[0].Skipped {
		t.Errorf("import into a mailbox created again: %+v", res[0])
	}
	// The record alone (pochta migrate copies it): a key recorded keeps
	// its UID; a recorded key is skipped as imported.
	if err := s.RecordImported(ctx, lists.ID, map[string]uint32{"list1": 99, "old": 40}); err != nil {
		t.Fatal(err)
	}
	if keys, err := s.ImportedKeys(ctx, lists.ID); err != nil || len(keys) != 2 || keys["list1"] != 1 || keys["old"] != 40 {
		t.Errorf("ImportedKeys after RecordImported = %v, %v; want list1 1, old 40", keys, err)
	}
	if res := importAll(t, s, lists, importMsg("old", 0, "", msgBody(9))); !res[0].Skipped || res[0].UID != 40 {
		t.Errorf("import of a recorded key: %+v; want skipped as UID 40", res[0])
	}
	err = s.RecordImported(ctx, lists.ID, map[string]uint32{"fine": 1, "": 2})
	wantErr(t, "RecordImported of an empty key", err, store.ErrInvalid)
	if keys, _ := s.ImportedKeys(ctx, lists.ID); len(keys) != 2 {
		t.Errorf("a refused RecordImported recorded: %v", keys)
	}
	err = s.RecordImported(ctx, 1<<40, map[string]uint32{"x": 1})
	wantErr(t, "RecordImported into an unknown mailbox", err, store.ErrNotFound)
	// And deleting the account (its mailboxes with their records).
	if err := s.DeleteAccount(ctx, a.Address); err != nil {
		t.Fatal(err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

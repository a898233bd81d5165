package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pochta-mail/pochta/internal/store"
)

// smallDisk mounts a tmpfs of size bytes at a new directory (root only;
// the test is skipped otherwise, saying why).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("a full disk needs a small tmpfs, and mounting one failed (run as root): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// fill writes a file until the disk is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// The last bytes: single blocks.
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
}

// On a full disk, what frees space still works: POP3's QUIT (maildrop
// Delete), IMAP's STORE \Deleted and EXPUNGE, deleting an account (issue
// 10: QUIT answered -ERR [SYS/TEMP] on a full disk). Deliveries are
// refused meanwhile; once space is freed the reserve comes back.
func TestDeletingWorksOnAFullDisk(t *testing.T) {
	disk := smallDisk(t, "24m")
	ctx := context.Background()
	s := openTest(t, disk, Options{Reserve: 2 << 20})
	a := newAccount(t, s, "a@example.org")
	b := newAccount(t, s, "b@example.org")
	c := newAccount(t, s, "c@example.org")
	body := "Subject: x\r\n\r\n" + strings.Repeat("y", 100<<10) + "\r\n"
	for range 5 {
		deliverTo(t, s, body, store.Recipient{AccountID: a.ID}, store.Recipient{AccountID: b.ID})
		deliverTo(t, s, body, store.Recipient{AccountID: c.ID})
	}
	fill(t, disk)
	// Also use up what the WAL had free.
	for range 50 {
		if s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: c.ID}}, Body: strings.NewReader(body)}) != nil {
			break
		}
	}
	if err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: c.ID}}, Body: strings.NewReader(body)}); err == nil {
		t.Fatal("the disk is not full: a delivery succeeded")
	}

	// POP3 QUIT.
	md, err := s.OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, m := range md.Messages() {
		ids = append(ids, m.ID)
	}
	if err := md.Delete(ctx, ids); err != nil {
		t.Fatalf("POP3 QUIT on a full disk: %v", err)
	}
	md.Close()

	// IMAP STORE \Deleted + EXPUNGE.
	mbs, err := s.ListMailboxes(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	var inbox store.Mailbox
	for _, mb := range mbs {
		if strings.EqualFold(mb.Name, "INBOX") {
			inbox = mb
		}
	}
	// The reserve is spent and a's deletion freed no file (b shares
	// them): deliveries wait, the room is kept for deletions.
	if err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: c.ID}}, Body: strings.NewReader(body)}); err == nil {
		t.Fatal("a delivery took the released reserve's room")
	}
	if _, err := s.UpdateFlags(ctx, inbox.ID, []uint32{1, 2, 3, 4, 5}, store.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatalf("IMAP STORE \\Deleted on a full disk: %v", err)
	}
	if gone, err := s.Expunge(ctx, inbox.ID, nil); err != nil || len(gone) != 5 {
		t.Fatalf("IMAP EXPUNGE on a full disk: %v (%d expunged)", err, len(gone))
	}

	// pochta user del.
	if err := s.DeleteAccount(ctx, "c@example.org"); err != nil {
		t.Fatalf("deleting an account on a full disk: %v", err)
	}
	os.Remove(filepath.Join(disk, "filler"))
	if err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}}, Body: strings.NewReader(body)}); err != nil {
		t.Fatalf("delivery after space was freed: %v", err)
	}
	md, _ = s.OpenMaildrop(ctx, a.ID)
	md.Delete(ctx, []int64{md.Messages()[0].ID})
	md.Close()
	if fi, err := os.Stat(filepath.Join(disk, reserveFile)); err != nil || fi.Size() != 2<<20 {
		t.Errorf("reserve not back after space was freed: %v", err)
	}
}

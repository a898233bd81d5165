package e2e_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/sys/unix"
)

// TestDeleteOnFullDisk runs `pochta serve` on a 32 MiB tmpfs filled to
// the last block and checks that what frees space still works, over the
// wire: POP3 DELE + QUIT, IMAP STORE \Deleted + EXPUNGE, and `pochta user
// del` (issue 10: QUIT answered -ERR [SYS/TEMP] on a full disk). Needs
// root to mount the tmpfs; skipped otherwise, saying so.
func TestDeleteOnFullDisk(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(disk, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", disk, "tmpfs", 0, "size=32m"); err != nil {
		t.Skipf("a full disk needs a small tmpfs, and mounting one failed (run as root): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(disk, unix.MNT_DETACH) })
	in := &instance{t: t, dir: filepath.Join(disk, "data")}
	in.run("", "init", "-d", in.dir, "--domain", "full.test", "--hostname", "mail.full.test")
	for _, u := range []string{"pop@full.test", "imap@full.test", "gone@full.test"} {
		in.addUser(u, "full pass")
	}
	big := "Subject: big\n\n" + strings.Repeat(strings.Repeat("x", 998)+"\n", 200) // 200 KB: a body file
	for range 5 {
		for _, u := range []string{"pop@full.test", "imap@full.test", "gone@full.test"} {
			in.deliver(u, big)
		}
	}
	in.serve([]string{"pop3", "imap"})
	fillDisk(t, disk)
	if out, code := in.runCode(big, "-d", in.dir, "deliver", "gone@full.test"); code == 0 {
		t.Fatalf("the disk is not full: deliver succeeded\n%s", out)
	}
	// Small messages go into the database: they use up the room the WAL
	// file still had, so the deletions below need more.
	for i := 0; ; i++ {
		if _, code := in.runCode("Subject: small\n\nx\n", "-d", in.dir, "deliver", "gone@full.test"); code != 0 {
			break
		}
		if i == 500 {
			t.Fatal("500 small deliveries fit on the full disk")
		}
	}

	p, err := dialPOP3(in.addrs["pop3"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.login("pop@full.test", "full pass"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"1", "2", "3", "4", "5"} {
		if _, err := p.cmd("DELE " + n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.cmd("QUIT"); err != nil {
		t.Fatalf("POP3 QUIT on a full disk: %v", err)
	}
	p.close()
	// Whether the QUIT needed the reserve depends on the room the WAL file
	// still had after its last checkpoint; the store's own test
	// (TestDeletingWorksOnAFullDisk) makes it need it every time.
	t.Logf("POP3 QUIT used the reserve: %v", strings.Contains(in.log.String(), "disk full: released the reserve"))

	fillDisk(t, disk) // what the QUIT freed
	c, err := imapclient.DialInsecure(in.addrs["imap"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("imap@full.test", "full pass").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(allSeq(), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatalf("IMAP STORE \\Deleted on a full disk: %v", err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatalf("IMAP EXPUNGE on a full disk: %v", err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 0 {
		t.Fatalf("after EXPUNGE: %d messages (%v)", sel.NumMessages, err)
	}

	fillDisk(t, disk)
	if out, code := in.runCode("", "-d", in.dir, "user", "del", "gone@full.test"); code != 0 {
		t.Fatalf("pochta user del on a full disk: exit %d\n%s", code, out)
	}
}

// fillDisk writes to a file in dir until no block is left.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "filler"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for _, n := range []int{len(chunk), 4096, 512} {
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
}

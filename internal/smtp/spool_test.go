package smtp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/delivery"
)

// A message spooled to a file for the SPF/DKIM/DMARC checks has no name
// in the temporary directory while it is being received: a crash cannot
// leave it behind (issue 10 found 1-1.5 MB spool files after SIGKILLs).
func TestSpoolFileHasNoName(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	z, _ := authZone(t)
	e := newEnv(t, withChecker(z, true))
	r := e.raw(ModeMX)
	r.send("EHLO x\r\nMAIL FROM:<big@sender.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
	for _, want := range []string{"250 ", "250 ", "250 ", "354 "} {
		r.expect(want)
	}
	r.send("Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 1500)) // 1.5 MB, unfinished
	// Wait for the spool file to be open (positive evidence, from our own
	// file descriptors), then look at its name.
	var target string
	for deadline := time.Now().Add(20 * time.Second); target == "" && time.Now().Before(deadline); {
		fds, _ := os.ReadDir("/proc/self/fd")
		for _, fd := range fds {
			l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
			if err == nil && strings.HasPrefix(l, tmp+"/") {
				target = l
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if target == "" {
		t.Fatal("no spool file opened for a 1.5 MB message")
	}
	if !strings.HasSuffix(target, "(deleted)") {
		t.Errorf("spool file %s has a name while in use", target)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temporary directory holds %d entries", len(left))
	}
	r.send(".\r\n")
	r.expect("250 ")
}

func TestRemoveStaleSpools(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, delivery.SpoolPrefix+"1")
	young := filepath.Join(dir, delivery.SpoolPrefix+"2")
	other := filepath.Join(dir, "unrelated")
	for _, p := range []string{old, young, other} {
		if err := os.WriteFile(p, []byte("12345"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-time.Hour)
	os.Chtimes(old, past, past)
	os.Chtimes(other, past, past)
	if n, size := RemoveStaleSpools(dir, time.Minute); n != 1 || size != 5 {
		t.Errorf("removed %d files of %d bytes, want 1 of 5", n, size)
	}
	for p, want := range map[string]bool{old: false, young: true, other: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", p, err == nil, want)
		}
	}
}

package delivery

import (
	"io"
	"os"
	"testing"
)

// A spool file never shows up in the temporary directory, and holds what
// is written to it.
func TestCreateSpoolFileHasNoName(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	f, err := CreateSpoolFile()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("temporary directory holds %d entries, want none", len(entries))
	}
	if _, err := f.WriteString("spooled"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(f); err != nil || string(b) != "spooled" {
		t.Errorf("read back %q, %v", b, err)
	}
}

package mbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPythonMailbox reads an mbox written by Python's mailbox module, an
// mboxo writer (it quotes only "From " at the start of a line).
func TestPythonMailbox(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	msgs := []string{
		"Subject: one\n\nFrom here on, quoted by the writer\n>>From stays as it is\n",
		"Subject: two\nX-UID: 9\nStatus: RO\n\n\nbody after an empty line\n\n",
		"Subject: three\n\nlast\n",
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "py.mbox")
	script := `import mailbox, sys
box = mailbox.mbox(sys.argv[1])
for m in sys.argv[2:]:
    box.add(m.encode())
box.flush()
`
	if out, err := exec.Command(py, append([]string{"-c", script, path}, msgs...)...).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := readAll(t, NewReader(f, Options{Variant: MboxO, File: path}))
	if len(got) != len(msgs) {
		t.Fatalf("%d messages: %#v", len(got), got)
	}
	for i, m := range msgs {
		m = strings.Replace(m, "X-UID: 9\nStatus: RO\n", "", 1)
		if got[i].Content != m {
			t.Errorf("message %d: %q, want %q", i, got[i].Content, m)
		}
	}
	if got[1].UID != 9 || got[1].Recent || len(got[1].Flags) != 1 {
		t.Errorf("metadata %+v", got[1])
	}
}

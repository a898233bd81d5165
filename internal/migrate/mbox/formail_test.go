package mbox

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFormailMbox reads an mbox written by formail (procmail's), the
// writer of many a procmail setup: each message piped through formail,
// which adds the "From " line and quotes "From " at the start of a body
// line (mboxo), appended to the file as procmail appends.
func TestFormailMbox(t *testing.T) {
	formail, err := exec.LookPath("formail")
	if err != nil {
		t.Skip("formail not installed (Debian: procmail)")
	}
	msgs := []string{
		"From: ann@example.org\nSubject: one\n\nFrom here on, quoted by the writer\n>>From stays as it is\n",
		"From: bob@example.org\nSubject: two\nX-UID: 9\nStatus: RO\nX-Keywords: $Work\n\n\nbody after an empty line\n",
		"Subject: three\n\nlast\n",
	}
	path := filepath.Join(t.TempDir(), "formail.mbox")
	var box bytes.Buffer
	for _, m := range msgs {
		cmd := exec.Command(formail)
		cmd.Stdin = strings.NewReader(m)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("formail: %v", err)
		}
		box.Write(out)
	}
	if err := os.WriteFile(path, box.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := readAll(t, NewReader(f, Options{Variant: MboxO, File: path}))
	if len(got) != len(msgs) {
		t.Fatalf("%d messages from formail's mbox, want %d:\n%s", len(got), len(msgs), box.String())
	}
	for i, m := range msgs {
		m = strings.Replace(m, "X-UID: 9\nStatus: RO\nX-Keywords: $Work\n", "", 1)
		if got[i].Content != m {
			t.Errorf("message %d: %q, want %q", i, got[i].Content, m)
		}
	}
	if got[1].UID != 9 || got[1].Recent || len(got[1].Flags) != 1 || len(got[1].Keywords) != 1 || got[1].Keywords[0] != "$Work" {
		t.Errorf("metadata %+v, want UID 9, \\Seen and $Work", got[1])
	}
}

package main

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// moveScript is what a user does over IMAP between two runs of an
// import, with Python's imaplib: a MOVE, a COPY then EXPUNGE (a client
// without MOVE), and a deletion.
const moveScript = `
import imaplib, sys
host, port = sys.argv[1].rsplit(":", 1)
imap = imaplib.IMAP4(host, int(port))
imap.login(sys.argv[2], sys.argv[3])
typ, _ = imap.select("INBOX")
assert typ == "OK"
def ok(r):
    assert r[0] == "OK", r
ok(imap.uid("MOVE", "1", "Archive"))
ok(imap.uid("COPY", "2", "Archive"))
ok(imap.uid("STORE", "2:3", "+FLAGS.SILENT", r"(\Deleted)"))
ok(imap.expunge())
imap.logout()
`

// TestImportAgainAfterIMAPMove: messages a user moved, copied and
// expunged, or deleted over IMAP (Python's imaplib on pochta serve's
// socket) after an import are not imported again by a second run of it:
// the mailbox keeps what was imported into it apart from the messages.
func TestImportAgainAfterIMAPMove(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	dir := newDir(t)
	must(t, "pw\n", "-d", dir, "user", "add", "carol@example.test", "--password-stdin")
	src := filepath.Join(t.TempDir(), "Maildir")
	writeSourceMaildir(t, src, []string{"moved", "copied", "deleted", "kept"}, []string{"archived"})
	if out := must(t, "", "-d", dir, "import", "carol@example.test", src); !strings.HasPrefix(out, "imported: 5 messages") {
		t.Fatalf("first run:\n%s", out)
	}

	s := serve(t, dir)
	if out, err := exec.Command("python3", "-c", moveScript, s.addr("imap"), "carol@example.test", "pw").CombinedOutput(); err != nil {
		t.Fatalf("imaplib: %v\n%s\n%s", err, out, s.logText())
	}
	if got, want := subjects(t, dir, "carol@example.test", "INBOX"), []string{"kept"}; !slices.Equal(got, want) {
		t.Fatalf("INBOX after the client's changes: %q, want %q", got, want)
	}

	// The second run, while the server runs (as in docs/MIGRATION.md).
	out := must(t, "", "-d", dir, "import", "carol@example.test", src)
	if !strings.HasPrefix(out, "imported: 0 messages") || !strings.Contains(out, "already imported before: 5 messages\n") {
		t.Errorf("second run:\n%s", out)
	}
	if got, want := subjects(t, dir, "carol@example.test", "INBOX"), []string{"kept"}; !slices.Equal(got, want) {
		t.Errorf("INBOX after the second run: %q, want %q", got, want)
	}
	if got, want := subjects(t, dir, "carol@example.test", "Archive"), []string{"archived", "moved", "copied"}; !slices.Equal(got, want) {
		t.Errorf("Archive after the second run: %q, want %q", got, want)
	}
}

package prototest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// MbsyncConfig writes an mbsyncrc (isync) that syncs every folder of
// user's account on the plain IMAP server at addr (LOGIN, no TLS) with a
// Maildir tree at local (created), both ways, deletions included, and
// returns its path. Run it with `mbsync -c PATH -a`; call NeedProgram
// first.
func MbsyncConfig(t testing.TB, addr, user, password, local string) string {
	t.Helper()
	if err := os.MkdirAll(local, 0o700); err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(t.TempDir(), "mbsyncrc")
	config := fmt.Sprintf(`IMAPAccount pochta
Host %s
Port %s
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account pochta

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Near
Expunge Both
SyncState *
`, host, port, user, password, local, local)
	if err := os.WriteFile(rc, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return rc
}

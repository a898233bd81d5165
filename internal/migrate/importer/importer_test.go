package importer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

func newStore(t *testing.T, addresses ...string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, a := range addresses {
		d := a[strings.IndexByte(a, '@')+1:]
		if err := st.AddDomain(context.Background(), d); err != nil && !errors.Is(err, store.ErrExists) {
			t.Fatal(err)
		}
		if _, err := st.CreateAccount(context.Background(), a, store.Credentials{PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// writeMaildir makes a Maildir++ folder with n messages and a dovecot-uidlist
// (UIDVALIDITY 777, UIDs 10, 11, ...), or uidlist itself when not "".
func writeMaildir(t *testing.T, dir string, n int, uidlist string) {
	t.Helper()
	for _, s := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	list := "3 V777 N100\n"
	for i := range n {
		base := fmt.Sprintf("170000000%d.M%dP1.host", i, i)
		if err := os.WriteFile(filepath.Join(dir, "cur", base+":2,S"), []byte(fmt.Sprintf("Subject: %d\n\nbody %d\n", i, i)), 0o644); err != nil {
			t.Fatal(err)
		}
		list += fmt.Sprintf("%d :%s\n", 10+i, base)
	}
	if uidlist != "" {
		list = uidlist
	}
	if err := os.WriteFile(filepath.Join(dir, "dovecot-uidlist"), []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
}

func uids(t *testing.T, st *sqlite.Store, address, mailbox string) []uint32 {
	t.Helper()
	a, err := st.Account(context.Background(), address)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.GetMailbox(context.Background(), a.ID, mailbox)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.ListUIDs(context.Background(), mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestTree: --all imports every account it can; a missing account and a
// malformed UID file are reported, the rest imported.
func TestTree(t *testing.T) {
	st := newStore(t, "alice@example.test", "carol@other.test")
	root := t.TempDir()
	writeMaildir(t, filepath.Join(root, "example.test", "alice"), 3, "")
	writeMaildir(t, filepath.Join(root, "example.test", "alice", ".Broken"), 1, "3 V1 N5\n1 :a\n1 :b\n")
	writeMaildir(t, filepath.Join(root, "example.test", "bob"), 1, "")
	writeMaildir(t, filepath.Join(root, "other.test", "carol", "Maildir"), 2, "")
	s := &Service{Store: st}
	sum, err := s.Tree(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accounts != 2 || sum.Messages != 5 || len(sum.Problems) != 2 {
		t.Fatalf("summary %+v", sum)
	}
	if !strings.Contains(sum.Problems[0].String(), ".Broken") || !strings.Contains(sum.Problems[1].String(), "no account bob@example.test") {
		t.Errorf("problems %v", sum.Problems)
	}
	if got := uids(t, st, "alice@example.test", "INBOX"); !slices.Equal(got, []uint32{10, 11, 12}) {
		t.Errorf("alice's UIDs %v", got)
	}
	if got := uids(t, st, "carol@other.test", "INBOX"); !slices.Equal(got, []uint32{10, 11}) {
		t.Errorf("carol's UIDs %v", got)
	}
}

// TestRestartAfterInterruption: an import stopped after its first batch,
// run again, stores the rest once, with the source's UIDs.
func TestRestartAfterInterruption(t *testing.T) {
	st := newStore(t, "a@example.test")
	src := filepath.Join(t.TempDir(), "Maildir")
	writeMaildir(t, src, 7, "")
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{Store: st, Opt: Options{BatchMessages: 3, Progress: func(Progress) { cancel() }}}
	if _, err := s.Account(ctx, "a@example.test", src); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted import: %v", err)
	}
	if got := uids(t, st, "a@example.test", "INBOX"); !slices.Equal(got, []uint32{10, 11, 12}) {
		t.Fatalf("after the interruption: %v", got)
	}
	s.Opt.Progress = nil
	sum, err := s.Account(context.Background(), "a@example.test", src)
	if err != nil || sum.Messages != 4 || sum.Known != 3 {
		t.Fatalf("second run: %+v, %v", sum, err)
	}
	if got := uids(t, st, "a@example.test", "INBOX"); !slices.Equal(got, []uint32{10, 11, 12, 13, 14, 15, 16}) {
		t.Errorf("after the second run: %v", got)
	}
}

// TestMboxProblems: a message whose header is too long is reported and
// skipped; a dry run stores nothing; identical messages are both kept.
func TestMboxProblems(t *testing.T) {
	st := newStore(t, "a@example.test")
	path := filepath.Join(t.TempDir(), "mbox")
	huge := "X-Big: " + strings.Repeat("x", 2<<20) + "\n"
	text := "From a@b Mon Nov 30 10:00:00 2026\nSubject: one\n\nsame\n\n" +
		"From a@b Mon Nov 30 10:00:00 2026\n" + huge + "Subject: two\n\nbig\n\n" +
		"From a@b Mon Nov 30 10:00:00 2026\nSubject: one\n\nsame\n\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	dry := &Service{Store: st, Opt: Options{DryRun: true}}
	sum, err := dry.Account(context.Background(), "a@example.test", path)
	if err != nil || sum.Messages != 2 || len(sum.Problems) != 1 {
		t.Fatalf("dry run: %+v, %v", sum, err)
	}
	if got := uids(t, st, "a@example.test", "INBOX"); len(got) != 0 {
		t.Fatalf("a dry run stored %v", got)
	}
	s := &Service{Store: st}
	sum, err = s.Account(context.Background(), "a@example.test", path)
	if err != nil || sum.Messages != 2 || len(sum.Problems) != 1 || !strings.Contains(sum.Problems[0].String(), "header longer") {
		t.Fatalf("import: %+v, %v", sum, err)
	}
	sum, err = s.Account(context.Background(), "a@example.test", path)
	if err != nil || sum.Messages != 0 || sum.Known != 2 {
		t.Fatalf("again: %+v, %v", sum, err)
	}
}

// TestImportedHook: Options.Imported gets, per account, the UIDs the run
// put into INBOX: not another folder's, not those of an earlier run; it
// is not called in a dry run.
func TestImportedHook(t *testing.T) {
	st := newStore(t, "a@example.test")
	src := filepath.Join(t.TempDir(), "Maildir")
	writeMaildir(t, src, 2, "")
	writeMaildir(t, filepath.Join(src, ".Sub"), 2, "")
	var got [][]uint32
	hook := func(_ context.Context, acct store.Account, inbox []uint32) error {
		if acct.Address != "a@example.test" {
			t.Errorf("hook for %s", acct.Address)
		}
		got = append(got, slices.Clone(inbox))
		return nil
	}
	dry := &Service{Store: st, Opt: Options{DryRun: true, Imported: hook}}
	if _, err := dry.Account(context.Background(), "a@example.test", src); err != nil || len(got) != 0 {
		t.Fatalf("dry run: %v, hook called with %v", err, got)
	}
	s := &Service{Store: st, Opt: Options{Imported: hook}}
	if _, err := s.Account(context.Background(), "a@example.test", src); err != nil {
		t.Fatal(err)
	}
	// Catching up: one more message in INBOX.
	writeMaildir(t, src, 3, "")
	if _, err := s.Account(context.Background(), "a@example.test", src); err != nil {
		t.Fatal(err)
	}
	if want := [][]uint32{{10, 11}, {12}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("hook called with %v, want %v", got, want)
	}
	s.Opt.Imported = func(context.Context, store.Account, []uint32) error { return errors.New("filter failed") }
	if _, err := s.Account(context.Background(), "a@example.test", src); err == nil || err.Error() != "filter failed" {
		t.Errorf("the hook's error is the account's: %v", err)
	}
}

// TestMboxLargeMessage: a message past spoolMemory is spooled to a file
// while its batch waits, stored whole, and leaves nothing in the
// temporary directory.
func TestMboxLargeMessage(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	st := newStore(t, "a@example.test")
	path := filepath.Join(t.TempDir(), "mbox")
	line := strings.Repeat("x", 76) + "\n"
	big := "Subject: big\n\n" + strings.Repeat(line, spoolMemory/len(line)+100)
	text := "From a@b Mon Nov 30 10:00:00 2026\n" + big + "\n" +
		"From a@b Mon Nov 30 10:00:00 2026\nSubject: small\n\nsmall\n\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Service{Store: st}
	sum, err := s.Account(context.Background(), "a@example.test", path)
	if err != nil || sum.Messages != 2 {
		t.Fatalf("import: %+v, %v", sum, err)
	}
	acct, err := st.Account(context.Background(), "a@example.test")
	if err != nil {
		t.Fatal(err)
	}
	bodies := storetest.Bodies(t, st, acct.ID)
	if len(bodies) != 2 || bodies[0] != strings.ReplaceAll(big, "\n", "\r\n") {
		t.Fatalf("stored %d messages; the large one whole: %v", len(bodies), len(bodies) > 0 && bodies[0] == strings.ReplaceAll(big, "\n", "\r\n"))
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left in the temporary directory: %v", left)
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// A change committed through another Store on the same directory (as
// `pochta deliver` does from its own process) reaches this Store's
// subscribers through the watcher.
func TestWatcherSeesOtherProcess(t *testing.T) {
	dir := t.TempDir()
	serving := openTest(t, dir, Options{PollInterval: 20 * time.Millisecond})
	other := openTest(t, dir, Options{})
	a := newAccount(t, other, "watched@example.org")
	b := newAccount(t, other, "unwatched@example.org")
	sub := serving.Subscribe(a.ID)
	defer sub.Close()
	inbox, err := serving.GetMailbox(context.Background(), a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	// The first poll announces the new subscriber's mailboxes once.
	waitChanged(t, sub, inbox.ID, "first poll")

	deliverTo(t, other, "Subject: x\r\n\r\nfrom afar\r\n", store.Recipient{AccountID: a.ID})
	waitChanged(t, sub, inbox.ID, "a delivery by another process")
	// Changes to other accounts do not concern this subscriber.
	deliverTo(t, other, "Subject: y\r\n\r\nnot yours\r\n", store.Recipient{AccountID: b.ID})
	time.Sleep(100 * time.Millisecond) // several poll intervals
	if sub.Changed(inbox.ID) {
		t.Errorf("told about INBOX after another account's delivery")
	}
}

// waitChanged waits until the subscription reports mailboxID changed.
func waitChanged(t *testing.T, sub *store.Subscription, mailboxID int64, what string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-sub.C:
			if sub.Changed(mailboxID) {
				return
			}
		case <-deadline:
			t.Fatalf("no event for %s", what)
		}
	}
}

// Accounts created before the IMAP migration get the default folders.
func TestMigrationAddsDefaultFolders(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stmts := []string{
		`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`,
		migrations[0], migrations[1],
		`INSERT INTO schema_version VALUES (1, 0), (2, 0)`,
		`INSERT INTO domains (id, name, created) VALUES (1, 'example.org', 0)`,
		`INSERT INTO accounts (id, domain_id, address, password_hash, scram_sha256, legacy_secret, created)
			VALUES (7, 1, 'old@example.org', 'h', '', '', 0)`,
		`INSERT INTO mailboxes (account_id, name, uidvalidity) VALUES (7, 'INBOX', 1)`,
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s := openTest(t, dir, Options{})
	ms, err := s.ListMailboxes(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name+m.SpecialUse)
	}
	want := []string{`Archive\Archive`, `Drafts\Drafts`, "INBOX", `Junk\Junk`, `Sent\Sent`, `Trash\Trash`}
	if !slices.Equal(names, want) {
		t.Errorf("mailboxes after migration: %q, want %q", names, want)
	}
}

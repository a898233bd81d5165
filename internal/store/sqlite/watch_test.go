package sqlite

import (
	"context"
	"database/sql"
	"fmt"
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

// BenchmarkWatcherPoll measures one poll of the cross-process watcher with
// 1,000 subscribed accounts (6,000 mailboxes): "idle" when no other
// connection committed (the cost paid every 500 ms), "changed" after a
// commit elsewhere.
func BenchmarkWatcherPoll(b *testing.B) {
	dir := b.TempDir()
	s := openTest(b, dir, Options{PollInterval: time.Hour})
	other := openTest(b, dir, Options{})
	var subs []*store.Subscription
	var first store.Account
	for i := range 1000 {
		a := newAccount(b, other, fmt.Sprintf("w%d@example.org", i))
		if i == 0 {
			first = a
		}
		subs = append(subs, s.Subscribe(a.ID))
	}
	defer func() {
		for _, sub := range subs {
			sub.Close()
		}
	}()
	// A watcher of its own, not running: the store's own one polls on
	// its schedule and must not share this one's state.
	w := &watcher{s: s, seen: map[int64]uint64{}, known: map[int64]bool{}}
	defer func() {
		if w.conn != nil {
			w.conn.Close()
		}
	}()
	if err := w.poll(); err != nil {
		b.Fatal(err)
	}
	b.Run("idle", func(b *testing.B) {
		for b.Loop() {
			if err := w.poll(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("changed", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			deliverTo(b, other, "Subject: x\r\n\r\nx\r\n", store.Recipient{AccountID: first.ID})
			b.StartTimer()
			if err := w.poll(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

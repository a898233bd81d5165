package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// TestTombstonesPruned runs the pruning case of the conformance suite
// with 4 tombstones kept, and checks the rows left: the 4 kept at the
// prune and the one removal after it.
func TestTombstonesPruned(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{KeepExpunged: 4})
	mailboxID := storetest.Pruning(t, s, 4)
	var n int
	if err := s.reader.QueryRowContext(context.Background(), `SELECT count(*) FROM expunged WHERE mailbox_id = ?`, mailboxID).Scan(&n); err != nil || n != 5 {
		t.Errorf("%d tombstones kept (%v), want 5", n, err)
	}
}

// TestMigrationTombstoneFloor: removals before migration 9 left no
// tombstone, so an upgraded mailbox answers exactly only from its
// mod-sequence at the upgrade on; its messages get a mod-sequence.
func TestMigrationTombstoneFloor(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// Every migration before the tombstones' (13).
	writeOldDB(t, dir, 12, append(oldInbox,
		`INSERT INTO messages (mailbox_id, account_id, uid, uidl, body, size, dot_lines, internal_date)
			VALUES (70, 7, 1, 'u1', 'b1', 1, 0, 0), (70, 7, 2, 'u2', 'b1', 1, 0, 0), (70, 7, 3, 'u3', 'b1', 1, 0, 0)`,
		`DELETE FROM messages WHERE uid = 2`,
	)...)
	s := openTest(t, dir, Options{})
	highest, err := s.MailboxModSeq(ctx, 70)
	if err != nil {
		t.Fatal(err)
	}
	if uids, complete, err := s.Expunged(ctx, 70, highest-1); err != nil || complete || len(uids) != 0 {
		t.Errorf("Expunged from before the upgrade: %v, complete %v, %v; want incomplete", uids, complete, err)
	}
	if uids, complete, err := s.Expunged(ctx, 70, highest); err != nil || !complete || len(uids) != 0 {
		t.Errorf("Expunged from the upgrade on: %v, complete %v, %v", uids, complete, err)
	}
	msgs, err := s.ListMessages(ctx, 70, store.MessageQuery{})
	if err != nil || len(msgs) != 2 || msgs[0].ModSeq != 1 || msgs[1].ModSeq != 1 {
		t.Errorf("messages after the upgrade: %+v, %v; want ModSeq 1", msgs, err)
	}
}

// oldInbox are the rows of an account's INBOX (mailbox 70, UIDNEXT 4)
// and a body b1 in a database writeOldDB writes.
var oldInbox = []string{
	`INSERT INTO domains (id, name, created) VALUES (1, 'example.org', 0)`,
	`INSERT INTO accounts (id, domain_id, address, password_hash, scram_sha256, legacy_secret, created)
		VALUES (7, 1, 'old@example.org', 'h', '', '', 0)`,
	`INSERT INTO mailboxes (id, account_id, name, uidvalidity, uidnext) VALUES (70, 7, 'INBOX', 1, 4)`,
	`INSERT INTO blobs (name, data) VALUES ('b1', 'x')`,
}

// writeOldDB writes a database in dir as the first version migrations
// left it, then runs stmts on it: what an older Pochta stored.
func writeOldDB(t *testing.T, dir string, version int, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all := []string{`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`}
	all = append(all, migrations[:version]...)
	for v := 1; v <= version; v++ {
		all = append(all, fmt.Sprintf(`INSERT INTO schema_version VALUES (%d, 0)`, v))
	}
	for _, q := range append(all, stmts...) {
		if _, err := db.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestMigrationImportKeys: the keys an import stored on its messages
// before migration 17 become the mailbox's record, so a run after the
// upgrade skips them, and messages without a key stay keyless.
func TestMigrationImportKeys(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	writeOldDB(t, dir, 16, append(oldInbox,
		`INSERT INTO messages (mailbox_id, account_id, uid, uidl, body, size, dot_lines, internal_date, import_key)
			VALUES (70, 7, 1, 'u1', 'b1', 1, 0, 0, 'k1'), (70, 7, 2, 'u2', 'b1', 1, 0, 0, NULL),
			(70, 7, 3, 'u3', 'b1', 1, 0, 0, 'k3')`,
	)...)
	s := openTest(t, dir, Options{})
	keys, err := s.ImportedKeys(ctx, 70)
	if err != nil || len(keys) != 2 || keys["k1"] != 1 || keys["k3"] != 3 {
		t.Errorf("ImportedKeys after the upgrade = %v, %v; want k1 and k3", keys, err)
	}
	res, err := s.ImportMessages(ctx, 70, []store.ImportMessage{{Key: "k3", Open: nil}})
	if err != nil || !res[0].Skipped || res[0].UID != 3 {
		t.Errorf("import of k3 after the upgrade: %+v, %v; want skipped as UID 3", res, err)
	}
}

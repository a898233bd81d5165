package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// TestTextIndexMigration: messages stored before the text index
// (migration 15) are candidates for every search until IndexText has
// indexed them, batch by batch; copies sharing a body share the document,
// and a body whose file is lost is marked not indexable (still a
// candidate, not tried again).
func TestTextIndexMigration(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	writeOldDB(t, dir, 14, // every migration before the text index's
		`INSERT INTO domains (id, name, created) VALUES (1, 'example.org', 0)`,
		`INSERT INTO accounts (id, domain_id, address, password_hash, scram_sha256, legacy_secret, created)
			VALUES (7, 1, 'old@example.org', 'h', '', '', 0)`,
		`INSERT INTO mailboxes (id, account_id, name, uidvalidity, uidnext) VALUES (70, 7, 'INBOX', 1, 5), (71, 7, 'Archive', 1, 2)`,
		`INSERT INTO blobs (name, data) VALUES ('b1', 'Subject: one'||char(13,10,13,10)||'a unicorn here'||char(13,10)),
			('b2', 'Subject: two'||char(13,10,13,10)||'a zebra there'||char(13,10)),
			('b3', 'Subject: three'||char(13,10,13,10)||'a walrus'||char(13,10))`,
		`INSERT INTO messages (mailbox_id, account_id, uid, uidl, body, size, dot_lines, internal_date)
			VALUES (70, 7, 1, 'u1', 'b1', 1, 0, 0), (70, 7, 2, 'u2', 'b2', 1, 0, 0), (70, 7, 3, 'u3', 'b3', 1, 0, 0),
			(70, 7, 4, 'u4', 'ab/lost', 1, 0, 0), (71, 7, 1, 'u5', 'b1', 1, 0, 0)`,
	)
	s := openTest(t, dir, Options{})
	cands := func(mb int64, needle string) []uint32 { return storetest.Candidates(t, s, mb, needle) }
	if got := cands(70, "unicorn"); !slices.Equal(got, []uint32{1, 2, 3, 4}) {
		t.Errorf("before indexing: candidates %v, want every message", got)
	}
	n, err := s.IndexText(ctx, 2)
	if err != nil || n != 2 {
		t.Fatalf("IndexText(2): %d, %v", n, err)
	}
	if got := cands(70, "unicorn"); !slices.Equal(got, []uint32{1, 3, 4}) {
		t.Errorf("half indexed: candidates %v, want 1 and the two not indexed yet", got)
	}
	if got := cands(71, "unicorn"); !slices.Equal(got, []uint32{1}) {
		t.Errorf("the copy in Archive: candidates %v, want 1", got)
	}
	for {
		n, err := s.IndexText(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if got := cands(70, "walrus"); !slices.Equal(got, []uint32{3, 4}) {
		t.Errorf("indexed: candidates %v, want 3 and the lost body 4", got)
	}
	var docs, unindexable int
	s.reader.QueryRowContext(ctx, `SELECT count(DISTINCT text_doc), count(*) FILTER (WHERE text_doc = 0) FROM messages`).Scan(&docs, &unindexable)
	if docs != 4 || unindexable != 1 {
		t.Errorf("%d distinct text_doc values, %d not indexable; want 4 (3 documents and 0) and 1", docs, unindexable)
	}
	// The last message of a document takes it along.
	if _, err := s.writer.ExecContext(ctx, `DELETE FROM messages WHERE body = 'b1'`); err != nil {
		t.Fatal(err)
	}
	var left int
	s.reader.QueryRowContext(ctx, `SELECT count(*) FROM text_index_docsize`).Scan(&left)
	if left != 2 {
		t.Errorf("%d documents left after b1's messages were removed, want 2", left)
	}
}

// TestTextIndexerAtStart: storetest.TextIndexerAtStart on one directory.
func TestTextIndexerAtStart(t *testing.T) {
	dir := t.TempDir()
	storetest.TextIndexerAtStart(t, func(indexer bool) store.Store {
		return openTest(t, dir, Options{TextIndexer: indexer})
	})
}

// TestTextIndexRetries: storetest.TextIndexRetries with the bodies'
// directory replaced by a file (every open fails with ENOTDIR).
func TestTextIndexRetries(t *testing.T) {
	dir := t.TempDir()
	storetest.TextIndexRetries(t, func(now func() time.Time) store.Store {
		return openTest(t, dir, Options{Now: now, InlineMax: -1})
	}, func(_ store.Store, broken bool) {
		bodies := filepath.Join(dir, bodiesDir)
		if broken {
			if err := os.Rename(bodies, bodies+".away"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(bodies, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return
		}
		if err := os.Remove(bodies); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(bodies+".away", bodies); err != nil {
			t.Fatal(err)
		}
	})
}

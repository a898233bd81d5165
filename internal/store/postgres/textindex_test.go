package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// TestTextIndexBuild: messages stored before the text index (migration
// 8; since migration 18 a text_pending row, no text_docs row) are
// candidates for every search until IndexText has indexed them, batch by
// batch.
func TestTextIndexBuild(t *testing.T) {
	ctx := context.Background()
	s, inbox, archive := unindexedWithCopy(t, "textbuild", "a unicorn here", "a zebra there", "a walrus")
	cands := func(mb int64, needle string) []uint32 { return storetest.Candidates(t, s, mb, needle) }
	if got := cands(inbox.ID, "unicorn"); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Errorf("before indexing: candidates %v, want every message", got)
	}
	total := 0
	for {
		n, err := s.IndexText(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
		if total == 1 {
			// 3 has the word; of 1 and 2, the one indexed is ruled out.
			if got := cands(inbox.ID, "walrus"); !slices.Contains(got, 3) || len(got) == 1 {
				t.Errorf("one body indexed: candidates %v, want 3 and what is not indexed yet", got)
			}
		}
	}
	if total != 4 {
		t.Errorf("IndexText claimed %d messages, want 4 (3, and the copy, whose body is its original's)", total)
	}
	if got := cands(inbox.ID, "unicorn"); !slices.Equal(got, []uint32{1}) {
		t.Errorf("indexed: candidates %v, want 1", got)
	}
	if got := cands(archive.ID, "unicorn"); !slices.Equal(got, []uint32{1}) {
		t.Errorf("indexed: the copy's candidates %v, want 1", got)
	}
}

// TestTextIndexerAtStart: storetest.TextIndexerAtStart on one schema.
func TestTextIndexerAtStart(t *testing.T) {
	dsn := pgtest.Database(t)
	storetest.TextIndexerAtStart(t, func(indexer bool) store.Store {
		return openTest(t, dsn, Options{Schema: "restart", TextIndexer: indexer})
	})
}

// TestIndexTextSkipsHeldRows: a pending message another indexer holds
// (another node's batch) does not make the indexer wait: a later batch
// takes it.
func TestIndexTextSkipsHeldRows(t *testing.T) {
	ctx := context.Background()
	s, _, archive := unindexedWithCopy(t, "textheld", "a unicorn")
	// Another transaction holds the copy.
	held, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Rollback(ctx)
	if _, err := held.Exec(ctx, `SELECT 1 FROM text_pending p JOIN messages m ON m.id = p.message_id
		WHERE m.mailbox_id = $1 FOR UPDATE OF p`, archive.ID); err != nil {
		t.Fatal(err)
	}
	// A hang here is the failure; the deadline only ends it.
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if n, err := s.IndexText(wait, 10); err != nil || n != 1 {
		t.Fatalf("IndexText with the copy held: %d, %v; want the original indexed", n, err)
	}
	held.Rollback(ctx)
	if n, err := s.IndexText(ctx, 10); err != nil || n != 1 {
		t.Fatalf("IndexText after: %d, %v; want the copy taken", n, err)
	}
	var left int
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM text_pending)
		+ (SELECT count(*) FROM messages WHERE text_indexed = false)`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d messages not indexed (%v), want none", left, err)
	}
}

// TestFlagChangeDoesNotWaitForIndexer: an indexer batch holds its
// text_pending rows, not the messages: a flag change of a message it is
// indexing goes through at once, and an expunge waits for the batch.
func TestFlagChangeDoesNotWaitForIndexer(t *testing.T) {
	ctx := context.Background()
	s, inbox, _ := unindexedWithCopy(t, "textflags", "a unicorn")
	batch, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer batch.Rollback(ctx)
	if _, err := batch.Exec(ctx, `SELECT 1 FROM text_pending FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	// A hang here is the failure; the deadline only ends it.
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := s.UpdateFlags(wait, inbox.ID, []uint32{1}, store.FlagsAdd, []string{store.FlagSeen, store.FlagDeleted}); err != nil {
		t.Fatalf("flag change while the indexer holds the message: %v", err)
	}
	expunged := make(chan error, 1)
	go func() {
		_, err := s.Expunge(ctx, inbox.ID, nil)
		expunged <- err
	}()
	// The expunge's trigger waits for the batch's row lock.
	for {
		var waiting bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-expunged:
			t.Fatalf("the expunge did not wait for the indexer's batch (%v)", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	batch.Rollback(ctx)
	if err := <-expunged; err != nil {
		t.Fatal(err)
	}
	var left int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM text_pending p JOIN messages m ON m.id = p.message_id
		WHERE m.mailbox_id = $1`, inbox.ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d pending rows of the expunged message (%v), want none", left, err)
	}
}

// unindexedWithCopy opens a store in schema with one account whose INBOX
// holds a message per body, the first copied to Archive, and nothing
// indexed (as before migration 8).
func unindexedWithCopy(t *testing.T, schema string, bodies ...string) (s *Store, inbox, archive store.Mailbox) {
	t.Helper()
	ctx := context.Background()
	s = openTest(t, pgtest.Database(t), Options{Schema: schema})
	if err := s.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, "old@example.org", store.Credentials{PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range bodies {
		if err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}},
			Body: strings.NewReader("Subject: x\r\n\r\n" + body + "\r\n")}); err != nil {
			t.Fatal(err)
		}
	}
	if inbox, err = s.GetMailbox(ctx, a.ID, "INBOX"); err != nil {
		t.Fatal(err)
	}
	if archive, err = s.GetMailbox(ctx, a.ID, "Archive"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CopyMessages(ctx, inbox.ID, []uint32{1}, archive.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO text_pending SELECT id, body_id, account_id FROM messages ON CONFLICT DO NOTHING;
		DELETE FROM text_postings; DELETE FROM text_docs; DELETE FROM text_accounts`); err != nil {
		t.Fatal(err)
	}
	return s, inbox, archive
}

// TestTextIndexChunks: with chunks of a few octets, the terms of many
// bodies span many chunks, and searches still name exactly the bodies
// with the string (and the copies of one), also after bodies go.
func TestTextIndexChunks(t *testing.T) {
	ctx := context.Background()
	bodies := make([]string, 40)
	for i := range bodies {
		bodies[i] = "a zebra"
		if i%3 == 0 {
			bodies[i] = "a unicorn and a zebra"
		}
	}
	s, inbox, archive := unindexedWithCopy(t, "textchunks", bodies...)
	s.chunkMax = 3 // a count, k and 8 bits
	for {
		n, err := s.IndexText(ctx, 4)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	var chunks int
	if err := s.pool.QueryRow(ctx, `SELECT max(n) FROM (SELECT count(*) AS n FROM text_postings GROUP BY term) c`).Scan(&chunks); err != nil || chunks < 5 {
		t.Fatalf("at most %d chunks a term (%v), want terms spanning several", chunks, err)
	}
	var want []uint32
	for uid := uint32(1); uid <= 40; uid += 3 {
		want = append(want, uid)
	}
	if got := storetest.Candidates(t, s, inbox.ID, "unicorn"); !slices.Equal(got, want) {
		t.Errorf("unicorn: candidates %v, want %v", got, want)
	}
	if got := storetest.Candidates(t, s, inbox.ID, "zebra"); len(got) != 40 {
		t.Errorf("zebra: %d candidates, want 40", len(got))
	}
	if got := storetest.Candidates(t, s, archive.ID, "unicorn"); !slices.Equal(got, []uint32{1}) {
		t.Errorf("the copy: candidates %v, want 1", got)
	}
	if got := storetest.Candidates(t, s, inbox.ID, "walrus"); len(got) != 0 {
		t.Errorf("walrus: candidates %v, want none", got)
	}
	// Expunged: its body stays for the copy; the others' go.
	if _, err := s.UpdateFlags(ctx, inbox.ID, []uint32{1, 4, 7}, store.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got := storetest.Candidates(t, s, inbox.ID, "unicorn"); !slices.Equal(got, want[3:]) {
		t.Errorf("after expunging 1, 4, 7: candidates %v, want %v", got, want[3:])
	}
	if got := storetest.Candidates(t, s, archive.ID, "unicorn"); !slices.Equal(got, []uint32{1}) {
		t.Errorf("after expunging the original: the copy's candidates %v, want 1", got)
	}
}

// TestTextIndexRetries: storetest.TextIndexRetries with body_chunks
// renamed away (every read of a body fails).
func TestTextIndexRetries(t *testing.T) {
	dsn := pgtest.Database(t)
	storetest.TextIndexRetries(t, func(now func() time.Time) store.Store {
		return openTest(t, dsn, Options{Schema: "retry", Now: now})
	}, func(s store.Store, broken bool) {
		stmt := `ALTER TABLE body_chunks RENAME TO body_chunks_away`
		if !broken {
			stmt = `ALTER TABLE body_chunks_away RENAME TO body_chunks`
		}
		if _, err := s.(*Store).pool.Exec(context.Background(), stmt); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTextIndexChunkTails: every chunk's row keeps the tail its chunk
// decodes to, also when the indexer appended to a chunk written without
// one (before migration 17), and searches still name exactly the bodies
// with the string.
func TestTextIndexChunkTails(t *testing.T) {
	ctx := context.Background()
	bodies := make([]string, 60)
	for i := range bodies {
		bodies[i] = "a zebra"
		if i%4 == 0 {
			bodies[i] = "a unicorn and a zebra"
		}
	}
	s, inbox, _ := unindexedWithCopy(t, "texttails", bodies...)
	index := func(rows int) {
		t.Helper()
		for done := 0; done < rows; {
			n, err := s.IndexText(ctx, 5)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			done += n
		}
	}
	check := func(when string) {
		t.Helper()
		rows, _ := s.pool.Query(ctx, `SELECT first_doc, docs, last_doc, bits FROM text_postings`)
		var first int32
		var docs []byte
		var last, bits *int32
		n := 0
		if _, err := pgx.ForEachRow(rows, []any{&first, &docs, &last, &bits}, func() error {
			n++
			want, err := tailOf(uint32(first), docs)
			if err != nil || last == nil || bits == nil || (chunkTail{uint32(*last), int(*bits)}) != want {
				t.Errorf("%s: chunk %d: tail %v/%v, decoded %+v (%v)", when, first, last, bits, want, err)
			}
			return nil
		}); err != nil || n == 0 {
			t.Fatalf("%s: %d chunks, %v", when, n, err)
		}
	}
	index(30)
	check("indexed in batches")
	if _, err := s.pool.Exec(ctx, `UPDATE text_postings SET last_doc = NULL, bits = NULL`); err != nil {
		t.Fatal(err)
	}
	index(100)
	check("appended to chunks without a tail")
	var want []uint32
	for uid := uint32(1); uid <= 60; uid += 4 {
		want = append(want, uid)
	}
	if got := storetest.Candidates(t, s, inbox.ID, "unicorn"); !slices.Equal(got, want) {
		t.Errorf("unicorn: candidates %v, want %v", got, want)
	}
	if got := storetest.Candidates(t, s, inbox.ID, "zebra"); len(got) != 60 {
		t.Errorf("zebra: %d candidates, want 60", len(got))
	}
}

// TestDeliveriesWakeIndexer: deliveries are indexed without a Flush,
// both a few (woken by the committer's timer) and a batch's worth at
// once (woken by their count).
func TestDeliveriesWakeIndexer(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, pgtest.Database(t), Options{Schema: "textwake", TextIndexer: true})
	a := user(t, s, "wake@example.org")
	indexed := func(want int) {
		t.Helper()
		// A hang here is the failure; the deadline only ends it.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			var n int
			if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM messages m
				WHERE NOT EXISTS (SELECT 1 FROM text_pending p WHERE p.message_id = m.id)`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d messages indexed, want %d", n, want)
			}
		}
	}
	deliver(t, s, a, "Subject: one\r\n\r\na unicorn\r\n")
	indexed(1)
	ds := make([]store.Delivery, textIndexBatch)
	for i := range ds {
		ds[i] = store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}},
			Body: strings.NewReader("Subject: many\r\n\r\na zebra\r\n")}
	}
	for _, err := range s.DeliverBatch(ctx, ds) {
		if err != nil {
			t.Fatal(err)
		}
	}
	indexed(1 + textIndexBatch)
}

// TestPatchPostingsFindsRowsByKey: the patch of a batch's chunks finds
// each row through the primary key, also when the account has many rows
// and the batch many terms (a hash join would read all the account's).
func TestPatchPostingsFindsRowsByKey(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, pgtest.Database(t), Options{Schema: "textpatch"})
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO text_postings SELECT a, t, 1, '\x0100', 1, 0
		FROM generate_series(1, 8) a, generate_series(1, 5000) t`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `ANALYZE text_postings`); err != nil {
		t.Fatal(err)
	}
	for _, set := range nestedLoops {
		if _, err := tx.Exec(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	n := make([]int32, 3000)
	heads := make([][]byte, len(n))
	for i := range n {
		n[i], heads[i] = int32(i+1), []byte{1, 0}
	}
	rows, _ := tx.Query(ctx, "EXPLAIN "+patchPostings, 3, n, n, heads, n, n, heads, n, n)
	var plan []string
	var line string
	if _, err := pgx.ForEachRow(rows, []any{&line}, func() error { plan = append(plan, line); return nil }); err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(plan, "\n"); !strings.Contains(text, "Index Scan using text_postings_pkey") ||
		!strings.Contains(text, "Nested Loop") {
		t.Errorf("the patch does not find rows by key:\n%s", text)
	}
}

// TestAddDocsKeepsAnEarlierNumber: a body another batch numbered first
// (two nodes' indexers with one body's messages) keeps that number; the
// later batch's addDocs succeeds instead of failing the whole batch.
func TestAddDocsKeepsAnEarlierNumber(t *testing.T) {
	ctx := context.Background()
	s, inbox, _ := unindexedWithCopy(t, "textrace", "a unicorn")
	var body, account int64
	if err := s.pool.QueryRow(ctx, `SELECT body_id, account_id FROM messages WHERE mailbox_id = $1`, inbox.ID).
		Scan(&body, &account); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.withTx(ctx, "test", func(t *tx) error {
			return s.addDocs(ctx, t, account, []textDoc{{body: body, terms: []uint32{7, 9}}})
		}); err != nil {
			t.Fatalf("addDocs: %v", err)
		}
	}
	rows, _ := s.pool.Query(ctx, `SELECT doc FROM text_docs WHERE body_id = $1 AND account_id = $2`, body, account)
	docs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || !slices.Equal(docs, []int32{1}) {
		t.Fatalf("the body's documents: %v, %v; want the first number only", docs, err)
	}
}

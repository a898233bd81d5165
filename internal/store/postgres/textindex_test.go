package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// TestTextIndexBuild: messages stored before the text index (migration
// 8: text_indexed NULL, no body_text row) are candidates for every
// search until IndexText has indexed them, batch by batch; a body that
// cannot be read is marked not indexable.
func TestTextIndexBuild(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, pgtest.Database(t), Options{Schema: "textbuild"})
	if err := s.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, "old@example.org", store.Credentials{PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"a unicorn here", "a zebra there", "a walrus"} {
		if err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}},
			Body: strings.NewReader("Subject: x\r\n\r\n" + body + "\r\n")}); err != nil {
			t.Fatal(err)
		}
	}
	inbox, err := s.GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	archive, err := s.GetMailbox(ctx, a.ID, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CopyMessages(ctx, inbox.ID, []uint32{1}, archive.ID); err != nil {
		t.Fatal(err)
	}
	// Back to before the migration.
	if _, err := s.pool.Exec(ctx, `UPDATE messages SET text_indexed = NULL; DELETE FROM body_text`); err != nil {
		t.Fatal(err)
	}
	cands := func(mb int64, needle string) []uint32 {
		t.Helper()
		uids, err := s.TextCandidates(ctx, mb, message.QueryTerms(needle))
		if err != nil {
			t.Fatal(err)
		}
		return uids
	}
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
	if total != 3 {
		t.Errorf("IndexText indexed %d bodies, want 3 (the copy shares its original's)", total)
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

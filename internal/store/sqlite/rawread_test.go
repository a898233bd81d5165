package sqlite

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestListMessagesConcurrent runs more listings at once than the store
// has listing connections (rawread.go), with bodies inline and in files,
// while deliveries go on: each listing sees a consistent prefix of the
// mailbox with the right bodies, and the race detector watches the
// connections (opened without SQLite's own mutex) being handed around.
func TestListMessagesConcurrent(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{InlineMax: 300})
	a := newAccount(t, s, "raw@example.org")
	ctx := context.Background()
	body := func(i int) string {
		// Every third body is over InlineMax: a file.
		return fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", 100+(i%3)*200))
	}
	const first, more = 20, 20
	for i := range first {
		deliverTo(t, s, body(i), store.Recipient{AccountID: a.ID})
	}
	inbox, err := s.GetMailbox(ctx, a.ID, store.InboxName)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := first; i < first+more; i++ {
			deliverTo(t, s, body(i), store.Recipient{AccountID: a.ID})
		}
	})
	for range 3 * readers {
		wg.Go(func() {
			for range 5 {
				msgs, err := s.ListMessages(ctx, inbox.ID, store.MessageQuery{Bodies: true, Summary: true})
				if err != nil {
					t.Error(err)
					return
				}
				if len(msgs) < first {
					t.Errorf("%d messages listed, want at least %d", len(msgs), first)
				}
				for i, m := range msgs {
					if m.UID != uint32(i+1) {
						t.Errorf("message %d has UID %d", i, m.UID)
					}
					r, err := m.Open()
					if err != nil {
						t.Error(err)
						continue
					}
					got, err := io.ReadAll(r)
					r.Close()
					if want := body(i); err != nil || string(got) != want {
						t.Errorf("UID %d: %d octets (%v), want %d", m.UID, len(got), err, len(want))
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestListMessagesClosed: a listing after Close fails; it does not touch
// closed connections.
func TestListMessagesClosed(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	a := newAccount(t, s, "closed@example.org")
	deliverTo(t, s, "Subject: x\r\n\r\nx\r\n", store.Recipient{AccountID: a.ID})
	ctx := context.Background()
	inbox, err := s.GetMailbox(ctx, a.ID, store.InboxName)
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := s.ListMessages(ctx, inbox.ID, store.MessageQuery{Bodies: true}); err != nil || len(msgs) != 1 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	s.Close()
	if _, err := s.ListMessages(ctx, inbox.ID, store.MessageQuery{}); err == nil {
		t.Error("listing after Close succeeded")
	}
}

// TestListMessagesNotReprepared: listing batch after batch with new
// bounds and limits runs the same prepared statement. A bound value the
// planner looks at (it did at a LIMIT ?) makes SQLite prepare the
// statement again at every run, which cost 8% of the server's CPU under
// a full-mailbox FETCH.
func TestListMessagesNotReprepared(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	a := newAccount(t, s, "prep@example.org")
	for i := range 10 {
		deliverTo(t, s, fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i), store.Recipient{AccountID: a.ID})
	}
	ctx := context.Background()
	inbox, err := s.GetMailbox(ctx, a.ID, store.InboxName)
	if err != nil {
		t.Fatal(err)
	}
	const runs = 30
	for i := range runs {
		q := store.MessageQuery{MinUID: uint32(1 + i%5), MaxUID: uint32(6 + i%5), Limit: 1 + i%4, Bodies: true}
		if msgs, err := s.ListMessages(ctx, inbox.ID, q); err != nil || len(msgs) != q.Limit {
			t.Fatalf("%+v: %d messages, %v", q, len(msgs), err)
		}
	}
	c, err := s.raw.get(ctx) // the one connection: the listings ran one at a time
	if err != nil {
		t.Fatal(err)
	}
	defer s.raw.put(c)
	for q, st := range c.stmts {
		if n := sqlite3.Xsqlite3_stmt_status(c.tls, st, sqlite3.SQLITE_STMTSTATUS_REPREPARE, 0); n > 1 {
			t.Errorf("prepared again %d times in %d runs: %s", n, runs, q)
		}
	}
}

package sqlite

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

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

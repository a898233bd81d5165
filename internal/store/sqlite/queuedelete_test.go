package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestDeleteQueuedGroupCommit: concurrent deletions share transactions,
// and each caller still learns its own outcome, with the bodies gone
// (files and inline alike).
func TestDeleteQueuedGroupCommit(t *testing.T) {
	for _, inline := range []int{0, -1} {
		t.Run(fmt.Sprintf("InlineMax=%d", inline), func(t *testing.T) {
			s := openTest(t, t.TempDir(), Options{InlineMax: inline})
			ctx := context.Background()
			const n = 64
			for i := range n {
				env := &store.Envelope{From: "a@a.test", Recipients: []store.QueueRecipient{{Address: fmt.Sprintf("u%d@b.test", i)}}}
				if err := s.Deliver(ctx, store.Delivery{Body: strings.NewReader("Subject: x\r\n\r\nbody\r\n"), Outbound: env}); err != nil {
					t.Fatal(err)
				}
			}
			q, err := s.QueuedMessages(ctx)
			if err != nil || len(q) != n {
				t.Fatalf("queue: %d messages, %v", len(q), err)
			}
			var wg sync.WaitGroup
			errs := make([]error, n+1)
			for i := range n + 1 {
				id := int64(1 << 40) // not on the queue
				if i < n {
					id = q[i].ID
				}
				wg.Go(func() { errs[i] = s.DeleteQueued(ctx, id) })
			}
			wg.Wait()
			for i, err := range errs[:n] {
				if err != nil {
					t.Errorf("deleting message %d: %v", q[i].ID, err)
				}
			}
			if !errors.Is(errs[n], store.ErrNotFound) {
				t.Errorf("deleting a message not on the queue: %v, want ErrNotFound", errs[n])
			}
			if q, _ := s.QueuedMessages(ctx); len(q) != 0 {
				t.Errorf("%d messages left on the queue", len(q))
			}
			if _, err := s.QueuedBody(ctx, q[0].ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a deleted message's body: %v", err)
			}
			if b := s.deletes.batches.Load(); b >= n {
				t.Errorf("%d deletions took %d transactions; want them shared", n+1, b)
			}
		})
	}
}

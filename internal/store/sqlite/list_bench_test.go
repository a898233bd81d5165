package sqlite

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
	"github.com/pochta-mail/pochta/internal/store"
)

// BenchmarkListMessages is the store's part of a full-mailbox IMAP FETCH:
// 2,000 inline messages of 2-20 KB listed in batches as internal/imap
// does, with their cached summaries (FETCH ENVELOPE, 512 a batch) or
// with their bodies, each read to the end (FETCH BODY[], 64 a batch).
func BenchmarkListMessages(b *testing.B) {
	const n = 2000
	s := openTest(b, b.TempDir(), Options{})
	a := newAccount(b, s, "list@example.org")
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 { // concurrent deliveries share commits
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				body := fmt.Sprintf("Subject: message %d\r\n\r\n%s", i,
					strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n", 30+i%270))
				if err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}},
					Body: strings.NewReader(body)}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	inbox, err := s.GetMailbox(ctx, a.ID, store.InboxName)
	if err != nil {
		b.Fatal(err)
	}
	all, err := s.ListMessages(ctx, inbox.ID, store.MessageQuery{})
	if err != nil || len(all) != n {
		b.Fatalf("%d messages, %v", len(all), err)
	}
	var total int64
	sums := make([]store.SummaryUpdate, n)
	for i, m := range all {
		total += m.Size
		sums[i] = store.SummaryUpdate{MessageID: m.ID, Summary: []byte(strings.Repeat("s", 300+i%200))}
	}
	if err := s.SetSummaries(ctx, sums); err != nil {
		b.Fatal(err)
	}
	list := func(b *testing.B, q store.MessageQuery, each func(*store.Message)) {
		for from := uint32(1); ; {
			q.MinUID = from
			msgs, err := s.ListMessages(ctx, inbox.ID, q)
			if err != nil {
				b.Fatal(err)
			}
			if len(msgs) == 0 {
				return
			}
			for i := range msgs {
				each(&msgs[i])
			}
			from = msgs[len(msgs)-1].UID + 1
		}
	}
	b.Run("summaries", func(b *testing.B) {
		b.ReportAllocs()
		prototest.ReportCPU(b)
		for b.Loop() {
			k := 0
			list(b, store.MessageQuery{Limit: 512, Summary: true}, func(m *store.Message) { k += len(m.Summary) })
			if k == 0 {
				b.Fatal("no summaries")
			}
		}
	})
	b.Run("bodies", func(b *testing.B) {
		b.SetBytes(total)
		b.ReportAllocs()
		prototest.ReportCPU(b)
		for b.Loop() {
			list(b, store.MessageQuery{Limit: 64, Bodies: true}, func(m *store.Message) {
				r, err := m.Open()
				if err != nil {
					b.Fatal(err)
				}
				if k, err := io.Copy(io.Discard, r); err != nil || k != m.Size {
					b.Fatalf("read %d of %d octets: %v", k, m.Size, err)
				}
				r.Close()
			})
		}
	})
}

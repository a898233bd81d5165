package sqlite

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestGroupCommitIsolatesFailures mixes failing and succeeding deliveries
// so that they share transactions: a failure must roll back only itself.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	a := newAccount(t, s, "a@example.org")
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok = map[string]bool{}
	)
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				body := fmt.Sprintf("worker %d message %d\r\n", w, i)
				rs := []store.Recipient{{AccountID: a.ID}}
				if (w+i)%2 == 1 {
					rs = append(rs, store.Recipient{AccountID: a.ID + 99})
				}
				err := s.Deliver(context.Background(), store.Delivery{Recipients: rs, Body: strings.NewReader(body)})
				if (err == nil) != (len(rs) == 1) {
					t.Errorf("%q to %d recipients: %v", body, len(rs), err)
				}
				if err == nil {
					mu.Lock()
					ok[body] = true
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	got := contents(t, s, a)
	if len(got) != len(ok) {
		t.Errorf("%d messages stored, want %d", len(got), len(ok))
	}
	for _, b := range got {
		if !ok[b] {
			t.Errorf("failed delivery %q is visible", b)
		}
	}
}

// BenchmarkDeliver measures parallel deliveries of a 2 KB message, with
// group commit (batch64) and without (batch1), with the body inline in the
// database or in a file. Delivery is I/O-bound, so it runs 4 goroutines per
// -cpu: -cpu 1,2,4 means 4, 8, 16 concurrent deliveries. Run with e.g.
//
//	go test -run XXX -bench Deliver -cpu 1,2,4 ./internal/store/sqlite
func BenchmarkDeliver(b *testing.B) {
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing.\n", 40)
	for _, batch := range []int{1, defaultMaxBatch} {
		for _, where := range []struct {
			name      string
			inlineMax int
		}{{"files", -1}, {"inline", 0}} {
			b.Run(fmt.Sprintf("batch%d/%s", batch, where.name), func(b *testing.B) {
				s, err := open(context.Background(), b.TempDir(), Options{InlineMax: where.inlineMax}, batch)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				a := newAccount(b, s, "bench@example.org")
				b.SetBytes(int64(len(body)))
				b.SetParallelism(4)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						err := s.Deliver(context.Background(), store.Delivery{
							Recipients: []store.Recipient{{AccountID: a.ID}},
							Body:       strings.NewReader(body),
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/float64(s.commits.commits.Load()), "msgs/commit")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkOpenMaildrop100k opens (snapshots) and closes a maildrop of
// 100,000 messages: "listed" reads the listing every time, "kept" reuses
// the snapshot kept from the previous open (store.SnapshotCache). The rows are
// inserted directly: the snapshot never touches body files.
func BenchmarkOpenMaildrop100k(b *testing.B) {
	s := openTest(b, b.TempDir(), Options{})
	a := newAccount(b, s, "big@example.org")
	insertRows(b, s, a.ID, 100000)
	ctx := context.Background()
	for _, kept := range []bool{false, true} {
		b.Run(map[bool]string{false: "listed", true: "kept"}[kept], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !kept {
					s.snaps.Drop(a.ID)
				}
				m, err := s.OpenMaildrop(ctx, a.ID)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(m.Messages()); n != 100000 {
					b.Fatalf("%d messages", n)
				}
				m.Close()
			}
		})
	}
}

// insertRows adds n message rows to the account's INBOX directly, with
// body names that point nowhere: enough for listings, cheap to set up.
func insertRows(t testing.TB, s *Store, accountID int64, n int) {
	t.Helper()
	_, err := s.writer.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
		INSERT INTO messages (mailbox_id, account_id, uid, uidl, body, size, dot_lines, internal_date)
		SELECT mb.id, ?1, mb.uidnext + i - 1, printf('%016x', mb.uidnext + i), printf('%032x', mb.uidnext + i),
			1000 + i, i % 2, 1700000000000000 + i FROM n, mailboxes mb WHERE mb.account_id = ?1 AND mb.name = 'INBOX'`,
		accountID, n)
	if err == nil {
		_, err = s.writer.Exec(`UPDATE mailboxes SET uidnext = uidnext + ?2 WHERE account_id = ?1 AND name = 'INBOX'`, accountID, n)
	}
	if err != nil {
		t.Fatal(err)
	}
}

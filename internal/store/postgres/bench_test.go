package postgres

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
)

// BenchmarkDeliver measures parallel deliveries of the 2 KB message of the
// SQLite engine's BenchmarkDeliver, 4 goroutines per -cpu, into one INBOX
// and spread over 16 accounts. Run with e.g.
//
//	go test -run XXX -bench Deliver -cpu 1,2,4 ./internal/store/postgres
func BenchmarkDeliver(b *testing.B) {
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing.\n", 40)
	dsn := pgtest.Database(b)
	var n atomic.Int64
	for _, accounts := range []int{1, 16} {
		b.Run(fmt.Sprintf("accounts%d", accounts), func(b *testing.B) {
			s := openTest(b, dsn, Options{Schema: fmt.Sprintf("bench%d", n.Add(1)), MaxConns: 64})
			var as []store.Account
			for i := range accounts {
				as = append(as, user(b, s, fmt.Sprintf("bench%d@example.org", i)))
			}
			var next atomic.Int64
			b.SetBytes(int64(len(body)))
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					a := as[next.Add(1)%int64(len(as))]
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

// BenchmarkRead reads bodies through a maildrop: a whole 2 KB message
// (RETR of typical mail), a whole 4 MiB one, and the first 4 KiB of the
// 4 MiB one (TOP: one chunk, not the message).
func BenchmarkRead(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, pgtest.Database(b), Options{Schema: "read"})
	a := user(b, s, "read@example.org")
	small := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing.\r\n", 40)
	large := strings.Repeat(small, 2000) // ~4 MiB
	deliver(b, s, a, small)
	deliver(b, s, a, large)
	m, err := s.OpenMaildrop(ctx, a.ID)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	msgs := m.Messages()
	for _, c := range []struct {
		name  string
		msg   store.MaildropMessage
		limit int64
	}{{"2KB", msgs[0], -1}, {"4MiB", msgs[1], -1}, {"4MiB-top4KiB", msgs[1], 4 << 10}} {
		b.Run(c.name, func(b *testing.B) {
			n := c.msg.Size
			if c.limit > 0 {
				n = c.limit
			}
			b.SetBytes(n)
			b.SetParallelism(2)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r, err := m.Body(ctx, c.msg.ID)
					if err != nil {
						b.Error(err)
						return
					}
					var src io.Reader = r
					if c.limit > 0 {
						src = io.LimitReader(r, c.limit)
					}
					if got, err := io.Copy(io.Discard, src); err != nil || got != n {
						b.Errorf("read %d octets, %v", got, err)
					}
					r.Close()
				}
			})
		})
	}
}

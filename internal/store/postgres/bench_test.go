package postgres

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/proccpu"
	"github.com/pochta-mail/pochta/internal/prototest"
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

// BenchmarkDeliverBatchFetched measures the fetcher's commits: batches of
// 50 fetched 2 KB messages (store.FetchMark each) for one account, one
// DeliverBatch at a time, as fetch.job stores a remote mailbox.
//
//	go test -run XXX -bench DeliverBatchFetched ./internal/store/postgres
func BenchmarkDeliverBatchFetched(b *testing.B) {
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing.\n", 40)
	s := openTest(b, pgtest.Database(b), Options{Schema: "benchfetch"})
	a := user(b, s, "fetch@example.org")
	ctx := context.Background()
	src, err := s.AddFetchSource(ctx, store.FetchSource{AccountID: a.ID, URL: "pop3://u@h/"})
	if err != nil {
		b.Fatal(err)
	}
	const per = 50
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i += per {
		ds := make([]store.Delivery, 0, per)
		for j := i; j < min(i+per, b.N); j++ {
			ds = append(ds, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}}, Body: strings.NewReader(body),
				Fetched: &store.FetchMark{SourceID: src.ID, FetchedID: store.FetchedID{ID: strconv.Itoa(j)}}})
		}
		for _, err := range s.DeliverBatch(ctx, ds) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
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

// BenchmarkMaildropDownload reads a maildrop of 50 messages of 2-100 KB
// (log-uniform, as bench/genmail makes them) message by message, as a
// POP3 client's RETR loop does: in order, which the read-ahead serves
// several bodies per statement, and backwards, one statement per body
// (what every RETR cost before it). An op is a message. Besides wall time
// it reports the CPU of this process (cpu-ns/op) and of the database
// backends serving it (db-cpu-ns/op), which a loaded machine disturbs
// less:
//
//	go test -run XXX -bench MaildropDownload -count 5 ./internal/store/postgres
func BenchmarkMaildropDownload(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, pgtest.Database(b), Options{Schema: "download"})
	a := user(b, s, "download@example.org")
	const n = 50
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n"
	var total int64
	for i := range n {
		size := int(2000 * math.Pow(50, float64(i*7%n)/float64(n-1))) // 2 KB to 100 KB, shuffled
		body := strings.Repeat(line, size/len(line)+1)
		total += int64(len(body))
		deliver(b, s, a, body)
	}
	m, err := s.OpenMaildrop(ctx, a.ID)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	msgs := m.Messages()
	for _, c := range []struct {
		name     string
		backward bool
	}{{"inorder", false}, {"backward", true}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(total / n)
			db0 := backendCPU(b, s)
			prototest.ReportCPU(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i % n
				if c.backward {
					j = n - 1 - j
				}
				r, err := m.Body(ctx, msgs[j].ID)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64((backendCPU(b, s)-db0).Nanoseconds())/float64(b.N), "db-cpu-ns/op")
		})
	}
}

// backendCPU is the user+system time of the PostgreSQL backends connected
// to s's database, read from /proc (the server runs on this machine).
func backendCPU(b *testing.B, s *Store) time.Duration {
	b.Helper()
	rows, _ := s.pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for _, pid := range pids {
		t, err := proccpu.Of(int(pid))
		if err != nil {
			continue // ended meanwhile, or not on this machine
		}
		total += t
	}
	return total
}

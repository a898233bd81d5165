package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/prototest"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
)

// BenchmarkIndexText measures the text indexer appending batches of 50
// and of 200 messages of about 10 KB (words of a 5,000-word vocabulary, Zipf
// distributed) to the index of an account that holds 4,000 indexed
// already, so that its dense terms' last chunks are full: the Pochta CPU
// (cpu-ns/msg) and the database backends' (db-cpu-ns/msg) per message
// indexed, deliveries not counted.
//
//	go test -run XXX -bench IndexText -benchtime 10x -count 3 ./internal/store/postgres
func BenchmarkIndexText(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, pgtest.Database(b), Options{Schema: "indexbench"})
	a := user(b, s, "index@example.org")
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, 4999)
	words := make([]string, 5000)
	for i := range words {
		var w strings.Builder
		for range 3 + rng.IntN(7) {
			w.WriteByte(byte('a' + rng.IntN(26)))
		}
		words[i] = w.String()
	}
	deliverBatch := func(n int, accounts ...store.Account) {
		if len(accounts) == 0 {
			accounts = []store.Account{a}
		}
		ds := make([]store.Delivery, n)
		for i := range ds {
			var body strings.Builder
			body.WriteString("Subject: bench\r\n\r\n")
			for body.Len() < 10240 {
				for range 10 {
					body.WriteString(words[zipf.Uint64()])
					body.WriteByte(' ')
				}
				body.WriteString("\r\n")
			}
			ds[i] = store.Delivery{Recipients: []store.Recipient{{AccountID: accounts[i%len(accounts)].ID}},
				Body: strings.NewReader(body.String())}
		}
		for _, err := range s.DeliverBatch(ctx, ds) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	indexAll := func(limit int) {
		for {
			n, err := s.IndexText(ctx, limit)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}
	for range 20 {
		deliverBatch(200)
		indexAll(200)
	}
	// What the indexer's read of the bodies it indexes costs alone: the
	// last 200 bodies, as smallBodyTexts reads them.
	b.Run("readback", func(b *testing.B) {
		rows, _ := s.pool.Query(ctx, `SELECT id FROM bodies ORDER BY id DESC LIMIT 200`)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			b.Fatal(err)
		}
		buf := new([]byte)
		var cpu, db time.Duration
		for range b.N {
			cpu0, db0 := prototest.ProcessCPU(), backendCPU(b, s)
			rows, _ := s.pool.Query(ctx, readSmallBodies, ids, chunkSize)
			var id int64
			for rows.Next() {
				if err := rows.Scan(&id, chunkInto{buf}); err != nil {
					b.Fatal(err)
				}
			}
			if rows.Err() != nil {
				b.Fatal(rows.Err())
			}
			cpu += prototest.ProcessCPU() - cpu0
			db += backendCPU(b, s) - db0
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(ids)*b.N), "cpu-ns/msg")
		b.ReportMetric(float64(db.Nanoseconds())/float64(len(ids)*b.N), "db-cpu-ns/msg")
	})
	for _, batch := range []int{50, 200} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			var cpu, db time.Duration
			for range b.N {
				b.StopTimer()
				deliverBatch(batch)
				b.StartTimer()
				cpu0, db0 := prototest.ProcessCPU(), backendCPU(b, s)
				indexAll(200)
				cpu += prototest.ProcessCPU() - cpu0
				db += backendCPU(b, s) - db0
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(batch*b.N), "cpu-ns/msg")
			b.ReportMetric(float64(db.Nanoseconds())/float64(batch*b.N), "db-cpu-ns/msg")
		})
	}
	// Batches of 200 spread over 8 accounts of 1,000 messages each, as
	// bench/pg-smtp-cpu.sh delivers.
	var as []store.Account
	for i := range 8 {
		as = append(as, user(b, s, fmt.Sprintf("index%d@example.org", i)))
	}
	for range 40 {
		deliverBatch(200, as...)
		indexAll(200)
	}
	// The same in batches of other sizes: a TextIndexer behind its
	// deliveries takes larger ones (textIndexBatch).
	for _, batch := range []int{200, 800, 1600} {
		b.Run(fmt.Sprintf("accounts8/batch%d", batch), func(b *testing.B) {
			var cpu, db time.Duration
			for range b.N {
				b.StopTimer()
				deliverBatch(batch, as...)
				b.StartTimer()
				cpu0, db0 := prototest.ProcessCPU(), backendCPU(b, s)
				indexAll(batch)
				cpu += prototest.ProcessCPU() - cpu0
				db += backendCPU(b, s) - db0
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(batch*b.N), "cpu-ns/msg")
			b.ReportMetric(float64(db.Nanoseconds())/float64(batch*b.N), "db-cpu-ns/msg")
		})
	}
}

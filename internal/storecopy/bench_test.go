package storecopy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// BenchmarkCopyToPostgres copies a SQLite store of 2,000 messages of
// about 4 KB in one INBOX into a fresh PostgreSQL database per iteration:
// what `pochta migrate --to postgres` does.
//
//	go test ./internal/storecopy -run '^$' -bench CopyToPostgres -benchtime 3x
func BenchmarkCopyToPostgres(b *testing.B) {
	const n = 2000
	ctx := context.Background()
	src, err := sqlite.Open(ctx, b.TempDir(), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	if err := src.AddDomain(ctx, "example.org"); err != nil {
		b.Fatal(err)
	}
	a, err := src.CreateAccount(ctx, "a@example.org", store.Credentials{PasswordHash: "h"})
	if err != nil {
		b.Fatal(err)
	}
	line := strings.Repeat("the quick brown fox jumps over the lazy dog ", 2) + "\r\n"
	for chunk := 0; chunk < n; chunk += 100 {
		var ds []store.Delivery
		for i := chunk; i < chunk+100; i++ {
			body := fmt.Sprintf("Subject: message %d\r\nMessage-ID: <%d@example.org>\r\n\r\n%s", i, i, strings.Repeat(line, 45))
			ds = append(ds, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}}, Body: strings.NewReader(body)})
		}
		for _, err := range src.DeliverBatch(ctx, ds) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	copied := 0
	for range b.N {
		b.StopTimer()
		dst, err := postgres.Open(ctx, pgtest.Database(b), postgres.Options{MaxConns: 4})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		st, err := Copy(ctx, src, dst, nil)
		if err != nil || st.Messages != n {
			b.Fatalf("Copy: %+v, %v", st, err)
		}
		copied += st.Messages
		b.StopTimer()
		dst.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(copied)/b.Elapsed().Seconds(), "msgs/s")
}

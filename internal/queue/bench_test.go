package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/store"
)

// BenchmarkThroughput measures queue throughput to a go-smtp sink on
// loopback: b.N messages (about 2 KB, one recipient each) are queued in
// SQLite, then the worker delivers them with the given concurrency, and
// msgs/s is b.N over the time until the queue is empty (each message:
// claim, one SMTP session with PIPELINING, per-recipient record, delete).
//
//	go test -run XXX -bench Throughput -benchtime 2000x ./internal/queue
func BenchmarkThroughput(b *testing.B) {
	for _, c := range []struct {
		workers int
		dkim    string
	}{{8, ""}, {64, ""}, {8, msgauth.AlgoEd25519}, {64, msgauth.AlgoRSA}} {
		name := fmt.Sprintf("concurrency=%d", c.workers)
		if c.dkim != "" {
			name += "/dkim=" + c.dkim
		}
		b.Run(name, func(b *testing.B) { benchThroughput(b, c.workers, c.dkim) })
	}
}

func benchThroughput(b *testing.B, workers int, algo string) {
	s := newSink(b, false)
	f := newFixture(b, s)
	f.w.Workers, f.w.PerDomain = workers, workers
	if algo != "" {
		k, err := msgauth.GenerateKey(filepath.Join(b.TempDir(), "dkim"), "a.test", "bench", algo)
		if err != nil {
			b.Fatal(err)
		}
		f.w.Signer = msgauth.NewSigner([]msgauth.Key{k})
	}
	body := testMessage + strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 32)
	ctx := context.Background()
	for i := range b.N {
		env := &store.Envelope{From: "alice@a.test", Recipients: []store.QueueRecipient{{Address: fmt.Sprintf("u%d@remote.test", i)}}}
		if err := f.st.Deliver(ctx, store.Delivery{Body: strings.NewReader(body), Outbound: env}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); f.w.Run(runCtx) }()
	for {
		q, err := f.st.QueuedMessages(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(q) == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	if got := len(s.messages()); got != b.N {
		b.Fatalf("sink received %d messages, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

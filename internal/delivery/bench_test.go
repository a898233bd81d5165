package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// fiftyRules is a 50-rule script of the usual kind: list and sender
// filters, none of which matches the benchmark's message, so every test
// runs and the message is kept.
func fiftyRules() string {
	var b strings.Builder
	b.WriteString("require [\"fileinto\", \"imap4flags\"];\n")
	for i := range 50 {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "if header :contains \"list-id\" \"list%d.example\" { fileinto \"Lists/%d\"; stop; }\n", i, i)
		case 1:
			fmt.Fprintf(&b, "if address :is \"from\" \"sender%d@example.net\" { addflag \"$S%d\"; fileinto \"People\"; }\n", i, i)
		default:
			fmt.Fprintf(&b, "if anyof (header :matches \"subject\" \"*[ticket-%d]*\", size :over 5M) { fileinto \"Tickets\"; }\n", i)
		}
	}
	return b.String()
}

// BenchmarkDeliverFilter stores 10 KB messages into real SQLite with 8
// concurrent deliveries (-cpu 1: SetParallelism 8), through the filter
// step without a script and with a 50-rule one: the cost of the step
// on the delivery path (issue 14: under 10% at 8 clients).
//
//	go test -run XXX -bench DeliverFilter -cpu 1 -count 5 ./internal/delivery
func BenchmarkDeliverFilter(b *testing.B) {
	body := "From: Dan <dan@remote.example>\r\nTo: alice@example.org\r\nSubject: benchmark\r\nMessage-ID: <b@remote.example>\r\n\r\n" +
		strings.Repeat("The quick brown fox jumps over the lazy dog, 0123456789 abcdefghij.\r\n", 150)
	for _, tc := range []struct{ name, script string }{{"none", ""}, {"50rules", fiftyRules()}, {"nofilter", "-"}} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixture(b)
			alice := f.accts["alice@example.org"]
			d := &Deliverer{Store: f.st, Hostname: "mx.example.org"}
			if tc.script != "-" {
				d.Filter = &SieveFilter{Store: f.st}
			}
			if tc.script != "" && tc.script != "-" {
				ctx := context.Background()
				if err := f.st.PutSieveScript(ctx, alice.ID, "main", tc.script); err != nil {
					b.Fatal(err)
				}
				if err := f.st.ActivateSieveScript(ctx, alice.ID, "main"); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(body)))
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					err := d.Deliver(context.Background(), Message{From: "dan@remote.example", ReturnPath: true,
						Local: []store.Account{alice}, Body: strings.NewReader(body)})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkFilterStep is the step's CPU alone for one account: parsing
// the header section, reading the active script and running it.
//
//	go test -run XXX -bench FilterStep -cpu 1 ./internal/delivery
func BenchmarkFilterStep(b *testing.B) {
	head := []byte("From: Dan <dan@remote.example>\r\nTo: alice@example.org\r\nSubject: benchmark\r\nMessage-ID: <b@remote.example>\r\n" +
		"Received: from a by b; Mon, 30 Nov 2026 10:00:00 +0000\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\n")
	f := newFixture(b)
	alice := f.accts["alice@example.org"]
	ctx := context.Background()
	if err := f.st.PutSieveScript(ctx, alice.ID, "main", fiftyRules()); err != nil {
		b.Fatal(err)
	}
	if err := f.st.ActivateSieveScript(ctx, alice.ID, "main"); err != nil {
		b.Fatal(err)
	}
	filter := &SieveFilter{Store: f.st}
	b.ReportAllocs()
	for b.Loop() {
		in := &FilterInput{Account: alice, From: "dan@remote.example", To: alice.Address, Header: ParseHeader(head),
			Size: func() int64 { return 10 << 10 }}
		if _, err := filter.Filter(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

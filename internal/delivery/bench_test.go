package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
	"github.com/pochta-mail/pochta/internal/sieve"
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

// fiftyRulesExt is fiftyRules written with the later extensions: regex
// and variables in the list rules, date in the sender rules, a body test
// (which reads the whole message) in the last rule; none matches.
func fiftyRulesExt() string {
	var b strings.Builder
	b.WriteString("require [\"fileinto\", \"imap4flags\", \"variables\", \"regex\", \"date\", \"relational\", \"body\"];\n")
	b.WriteString("if header :matches \"subject\" \"*\" { set \"subject\" \"${1}\"; }\n")
	for i := range 49 {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "if header :regex \"list-id\" \"<([a-z]+)\\\\.list%d\\\\.example>\" { fileinto \"Lists/${1}\"; stop; }\n", i)
		case 1:
			fmt.Fprintf(&b, "if allof (address :is \"from\" \"sender%d@example.net\", date :value \"ge\" \"date\" \"year\" \"2000\") { addflag \"$S%d\"; fileinto \"People\"; }\n", i, i)
		default:
			fmt.Fprintf(&b, "if anyof (string :matches \"${subject}\" \"*[ticket-%d]*\", size :over 5M) { fileinto \"Tickets\"; }\n", i)
		}
	}
	b.WriteString("if body :text :contains \"unsubscribe-zz\" { fileinto \"Lists\"; }\n")
	return b.String()
}

// BenchmarkDeliverFilter stores 10 KB messages into real SQLite with 8
// concurrent deliveries (-cpu 1: SetParallelism 8), through the filter
// step without a script and with a 50-rule one: the cost of the step
// on the delivery path (issue 14: under 10% at 8 clients).
//
//	go test -run XXX -bench DeliverFilter -cpu 1 -count 5 ./internal/delivery
//
// 50rules-ext is the same with regex, variables, date and a body test,
// 50rules-duplicate the plain one behind a duplicate test (a store read
// and, after the commit, a store write per message).
func BenchmarkDeliverFilter(b *testing.B) {
	body := "From: Dan <dan@remote.example>\r\nTo: alice@example.org\r\nSubject: benchmark\r\nMessage-ID: <b@remote.example>\r\n\r\n" +
		strings.Repeat("The quick brown fox jumps over the lazy dog, 0123456789 abcdefghij.\r\n", 150)
	dup := "require [\"duplicate\", \"fileinto\", \"imap4flags\"];\nif duplicate { fileinto \"Dups\"; }\n" + strings.SplitN(fiftyRules(), "\n", 2)[1]
	for _, tc := range []struct{ name, script string }{{"none", ""}, {"50rules", fiftyRules()}, {"nofilter", "-"},
		{"50rules-ext", fiftyRulesExt()}, {"50rules-duplicate", dup}} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixture(b)
			alice := f.accts["alice@example.org"]
			d := &Deliverer{Store: f.st, Hostname: "mx.example.org", Duplicates: f.st}
			if tc.script != "-" {
				d.Filter = &SieveFilter{Store: f.st}
			}
			if tc.script != "" && tc.script != "-" {
				if _, err := sieve.Compile(tc.script, sieve.Limits{}); err != nil {
					b.Fatal(err) // the filter would keep every message, at no cost
				}
				ctx := context.Background()
				if err := f.st.PutSieveScript(ctx, alice.ID, "main", tc.script); err != nil {
					b.Fatal(err)
				}
				if err := f.st.ActivateSieveScript(ctx, alice.ID, "main"); err != nil {
					b.Fatal(err)
				}
			}
			alice, err := f.st.Account(context.Background(), alice.Address) // with its SieveVersion now
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.SetParallelism(8)
			b.ResetTimer()
			prototest.ReportCPU(b) // steadier than wall time on a shared machine
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
	raw := append(append([]byte(nil), head...), strings.Repeat("The quick brown fox jumps over the lazy dog, 0123456789 abcdefghij.\r\n", 150)...)
	for _, tc := range []struct{ name, script string }{{"50rules", fiftyRules()}, {"50rules-ext", fiftyRulesExt()}} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixture(b)
			alice := f.accts["alice@example.org"]
			ctx := context.Background()
			if err := f.st.PutSieveScript(ctx, alice.ID, "main", tc.script); err != nil {
				b.Fatal(err)
			}
			if err := f.st.ActivateSieveScript(ctx, alice.ID, "main"); err != nil {
				b.Fatal(err)
			}
			alice, err := f.st.Account(ctx, alice.Address) // with its SieveVersion now
			if err != nil {
				b.Fatal(err)
			}
			filter := &SieveFilter{Store: f.st}
			b.ReportAllocs()
			prototest.ReportCPU(b)
			for b.Loop() {
				in := &FilterInput{Account: alice, From: "dan@remote.example", To: alice.Address, Header: ParseHeader(head),
					Size: func() int64 { return int64(len(raw)) },
					Raw:  func(max int) ([]byte, error) { return raw[:min(max, len(raw))], nil }}
				dec, err := filter.Filter(ctx, in)
				if err != nil || len(dec.Targets) != 1 || dec.Targets[0].Mailbox != "" {
					b.Fatal(dec, err)
				}
			}
		})
	}
}

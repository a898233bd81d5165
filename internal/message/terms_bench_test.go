package message_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/message/mailgen"
)

// benchMessages returns the 200 generated messages both benchmarks index
// and their total size.
func benchMessages() (msgs [][]byte, total int64) {
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 200 {
		m := mailgen.Generate(rng, i).Raw
		msgs = append(msgs, m)
		total += int64(len(m))
	}
	return msgs, total
}

// BenchmarkTermWriter measures what indexing adds to storing a message:
// one pass of a TermWriter over generated mail.
func BenchmarkTermWriter(b *testing.B) {
	msgs, total := benchMessages()
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			w := message.NewTermWriter()
			w.Write(m)
			w.Terms()
		}
	}
}

// BenchmarkIndexTerms is BenchmarkTermWriter through IndexTerms, as the
// engines' text indexers call it, with each body in memory.
func BenchmarkIndexTerms(b *testing.B) {
	msgs, total := benchMessages()
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			message.IndexTerms(bytes.NewReader(m))
		}
	}
}

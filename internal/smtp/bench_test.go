package smtp

import (
	"strings"
	"testing"
)

// BenchmarkMX sends 10 KB messages over pipelined MX sessions, 4
// connections per -cpu, each reused for message after message; a message
// counts once its 250 (durably stored) arrived. With -cpuprofile it shows
// where the server spends its time.
//
//	go test -run XXX -bench MX -cpu 2 ./internal/smtp
func BenchmarkMX(b *testing.B) {
	e := newEnv(b, envOptions{configure: func(s *Server) { s.Logger = nil }})
	body := strings.Repeat("The quick brown fox jumps over the lazy dog, 0123456789 abcdefghij.\r\n", 150)
	b.SetBytes(int64(len(body)))
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := e.raw(ModeMX)
		r.send("EHLO bench\r\n")
		r.expect("250 ")
		for pb.Next() {
			r.send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
			r.expect("250 ")
			r.expect("250 ")
			r.expect("354 ")
			r.send(body + ".\r\n")
			r.expect("250 ")
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

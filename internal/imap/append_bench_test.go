package imap

import (
	"strings"
	"testing"
)

// BenchmarkAppend: APPEND over one logged-in connection (LITERAL+), one
// message per command, to see what spooling costs (cmdAppend spools each
// message before the store gets it: in memory up to 256 KiB, then in a
// temporary file).
//
//	go test -run XXX -bench Append -benchtime 200x ./internal/imap/
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		b.Run(itoa(size>>10)+"KiB", func(b *testing.B) {
			e := newEnv(b, envOptions{server: func(s *Server) { s.Logger = nil }})
			r := e.login(false, false)
			msg := "Subject: bench\r\n\r\n" + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ..\r\n", size/66)
			cmd := "APPEND Drafts " + lit(msg)
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			for b.Loop() {
				if _, status := r.cmd(cmd); !strings.HasPrefix(status, "OK") {
					b.Fatal(status)
				}
			}
		})
	}
}

package e2e_test

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFetchFromDovecot fetches 1,000 messages of 4 KiB (and the two
// small ones dovecotSource puts there) from a loopback Dovecot into a
// fresh local store per iteration (keep policy, so the source stays the
// same), through the whole path: TLS, the protocol, delivery in batches
// of durable commits. cpu-µs/msg is the CPU time of this process (the
// fetcher and the store, not Dovecot) per message, which a loaded machine
// disturbs less than msgs/s.
//
//	go test ./e2e -run '^$' -bench FetchFromDovecot -benchtime 3x
func BenchmarkFetchFromDovecot(b *testing.B) {
	const n, size = 1000, 4096
	fs := newFetchSide(b)
	d, c := dovecotSource(b, fs)
	for i := 0; i < n; i++ {
		m := fetchMessage(1000 + i)
		appendTo(b, c, "INBOX", m+strings.Repeat("x", size-len(m)-2)+"\r\n")
	}
	for _, tt := range []struct{ name, url string }{
		{"pop3s", "pop3s://remote%40dovecot.test@dovecot.test:" + portOf(d.pop3s) + "/"},
		{"imaps", "imaps://remote%40dovecot.test@dovecot.test:" + portOf(d.imaps) + "/"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			start, cpu0 := time.Now(), processCPU()
			fetched := 0
			for i := 0; i < b.N; i++ {
				side := newFetchSide(b)
				side.roots, side.hosts = fs.roots, fs.hosts
				src := side.source(tt.url, "dv-pw", false)
				res, err := side.fetcher(nil).RunOnce(context.Background(), src)
				if err != nil || res.Fetched != n+2 {
					b.Fatalf("run: %+v, %v", res, err)
				}
				fetched += res.Fetched
			}
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(fetched)/secs, "msgs/s")
			b.ReportMetric(float64(fetched*size)/secs/1e6, "MB/s")
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(fetched), "cpu-µs/msg")
		})
	}
}

// processCPU is the user and system CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package prototest

import (
	"syscall"
	"testing"
	"time"
)

// ReportCPU makes a benchmark also report the CPU time the whole process
// (every goroutine, the garbage collector included) spent per operation,
// as "cpu-ns/op", from the time of the call to the end of the benchmark.
// On a machine shared with other jobs the wall-clock ns/op swings with
// their load; the CPU time per operation varies far less, so it is the
// figure to compare between two versions. Call it after the setup, just
// before the timed loop.
func ReportCPU(b *testing.B) {
	start := ProcessCPU()
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64((ProcessCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	})
}

// ProcessCPU is the user+system CPU time this process has used.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

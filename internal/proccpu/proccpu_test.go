package proccpu

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// The time read for this process must follow what the kernel reports
// through getrusage: it grows with work and stays within a few clock
// ticks of it.
func TestOfFollowsRusage(t *testing.T) {
	before, err := Of(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		x++ // work this process's own clock counts
	}
	_ = x
	after, err := Of(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("CPU time did not grow: %v then %v", before, after)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	rusage := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	// /proc counts whole ticks of every thread, getrusage finer: they
	// differ by a few ticks per thread at most.
	if diff := (rusage - after).Abs(); diff > 200*time.Millisecond {
		t.Fatalf("/proc says %v, getrusage %v", after, rusage)
	}
}

func TestOfMissingProcess(t *testing.T) {
	if _, err := Of(1 << 30); err == nil {
		t.Fatal("no error for a process that cannot exist")
	}
}

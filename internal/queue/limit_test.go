package queue

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// full reports whether acquiring one more slot would have to wait.
func full(t *testing.T, l *domainLimiter, domain string) bool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	release, err := l.acquire(ctx, domain)
	if err == nil {
		release()
		return false
	}
	return true
}

func TestLimiterAdapts(t *testing.T) {
	l := &domainLimiter{limit: 8}
	ctx := context.Background()
	var held []func()
	take := func(n int) {
		for range n {
			r, err := l.acquire(ctx, "d.test")
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, r)
		}
	}
	take(8)
	if !full(t, l, "d.test") {
		t.Fatal("a ninth slot was free with a limit of 8")
	}
	// 421: half as many; successes at the current bound add one back.
	l.feedback("d.test", true, false)
	if got := l.allowedFor("d.test"); got != 4 {
		t.Fatalf("after one overload: %d sessions allowed, want 4", got)
	}
	drop := func() {
		for _, r := range held {
			r()
		}
		held = nil
	}
	drop()
	take(4)
	if !full(t, l, "d.test") {
		t.Fatal("a fifth slot was free after the bound dropped to 4")
	}
	for _, want := range []int{4, 4, 4, 5} {
		l.feedback("d.test", false, true)
		if got := l.allowedFor("d.test"); got != want {
			t.Fatalf("recovering: %d allowed, want %d", got, want)
		}
	}
	for range 3 {
		l.feedback("d.test", true, false)
	}
	if got := l.allowedFor("d.test"); got != 1 {
		t.Errorf("after repeated overloads: %d allowed, want 1", got)
	}
	// Unused, the reduced bound is remembered; recovered, it is dropped.
	drop()
	if l.allowedFor("d.test") != 1 || len(l.slots) != 1 {
		t.Fatalf("the reduced bound was forgotten while idle")
	}
	take(1)
	for l.allowedFor("d.test") < 8 {
		l.feedback("d.test", false, true)
	}
	held[0]()
	if len(l.slots) != 0 {
		t.Errorf("%d entries left after recovery and release, want 0", len(l.slots))
	}
	// A waiter is woken when the bound grows.
	l2 := &domainLimiter{limit: 2}
	r1, _ := l2.acquire(ctx, "w.test")
	l2.feedback("w.test", true, false) // bound 1, in use 1
	got := make(chan error, 1)
	go func() {
		r, err := l2.acquire(ctx, "w.test")
		if err == nil {
			r()
		}
		got <- err
	}()
	l2.feedback("w.test", false, true) // one success at bound 1: bound 2
	select {
	case err := <-got:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiter was not woken when the bound grew")
	}
	r1()
}

func TestOverloaded(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&ReplyError{Command: "greeting", Reply: Reply{Code: 421}}, true},
		{&ReplyError{Command: "MAIL", Reply: Reply{Code: 451}}, true},
		{&ReplyError{Command: "DATA", Reply: Reply{Code: 452}}, true},
		{&ReplyError{Command: "DATA", Reply: Reply{Code: 554}}, false},
		{&ReplyError{Command: "RCPT", Reply: Reply{Code: 450}}, false},
		{&ReplyError{Command: "RCPT", Reply: Reply{Code: 421}}, true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{io.EOF, true},
		{temporaryf("4.7.4", "TLS is required"), false},
		{permanentf("5.3.4", "too large"), false},
	} {
		if got := overloaded(c.err); got != c.want {
			t.Errorf("overloaded(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestBackoffJitter(t *testing.T) {
	w := &Worker{RetryBase: time.Minute, RetryMax: time.Hour}
	for _, c := range []struct {
		attempts int
		d        time.Duration
	}{{0, time.Minute}, {3, 8 * time.Minute}, {10, time.Hour}} {
		seen := map[time.Duration]bool{}
		for range 100 {
			got := w.backoff(c.attempts)
			if got > c.d || got < c.d*3/4 {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", c.attempts, got, c.d*3/4, c.d)
			}
			seen[got] = true
		}
		if len(seen) < 50 {
			t.Errorf("backoff(%d): %d distinct delays in 100, want them spread", c.attempts, len(seen))
		}
	}
}

package e2e_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestCrashDuringQueueDelivery kills `pochta serve` with SIGKILL, again
// and again, while its queue delivers submitted mail to a remote MX that
// takes its time, then lets it finish. Every message whose submission was
// answered 250 must reach the MX, byte for byte (the MX sees it after the
// trace and DKIM fields the queue adds). A kill between the MX's 250 and
// the queue recording it makes a second delivery: SMTP cannot avoid that
// (RFC 1047); the test counts such duplicates and requires no loss.
func TestCrashDuringQueueDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts pochta serve many times")
	}
	const (
		iterations = 6
		perRound   = 8
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	mx := newScriptedMX(t)
	mx.data = func(int) error {
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
		return nil
	}
	a := newInstance(t, "a.test")
	a.addUser("alice@a.test", outboundPass)
	opts := []string{"queue.routes=far.test=" + mx.addr, "queue.poll_interval=100ms", "queue.attempt_timeout=5s",
		"queue.retry_base=1s", "queue.retry_max=1s"}
	sent := map[string]string{}
	for it := range iterations {
		a.serve([]string{"submission"}, opts...)
		for i := range perRound {
			subject := fmt.Sprintf("queue crash %d %d", it, i)
			m := outboundMessage(fmt.Sprintf("r%d@far.test", i%3), subject)
			submit(t, a.addrs["submission"], "alice@a.test", "alice@a.test", []string{fmt.Sprintf("r%d@far.test", i%3)}, m)
			sent[subject] = m
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		a.kill9()
	}
	a.serve([]string{"submission"}, opts...)
	eventually(t, "the queue to empty", func() bool {
		return strings.TrimSpace(a.run("", "-d", a.dir, "queue", "list")) == ""
	})
	mx.mu.Lock()
	got := append([]string(nil), mx.got...)
	mx.mu.Unlock()
	count := map[string]int{}
	for _, g := range got {
		_, rest, ok := strings.Cut(g, "\r\nSubject: ")
		if !ok {
			t.Fatalf("MX got a message without Subject: %q", trunc(g))
		}
		subject, _, _ := strings.Cut(rest, "\r\n")
		want, ok := sent[subject]
		if !ok {
			t.Fatalf("MX got a message never submitted: %q", subject)
		}
		if !strings.HasSuffix(g, strings.TrimPrefix(want, "From: Alice <alice@a.test>\r\n")) {
			t.Fatalf("%q reached the MX altered: %q", subject, trunc(g))
		}
		count[subject]++
	}
	dups := 0
	for subject := range sent {
		switch n := count[subject]; {
		case n == 0:
			t.Errorf("%q was accepted at submission but never delivered", subject)
		case n > 1:
			dups += n - 1
		}
	}
	t.Logf("%d kills: %d messages submitted, %d deliveries at the MX (%d duplicates from kills between the MX's 250 and its record)",
		iterations, len(sent), len(got), dups)
}

package queue

import (
	"sync"
	"testing"
)

// attemptCounter is an Observer counting results.
type attemptCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *attemptCounter) DeliveryAttempt(result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[result]++
}

// TestObserverSeesEveryRecipientAttempt: one recipient deferred twice then
// delivered, one delivered at once, one refused permanently.
func TestObserverSeesEveryRecipientAttempt(t *testing.T) {
	s := newSink(t, false)
	var mu sync.Mutex
	refusals := 0
	s.rcpt = func(addr string, n int) error {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case addr == "slow@remote.test" && refusals < 2:
			refusals++
			return smtpErr(452, "4.2.2", "mailbox full, try later")
		case addr == "nobody@remote.test":
			return smtpErr(550, "5.1.1", "no such user")
		}
		return nil
	}
	f := newFixture(t, s)
	obs := &attemptCounter{n: map[string]int{}}
	f.w.Observer = obs
	f.submit(t, "alice@a.test", "fast@remote.test", "slow@remote.test", "nobody@remote.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.n["delivered"] != 2 || obs.n["deferred"] != 2 || obs.n["bounced"] != 1 {
		t.Fatalf("attempts %v, want delivered 2, deferred 2, bounced 1", obs.n)
	}
}

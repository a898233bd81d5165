package queue

import (
	"context"
	"sync"
)

// domainLimiter bounds concurrent connections per destination domain, so
// one busy worker pool does not hammer one receiver. Entries exist only
// while in use, so the map does not grow with every domain ever seen.
type domainLimiter struct {
	mu    sync.Mutex
	limit int
	slots map[string]*domainSlots
}

type domainSlots struct {
	ch    chan struct{}
	users int
}

// acquire waits for a slot for the domain; release must be called.
func (l *domainLimiter) acquire(ctx context.Context, domain string) (release func(), err error) {
	l.mu.Lock()
	if l.slots == nil {
		l.slots = map[string]*domainSlots{}
	}
	s := l.slots[domain]
	if s == nil {
		s = &domainSlots{ch: make(chan struct{}, max(1, l.limit))}
		l.slots[domain] = s
	}
	s.users++
	l.mu.Unlock()
	done := func() {
		l.mu.Lock()
		if s.users--; s.users == 0 {
			delete(l.slots, domain)
		}
		l.mu.Unlock()
	}
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

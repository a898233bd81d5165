package queue

import (
	"context"
	"sync"
)

// domainLimiter bounds concurrent deliveries per destination domain, so
// one busy worker pool does not hammer one receiver, and adapts the bound
// to what the receiver says (AIMD, as TCP does): a destination that
// answers 421 or a session-level 4xx, or cannot be reached, gets half as
// many sessions at once (at least one); each run of successful
// transactions as long as the current bound adds one back, up to the
// configured limit.
//
// Entries exist while in use or while a destination's bound is below the
// limit, so the map does not grow with every domain ever seen; a reduced
// bound recovers only through successes, and an entry whose destination
// is no longer used is dropped once it has recovered or by sweep.
type domainLimiter struct {
	mu    sync.Mutex
	limit int
	slots map[string]*domainSlots
}

type domainSlots struct {
	inUse     int
	waiting   int
	allowed   int           // the current bound, 1..limit
	successes int           // since the bound last changed
	wake      chan struct{} // closed (and replaced) when a slot may be free
}

// maxThrottled bounds how many idle destinations keep a reduced bound.
const maxThrottled = 4096

// acquire waits for a slot for the domain; release must be called.
func (l *domainLimiter) acquire(ctx context.Context, domain string) (release func(), err error) {
	l.mu.Lock()
	if l.slots == nil {
		l.slots = map[string]*domainSlots{}
	}
	s := l.slots[domain]
	if s == nil {
		s = &domainSlots{allowed: max(1, l.limit), wake: make(chan struct{})}
		l.slots[domain] = s
	}
	for s.inUse >= s.allowed {
		s.waiting++
		wake := s.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			l.mu.Lock()
			s.waiting--
			l.forget(domain, s)
			l.mu.Unlock()
			return nil, ctx.Err()
		}
		l.mu.Lock()
		s.waiting--
	}
	s.inUse++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			s.inUse--
			l.signal(s)
			l.forget(domain, s)
		})
	}, nil
}

// feedback adapts a domain's bound to the outcome of one session:
// overloaded halves it, ok counts toward adding one back.
func (l *domainLimiter) feedback(domain string, overloaded, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.slots[domain]
	if s == nil {
		return
	}
	switch {
	case overloaded:
		s.allowed, s.successes = max(1, s.allowed/2), 0
	case ok && s.allowed < l.limit:
		if s.successes++; s.successes >= s.allowed {
			s.allowed, s.successes = s.allowed+1, 0
			l.signal(s)
		}
	}
}

// signal wakes the waiters of s to look again; l.mu is held.
func (l *domainLimiter) signal(s *domainSlots) {
	close(s.wake)
	s.wake = make(chan struct{})
}

// forget drops an unused entry unless it carries a reduced bound; when
// too many idle reduced entries pile up, they are dropped too (their
// destinations start again from the full limit). l.mu is held.
func (l *domainLimiter) forget(domain string, s *domainSlots) {
	if s.inUse > 0 || s.waiting > 0 {
		return
	}
	if s.allowed >= l.limit || len(l.slots) > maxThrottled {
		delete(l.slots, domain)
	}
}

// allowedFor returns a domain's current bound (for tests and logs).
func (l *domainLimiter) allowedFor(domain string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.slots[domain]; s != nil {
		return s.allowed
	}
	return max(1, l.limit)
}

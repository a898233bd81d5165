package store

import "sync"

// EventKind says what changed.
type EventKind uint8

const (
	EventNew       EventKind = iota + 1 // messages added (delivery, APPEND, COPY, MOVE)
	EventFlags                          // flags changed
	EventExpunge                        // messages removed (EXPUNGE, POP3 DELE, MOVE, expiry)
	EventMailboxes                      // mailboxes created, deleted or renamed
	EventUnknown                        // changed by another process; details unknown
)

// Event is one change notice. Events are hints: a subscriber re-reads what
// it shows (a mailbox's ModSeq, then the changed messages) rather than
// trusting the event's content, so coalescing or reordering events never
// loses a change.
type Event struct {
	Kind      EventKind
	AccountID int64
	// MailboxID is the mailbox that changed; 0 means "some mailbox of the
	// account" (a publisher that does not know which).
	MailboxID int64
}

// Bus is the in-process event bus engines embed: publishers call Publish
// after a change committed; IMAP sessions Subscribe per account. The zero
// value is ready to use. A cluster engine (PostgreSQL LISTEN/NOTIFY) feeds
// changes from other nodes into the same Bus, as the SQLite engine does with
// changes made by other processes.
type Bus struct {
	mu   sync.Mutex
	subs map[int64]map[*Subscription]struct{}
}

// Subscription receives wake-ups for one account's changes.
type Subscription struct {
	// C gets a value when something changed since the last receive. It is
	// buffered with capacity 1 and never blocks a publisher: several events
	// between two receives arrive as one wake-up.
	C <-chan struct{}

	c         chan struct{}
	bus       *Bus
	accountID int64
	mu        sync.Mutex
	mailboxes map[int64]bool // changed mailboxes since the last Changed; nil key 0 = unknown
	onChange  func()         // see OnChange
}

// OnChange sets a function called on every event of the subscription (as
// well as the wake-up on C), so a subscriber need not park a goroutine on
// C. It runs on the publisher's goroutine with the bus locked: it must
// return at once (start a goroutine, set a flag). nil removes it.
func (s *Subscription) OnChange(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChange = fn
}

// Subscribe starts receiving the account's events. Call Close when done.
func (b *Bus) Subscribe(accountID int64) *Subscription {
	c := make(chan struct{}, 1)
	s := &Subscription{C: c, c: c, bus: b, accountID: accountID}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		b.subs = make(map[int64]map[*Subscription]struct{})
	}
	if b.subs[accountID] == nil {
		b.subs[accountID] = make(map[*Subscription]struct{})
	}
	b.subs[accountID][s] = struct{}{}
	return s
}

// Publish wakes the subscribers of the event's account.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs[e.AccountID] {
		if fn := s.note(e.MailboxID); fn != nil {
			fn()
		}
		select {
		case s.c <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Accounts returns the accounts that have subscribers, for engines that
// poll for changes made elsewhere.
func (b *Bus) Accounts() []int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]int64, 0, len(b.subs))
	for id := range b.subs {
		out = append(out, id)
	}
	return out
}

// Subscribers reports how many subscriptions are open.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, m := range b.subs {
		n += len(m)
	}
	return n
}

// note records a changed mailbox and returns the OnChange function.
func (s *Subscription) note(mailboxID int64) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mailboxes == nil {
		s.mailboxes = make(map[int64]bool)
	}
	if len(s.mailboxes) < 64 {
		s.mailboxes[mailboxID] = true
	} else {
		s.mailboxes[0] = true // too many to track: "something changed"
	}
	return s.onChange
}

// Changed reports whether mailboxID may have changed since the previous
// call, and forgets what it reported. A wake-up about an unknown mailbox
// (0) counts for every mailbox.
func (s *Subscription) Changed(mailboxID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := s.mailboxes[mailboxID] || s.mailboxes[0]
	clear(s.mailboxes)
	return changed
}

// Close stops the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if m := b.subs[s.accountID]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(b.subs, s.accountID)
		}
	}
}

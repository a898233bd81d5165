package imap

import (
	"slices"
	"sync"
	"time"
)

// DefaultSortCacheSize is how many messages' sort keys a Server keeps in
// memory when Server.SortCacheSize is 0: about 250 octets each, so at
// most some 25 MB.
const DefaultSortCacheSize = 100_000

// msgKeys is what SORT and THREAD compare for one message. Every field
// derives from the message's content, its arrival time and its size,
// which never change for a given mailbox, UIDVALIDITY and UID (bodies
// are immutable, UIDs never reused within a UIDVALIDITY, a mailbox ID
// never reused, RENAME keeps both), so keys once computed stay right for
// as long as the message exists.
type msgKeys struct {
	arrival, sent time.Time
	size          int64
	// texts are what the string keys compare, indexed by key, lower-case:
	// the base subject, the first address's mailbox (FROM, TO, CC), its
	// display name (DISPLAYFROM, DISPLAYTO).
	texts [nSortKeys]string
	// For THREAD=REFERENCES: the Message-ID, the References (else the
	// In-Reply-To) identifiers, and whether the subject is a reply.
	msgID string
	refs  []string
	reply bool
}

// sortCache keeps the sort keys of the messages SORT and THREAD have
// seen, per mailbox, shared by every session of a Server: the keys come
// from each message's cached summary, and reading 10,000 rows from the
// store and decoding 10,000 envelopes for every SORT cost ten times what
// Dovecot needs with its index (docs/BENCHMARKS.md). A repeated SORT of a
// mailbox then reads nothing from the store but the keys of new
// messages. Entries of expunged messages stay until their mailbox is
// evicted or trimmed (lookups only ever ask for UIDs of a session's
// view); when the cache holds more than its size, whole mailboxes go,
// least recently used first.
type sortCache struct {
	mu    sync.Mutex
	n     int // entries in all mailboxes
	clock uint64
	boxes map[boxID]*boxKeys
}

// boxID names a mailbox and its UIDVALIDITY: an import that gives a
// mailbox a new UIDVALIDITY (and so may reuse UIDs) starts a new entry.
type boxID struct {
	mailbox     int64
	uidValidity uint32
}

type boxKeys struct {
	keys map[uint32]*msgKeys
	used uint64
}

// lookup fills keys[i] with the cached keys of uids[i] where it has them
// and returns how many it filled.
func (c *sortCache) lookup(mailboxID boxID, uids []uint32, keys []*msgKeys) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.boxes[mailboxID]
	if b == nil {
		return 0
	}
	c.clock++
	b.used = c.clock
	found := 0
	for i, u := range uids {
		if k := b.keys[u]; k != nil {
			keys[i] = k
			found++
		}
	}
	return found
}

// add caches keys of a mailbox's messages, at most max entries in all.
// A mailbox whose cached entries outnumber the messages of the view
// (ascending UIDs) by far, expunged ones having accumulated, is trimmed
// to the view first.
func (c *sortCache) add(mailboxID boxID, uids []uint32, keys []*msgKeys, view []uint32, max int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.boxes == nil {
		c.boxes = make(map[boxID]*boxKeys)
	}
	b := c.boxes[mailboxID]
	if b == nil {
		b = &boxKeys{keys: make(map[uint32]*msgKeys, len(uids))}
		c.boxes[mailboxID] = b
	}
	c.clock++
	b.used = c.clock
	if len(b.keys) > 2*len(view)+1000 {
		for u := range b.keys {
			if _, ok := slices.BinarySearch(view, u); !ok {
				delete(b.keys, u)
				c.n--
			}
		}
	}
	for i, u := range uids {
		if keys[i] == nil || b.keys[u] != nil {
			continue
		}
		for c.n >= max && len(c.boxes) > 1 {
			c.evictOldest(mailboxID)
		}
		if c.n >= max {
			return
		}
		b.keys[u] = keys[i]
		c.n++
	}
}

// evictOldest drops the least recently used mailbox other than keep.
func (c *sortCache) evictOldest(keep boxID) {
	var oldest boxID
	var at uint64
	for id, b := range c.boxes {
		if id != keep && (at == 0 || b.used < at) {
			oldest, at = id, b.used
		}
	}
	c.n -= len(c.boxes[oldest].keys)
	delete(c.boxes, oldest)
}

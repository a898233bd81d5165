package store

import (
	"container/list"
	"sync"
)

// Snapshots of large maildrops are kept between sessions by both engines:
// listing 100,000 messages takes 100 ms or more, and a client polling such
// a maildrop finds it unchanged most of the time. A kept snapshot is
// reused only while its INBOX has the same id, modseq and uidnext: every
// insert and delete of a message, from any process or node, bumps modseq
// (schema triggers), and every new UID moves uidnext, so an unchanged
// triple means an unchanged listing. The one field that changes without
// them, first_retrieved, is only written through an open maildrop (which
// holds the account's lock and updates the kept slice in MarkRetrieved);
// the engine says what a write on another node does to it.
const (
	// SnapshotCacheMin is the smallest maildrop worth keeping: smaller
	// ones load in about a millisecond.
	SnapshotCacheMin = 2000
	// snapCacheMax bounds the messages kept across all accounts (about
	// 100 octets each plus the UIDL), least recently opened dropped first.
	snapCacheMax = 500000
)

// SnapshotKey is what must not have changed for a kept snapshot to be
// valid: the INBOX's id, mod-sequence and UIDNEXT.
type SnapshotKey struct {
	MailboxID, ModSeq, UIDNext int64
}

type snapshotEntry struct {
	accountID int64
	key       SnapshotKey
	msgs      []MaildropMessage
	lastUID   int64
	elem      *list.Element
}

// SnapshotCache holds kept snapshots by account. The zero value is empty;
// it is safe for concurrent use.
type SnapshotCache struct {
	mu    sync.Mutex
	m     map[int64]*snapshotEntry
	lru   list.List // of *snapshotEntry, most recently used first
	total int       // messages held
}

// Get returns the kept snapshot of the account if its key still matches.
func (c *SnapshotCache) Get(accountID int64, key SnapshotKey) ([]MaildropMessage, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[accountID]
	if e == nil {
		return nil, 0, false
	}
	if e.key != key {
		c.remove(e)
		return nil, 0, false
	}
	c.lru.MoveToFront(e.elem)
	return e.msgs, e.lastUID, true
}

// Put keeps a snapshot taken when the INBOX had key, if it is large.
func (c *SnapshotCache) Put(accountID int64, key SnapshotKey, msgs []MaildropMessage, lastUID int64) {
	if len(msgs) < SnapshotCacheMin || len(msgs) > snapCacheMax {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[accountID]; e != nil {
		c.remove(e)
	}
	if c.m == nil {
		c.m = make(map[int64]*snapshotEntry)
	}
	e := &snapshotEntry{accountID: accountID, key: key, msgs: msgs, lastUID: lastUID}
	e.elem = c.lru.PushFront(e)
	c.m[accountID] = e
	c.total += len(msgs)
	for c.total > snapCacheMax {
		c.remove(c.lru.Back().Value.(*snapshotEntry))
	}
}

// Drop forgets the account's snapshot (its messages were just deleted).
func (c *SnapshotCache) Drop(accountID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[accountID]; e != nil {
		c.remove(e)
	}
}

func (c *SnapshotCache) remove(e *snapshotEntry) {
	c.lru.Remove(e.elem)
	delete(c.m, e.accountID)
	c.total -= len(e.msgs)
}

// Kept returns the account's kept snapshot whatever its key, without
// marking it used (nil if none): an engine that can ask for the listing
// ahead of the key asks only when nothing is kept, and tests check reuse.
func (c *SnapshotCache) Kept(accountID int64) []MaildropMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[accountID]; e != nil {
		return e.msgs
	}
	return nil
}

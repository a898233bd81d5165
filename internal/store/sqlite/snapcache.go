package sqlite

import (
	"container/list"
	"sync"

	"github.com/pochta-mail/pochta/internal/store"
)

// Snapshots of large maildrops are kept between sessions: listing 100,000
// messages takes SQLite 100 ms or more, and a client polling such a
// maildrop finds it unchanged most of the time. A kept snapshot is reused
// only while its INBOX has the same id, modseq and uidnext: every insert
// and delete of a message, from any process, bumps modseq (schema
// triggers), and every new UID moves uidnext, so an unchanged triple means
// an unchanged listing. The one field that changes without them,
// first_retrieved, is only written through an open maildrop (which holds
// the account's lock and updates the kept slice in MarkRetrieved).
const (
	// snapCacheMin is the smallest maildrop worth keeping: smaller ones
	// load in about a millisecond.
	snapCacheMin = 2000
	// snapCacheMax bounds the messages kept across all accounts (about
	// 100 octets each plus the UIDL), least recently opened dropped first.
	snapCacheMax = 500000
)

// snapKey is what must not have changed for a kept snapshot to be valid.
type snapKey struct {
	mailboxID, modseq, uidnext int64
}

type snapEntry struct {
	accountID int64
	key       snapKey
	msgs      []store.MaildropMessage
	lastUID   int64
	elem      *list.Element
}

// snapCache holds kept snapshots by account. The zero value is empty.
type snapCache struct {
	mu    sync.Mutex
	m     map[int64]*snapEntry
	lru   list.List // of *snapEntry, most recently used first
	total int       // messages held
}

// get returns the kept snapshot of the account if its key still matches.
func (c *snapCache) get(accountID int64, key snapKey) ([]store.MaildropMessage, int64, bool) {
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

// put keeps a snapshot taken when the INBOX had key, if it is large.
func (c *snapCache) put(accountID int64, key snapKey, msgs []store.MaildropMessage, lastUID int64) {
	if len(msgs) < snapCacheMin || len(msgs) > snapCacheMax {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[accountID]; e != nil {
		c.remove(e)
	}
	if c.m == nil {
		c.m = make(map[int64]*snapEntry)
	}
	e := &snapEntry{accountID: accountID, key: key, msgs: msgs, lastUID: lastUID}
	e.elem = c.lru.PushFront(e)
	c.m[accountID] = e
	c.total += len(msgs)
	for c.total > snapCacheMax {
		c.remove(c.lru.Back().Value.(*snapEntry))
	}
}

// drop forgets the account's snapshot (its messages were just deleted).
func (c *snapCache) drop(accountID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[accountID]; e != nil {
		c.remove(e)
	}
}

func (c *snapCache) remove(e *snapEntry) {
	c.lru.Remove(e.elem)
	delete(c.m, e.accountID)
	c.total -= len(e.msgs)
}

package postgres

import (
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/pochta-mail/pochta/internal/store"
)

// The directory cache answers, on each node, the lookups every SMTP
// delivery makes before its commit: whether a domain is local, the
// recipient's account or alias, the account's active Sieve script. Each
// was a round trip to the database per message; they change rarely.
//
// Invalidation: triggers on domains, accounts, aliases and sieve_scripts
// (migration 11) send a NOTIFY naming the changed row's key on the events
// channel, in the writing transaction, so every node hears of a change
// when it commits, whoever made it (another node, the CLI, psql). The
// node that wrote drops its own entry right after the commit as well, so
// its own next read sees the change without waiting for the notification.
//
// Safety: the cache answers only while the node's listener is LISTENing.
// When that connection breaks, notifications sent meanwhile are lost: the
// cache is emptied and stays off until LISTEN works again, so every
// lookup goes to the database in between. A lookup that read the database
// while an invalidation arrived does not store what it read (it may be
// older than the change). Negative answers (no such domain, alias or
// script) are cached too: a new one is an INSERT, which notifies as well.
//
// An account's usage (Account.Used) changes with every message, which
// the account trigger does not report (it fires only for the columns
// Account returns besides used). The usage a cached account carries stays
// exact this way:
//   - this node's committer reads the usage of a batch's accounts at the
//     end of the batch's transaction and sets it in their entries
//     (delivered), unless an entry was read from the database after the
//     batch started, in which case it drops it;
//   - every other change of an account's messages drops its entry: this
//     node's (runTx, after the commit) and other nodes' (their events,
//     heard by the listener), so an account other nodes deliver to is
//     read again after each of their deliveries.
//
// Payload: "* dir KIND KEY" (the star where events carry the writing
// node: a trigger does not know it); KIND domain, account or alias with
// the lower-case name or address, sieve with the account id.

// maxCached bounds the entries of a node's cache; past it, an arbitrary
// entry makes room (mail to random addresses of a local domain must not
// grow it without bound).
const maxCached = 100_000

// cacheKind is what a cache entry answers.
type cacheKind uint8

const (
	cacheDomain cacheKind = iota + 1
	cacheAlias
	cacheScript // an account's active Sieve script
	cacheAccount
)

// cacheKey names one cached lookup: name for domains and aliases, id
// (the account) for scripts.
type cacheKey struct {
	kind cacheKind
	name string
	id   int64
}

// cacheEntry is one answer: the value, or that there is none.
type cacheEntry struct {
	v     any
	found bool
	at    uint64 // the generation it was stored at
}

// dirCache is a node's directory cache. It is safe for concurrent use.
type dirCache struct {
	mu sync.Mutex
	// live: the listener is LISTENing, so changes reach the cache.
	live bool
	// gen counts invalidations and usage updates: a lookup stores what
	// it read only if none happened since it looked.
	gen  uint64
	m    map[cacheKey]cacheEntry
	byID map[int64]string // cached accounts' addresses
	max  int
	// observe, when set (tests), is called with the lock held with each
	// key dropped (or invalidated while not cached), and with the zero
	// key and the new state at a reset.
	observe func(k cacheKey, live bool)
}

func newDirCache(max int) *dirCache {
	return &dirCache{m: make(map[cacheKey]cacheEntry), byID: make(map[int64]string), max: max}
}

// get returns k's entry, and the generation a fill must present.
func (c *dirCache) get(k cacheKey) (e cacheEntry, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live {
		return e, false, 0
	}
	e, ok = c.m[k]
	return e, ok, c.gen
}

// put stores a fill read at generation gen, unless the cache was
// invalidated or turned off since.
func (c *dirCache) put(k cacheKey, e cacheEntry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || gen != c.gen {
		return
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for old := range c.m { // an arbitrary one
			c.remove(old)
			break
		}
	}
	c.remove(k)
	e.at = gen
	c.m[k] = e
	if a, ok := e.v.(store.Account); ok {
		c.byID[a.ID] = k.name
	}
}

// drop removes k's entry; c.mu is held.
func (c *dirCache) drop(k cacheKey) {
	c.remove(k)
	if c.observe != nil {
		c.observe(k, c.live)
	}
}

// remove removes k's entry without telling observe; c.mu is held.
func (c *dirCache) remove(k cacheKey) {
	if a, ok := c.m[k].v.(store.Account); ok {
		delete(c.byID, a.ID)
	}
	delete(c.m, k)
}

// invalidate drops k's entry.
func (c *dirCache) invalidate(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.drop(k)
}

// reset empties the cache, and turns it on (the listener is LISTENing) or
// off (it lost its connection).
func (c *dirCache) reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
	clear(c.byID)
	c.live = live
	if c.observe != nil {
		c.observe(cacheKey{}, live)
	}
}

// accountChanged drops the account's entry: its messages changed other
// than by this node's committer.
func (c *dirCache) accountChanged(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if addr, ok := c.byID[id]; ok {
		c.drop(accountKey(addr))
	}
}

// mark returns what a batch passes to delivered.
func (c *dirCache) mark() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// delivered sets the usage of the accounts a committed batch delivered to,
// read at the end of its transaction, in their entries. mark is from
// before the batch ran. An entry stored before it, and still there, saw
// no other change of its account's messages since (each drops it), only
// this node's deliveries, which only add: the larger of the two usages
// is the later (batches committing at once may report out of order). An
// entry stored after it was read while the batch ran, maybe before its
// commit, maybe after a change that followed the commit (an expunge
// waiting for the batch's row lock): it is dropped.
func (c *dirCache) delivered(mark uint64, used map[int64]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++ // a lookup that read the database before this commit
	for id, u := range used {
		addr, ok := c.byID[id]
		if !ok {
			continue
		}
		k := accountKey(addr)
		e := c.m[k]
		if e.at > mark {
			c.drop(k)
			continue
		}
		a := e.v.(store.Account)
		a.Used = max(a.Used, u)
		e.v = a
		c.m[k] = e
	}
}

// setObserver sets observe (tests).
func (c *dirCache) setObserver(f func(k cacheKey, live bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.observe = f
}

// len reports the entries (tests).
func (c *dirCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// cached answers k from the cache, or by load, whose answer (a value, or
// an error wrapping store.ErrNotFound) it keeps. missing makes the
// not-found error of a cached negative answer.
func cached[T any](c *dirCache, k cacheKey, load func() (T, error), missing func() error) (T, error) {
	e, ok, gen := c.get(k)
	if ok {
		if !e.found {
			var zero T
			return zero, missing()
		}
		return e.v.(T), nil
	}
	v, err := load()
	switch {
	case err == nil:
		c.put(k, cacheEntry{v: v, found: true}, gen)
	case errors.Is(err, store.ErrNotFound):
		c.put(k, cacheEntry{}, gen)
	}
	return v, err
}

// dirPayloadPrefix starts the payloads of the directory triggers.
const dirPayloadPrefix = "* dir "

// parseDirPayload reads a directory trigger's payload.
func parseDirPayload(p string) (cacheKey, bool) {
	rest, ok := strings.CutPrefix(p, dirPayloadPrefix)
	if !ok {
		return cacheKey{}, false
	}
	kind, key, ok := strings.Cut(rest, " ")
	if !ok {
		return cacheKey{}, false
	}
	switch kind {
	case "account":
		return cacheKey{kind: cacheAccount, name: key}, true
	case "domain":
		return cacheKey{kind: cacheDomain, name: key}, true
	case "alias":
		return cacheKey{kind: cacheAlias, name: key}, true
	case "sieve":
		id, err := strconv.ParseInt(key, 10, 64)
		return cacheKey{kind: cacheScript, id: id}, err == nil
	}
	return cacheKey{}, false
}

// Keys of the lookups.
func domainKey(name string) cacheKey   { return cacheKey{kind: cacheDomain, name: name} }
func aliasKey(address string) cacheKey { return cacheKey{kind: cacheAlias, name: address} }
func accountKey(address string) cacheKey {
	return cacheKey{kind: cacheAccount, name: address}
}
func scriptKey(accountID int64) cacheKey {
	return cacheKey{kind: cacheScript, id: accountID}
}

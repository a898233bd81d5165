package auth

import (
	"container/list"
	"time"
)

// boundedMap is a map whose entries expire and whose size is capped. Entries
// are kept in the order they were last put; since every table that uses it
// puts with a fixed lifetime, that is also expiry order, so pruning only
// ever looks at the front. It is not safe for concurrent use: the owner
// holds a lock.
type boundedMap[K comparable, V any] struct {
	max   int
	order *list.List // of *boundedItem[K, V], oldest first
	items map[K]*list.Element
}

type boundedItem[K comparable, V any] struct {
	key     K
	val     V
	expires time.Time
}

func newBoundedMap[K comparable, V any](max int) *boundedMap[K, V] {
	return &boundedMap[K, V]{max: max, order: list.New(), items: make(map[K]*list.Element)}
}

// get returns the live value for k; an expired entry is removed.
func (m *boundedMap[K, V]) get(k K, now time.Time) (V, bool) {
	e, ok := m.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	it := e.Value.(*boundedItem[K, V])
	if !now.Before(it.expires) {
		m.remove(e)
		var zero V
		return zero, false
	}
	return it.val, true
}

// put stores v under k until expires, then drops expired entries and, while
// over the cap, the oldest ones.
func (m *boundedMap[K, V]) put(k K, v V, expires, now time.Time) {
	if e, ok := m.items[k]; ok {
		m.remove(e)
	}
	m.items[k] = m.order.PushBack(&boundedItem[K, V]{key: k, val: v, expires: expires})
	for e := m.order.Front(); e != nil; e = m.order.Front() {
		if len(m.items) <= m.max && now.Before(e.Value.(*boundedItem[K, V]).expires) {
			break
		}
		m.remove(e)
	}
}

func (m *boundedMap[K, V]) delete(k K) {
	if e, ok := m.items[k]; ok {
		m.remove(e)
	}
}

func (m *boundedMap[K, V]) len() int { return len(m.items) }

func (m *boundedMap[K, V]) remove(e *list.Element) {
	delete(m.items, e.Value.(*boundedItem[K, V]).key)
	m.order.Remove(e)
}

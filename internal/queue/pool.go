package queue

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// Connection reuse: a delivery to a next hop that already has an idle
// session takes it instead of dialling (no TCP, greeting, EHLO, STARTTLS
// or AUTH again), sends RSET first (RFC 5321 4.1.1.5: a clean state, and
// proof the peer is still there) and gives the session back when its
// transaction is done. Postfix does the same with its connection cache.

// connKey names what a pooled session can be reused for: the same
// address of the same hop, reached under the same TLS policy (a session
// set up for opportunistic TLS must not serve a domain that requires a
// verified certificate, nor one for an authenticated smarthost an MX).
type connKey struct {
	hop    string // Hop.String(): name (for TLS) and port
	addr   netip.Addr
	policy tlsPolicy
}

// pool holds idle sessions: at most perKey per next hop and total in all,
// each closed (QUIT) after idle without work. A session carries at most
// maxMessages transactions and then leaves.
type pool struct {
	mu          sync.Mutex
	idle        map[connKey][]*idleConn
	count       int
	closed      bool
	perKey      int
	total       int
	idleTime    time.Duration
	maxMessages int
	closing     sync.WaitGroup // QUITs in flight, awaited by close
}

type idleConn struct {
	c     *client
	timer *time.Timer
}

// get takes an idle session for key, bound to ctx, or returns nil.
func (p *pool) get(ctx context.Context, key connKey) *client {
	p.mu.Lock()
	defer p.mu.Unlock()
	for list := p.idle[key]; len(list) > 0; list = p.idle[key] {
		ic := list[len(list)-1] // the most recently used: least likely timed out
		p.remove(key, len(list)-1)
		if !ic.timer.Stop() {
			continue // its idle time just ran out; the timer closes it
		}
		ic.c.bind(ctx)
		return ic.c
	}
	return nil
}

// put gives a session back after a transaction. reusable is false when
// the session is in doubt (network error, timeout, 421); it is closed
// then, and also when it has carried its share of messages or the pool
// is full.
func (p *pool) put(key connKey, c *client, reusable bool) {
	if !c.unbind() {
		reusable = false // the attempt's context ended: the deadline is in the past
	}
	p.mu.Lock()
	if !reusable || p.closed || c.used >= p.maxMessages || len(p.idle[key]) >= p.perKey || p.count >= p.total {
		p.mu.Unlock()
		p.quit(c, reusable)
		return
	}
	defer p.mu.Unlock()
	ic := &idleConn{c: c}
	ic.timer = time.AfterFunc(p.idleTime, func() {
		p.mu.Lock()
		for i, x := range p.idle[key] {
			if x == ic {
				p.remove(key, i)
				p.closing.Add(1)
				p.mu.Unlock()
				defer p.closing.Done()
				c.quitIdle()
				return
			}
		}
		p.mu.Unlock()
	})
	if p.idle == nil {
		p.idle = map[connKey][]*idleConn{}
	}
	p.idle[key] = append(p.idle[key], ic)
	p.count++
}

// remove drops idle[key][i]; p.mu is held.
func (p *pool) remove(key connKey, i int) {
	list := p.idle[key]
	list = append(list[:i], list[i+1:]...)
	if len(list) == 0 {
		delete(p.idle, key)
	} else {
		p.idle[key] = list
	}
	p.count--
}

// quit ends a session leaving the pool: politely when it is healthy,
// else by closing the socket.
func (p *pool) quit(c *client, healthy bool) {
	if !healthy {
		c.close()
		return
	}
	p.closing.Add(1)
	go func() {
		defer p.closing.Done()
		c.quitIdle()
	}()
}

// close ends every idle session and refuses new ones; it returns when
// the QUITs are done.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	var all []*client
	for key, list := range p.idle {
		for _, ic := range list {
			if ic.timer.Stop() {
				all = append(all, ic.c)
			}
		}
		delete(p.idle, key)
	}
	p.count = 0
	p.mu.Unlock()
	for _, c := range all {
		p.quit(c, true)
	}
	p.closing.Wait()
}

// open lets the pool take sessions again (Run after an earlier Run).
func (p *pool) open() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = false
}

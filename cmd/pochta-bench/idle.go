package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// idleDialers bounds how many connections idle mode opens at once, so the
// server's listen backlog (and Dovecot's login process spawning) is not the
// thing measured.
const idleDialers = 16

// idle opens c.Conc connections, logs each in unless c.NoLogin, prints a
// "READY" line and holds them for c.Hold or until ctx ends, so a script can
// read the server's resident memory meanwhile. Then it QUITs them all.
func idle(ctx context.Context, c *config) (*tally, int) {
	conns := make([]*conn, c.Conc)
	tallies := make([]tally, idleDialers)
	next := make(chan int)
	go func() {
		for i := range c.Conc {
			next <- i
		}
		close(next)
	}()
	var wg sync.WaitGroup
	for w := range idleDialers {
		wg.Go(func() {
			for i := range next {
				cn, err := dial(ctx, c.Dial)
				if err != nil {
					tallies[w].fail(err)
					continue
				}
				if !c.NoLogin {
					a := c.Accounts[i%len(c.Accounts)]
					if err := cn.login(a.User, a.Pass); err != nil {
						tallies[w].fail(err)
						cn.Close()
						continue
					}
				}
				conns[i] = cn
			}
		})
	}
	wg.Wait()
	total := &tally{}
	for i := range tallies {
		total.merge(&tallies[i])
	}
	open := 0
	for _, cn := range conns {
		if cn != nil {
			open++
		}
	}
	// The script waits for this exact line before it reads memory.
	fmt.Fprintf(c.Out, "READY connections=%d errors=%d\n", open, total.Errors)
	select {
	case <-ctx.Done():
	case <-time.After(c.Hold):
	}
	for _, cn := range conns {
		if cn == nil {
			continue
		}
		var err error
		if c.NoLogin {
			_, err = cn.cmd("QUIT", "QUIT")
			cn.Close()
		} else {
			err = cn.quit()
		}
		if err != nil {
			total.fail(err) // a connection the server dropped while idle
		} else {
			total.Sessions++
		}
	}
	return total, open
}

// statResult is one stat100k iteration.
type statResult struct {
	Session  time.Duration // connect to QUIT reply
	Login    time.Duration // USER+PASS, where servers open the maildrop
	StatUIDL time.Duration // STAT then the whole UIDL listing
	Count    int
}

// stat100k times c.N sequential sessions of login, STAT, UIDL, QUIT on the
// first account, which should hold a very large maildrop. The first
// iteration shows a cold cache (for Dovecot, index building); the rest show
// the steady state.
func stat100k(c *config) ([]statResult, error) {
	a := c.Accounts[0]
	var out []statResult
	for range max(c.N, 1) {
		var r statResult
		t0 := time.Now()
		cn, err := dial(context.Background(), c.Dial)
		if err != nil {
			return out, err
		}
		t1 := time.Now()
		if err := cn.login(a.User, a.Pass); err != nil {
			cn.Close()
			return out, err
		}
		t2 := time.Now()
		r.Login = t2.Sub(t1)
		count, _, err := cn.stat()
		if err != nil {
			cn.Close()
			return out, err
		}
		uidls, err := cn.uidl()
		if err != nil {
			cn.Close()
			return out, err
		}
		r.StatUIDL = time.Since(t2)
		if uidls != count {
			cn.Close()
			return out, fmt.Errorf("STAT says %d messages, UIDL lists %d", count, uidls)
		}
		if err := cn.quit(); err != nil {
			return out, err
		}
		r.Session, r.Count = time.Since(t0), count
		out = append(out, r)
	}
	return out, nil
}

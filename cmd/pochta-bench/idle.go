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

// holdConns opens c.Conc connections with open (idleDialers at a time),
// prints a "READY" line and holds them for c.Hold or until ctx ends, so a
// script can read the server's resident memory meanwhile; then it ends each
// with end. Sessions counts connections that ended cleanly; it returns the
// tally and how many connections were open at READY.
func holdConns[C any](ctx context.Context, c *config, open func(i int) (C, error), end func(C) error) (*tally, int) {
	conns := make([]C, c.Conc)
	opened := make([]bool, c.Conc)
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
				cn, err := open(i)
				if err != nil {
					tallies[w].fail(err)
					continue
				}
				conns[i], opened[i] = cn, true
			}
		})
	}
	wg.Wait()
	total := &tally{}
	for i := range tallies {
		total.merge(&tallies[i])
	}
	n := 0
	for _, ok := range opened {
		if ok {
			n++
		}
	}
	// The scripts wait for this exact line before they read memory.
	fmt.Fprintf(c.Out, "READY connections=%d errors=%d\n", n, total.Errors)
	select {
	case <-ctx.Done():
	case <-time.After(c.Hold):
	}
	for i, cn := range conns {
		if !opened[i] {
			continue
		}
		if err := end(cn); err != nil {
			total.fail(err) // a connection the server dropped while idle
		} else {
			total.Sessions++
		}
	}
	return total, n
}

// idle holds c.Conc POP3 connections (see holdConns), logged in unless
// c.NoLogin, and QUITs them at the end.
func idle(ctx context.Context, c *config) (*tally, int) {
	open := func(i int) (*conn, error) {
		cn, err := dial(ctx, c.Dial)
		if err != nil || c.NoLogin {
			return cn, err
		}
		a := c.Accounts[i%len(c.Accounts)]
		if err := cn.login(a.User, a.Pass); err != nil {
			cn.Close()
			return nil, err
		}
		return cn, nil
	}
	end := func(cn *conn) error {
		if c.NoLogin {
			_, err := cn.cmd("QUIT", "QUIT")
			cn.Close()
			return err
		}
		return cn.quit()
	}
	return holdConns(ctx, c, open, end)
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

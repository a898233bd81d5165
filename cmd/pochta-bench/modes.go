package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// account is one login the tool uses.
type account struct{ User, Pass string }

// config is everything a mode needs, parsed from the flags.
type config struct {
	Dial     dialOptions
	Mode     string
	Conc     int           // concurrent sessions (idle: connections to hold)
	N        int           // sessions (sessions, retr), passes (fetchdel), iterations (stat100k)
	Duration time.Duration // sessions, retr: run this long when N is 0
	Accounts []account
	Hold     time.Duration // idle: how long to hold the connections
	NoLogin  bool          // idle: hold unauthenticated connections
	Refill   string        // fetchdel: shell command run before every pass after the first
	Src      string        // imapidle: comma-separated local addresses to dial from
	Persist  bool          // imapfetch: one login per worker, then SELECT+FETCH repeatedly
	Size     int           // smtp: message size in octets
	From     string        // smtp: envelope sender
	Out      io.Writer     // human text and the RESULT line
}

// maxConsecutiveErrors stops a worker whose server has clearly gone away,
// instead of spinning on connection refused.
const maxConsecutiveErrors = 10

// sessionFunc runs one full POP3 session. It records per-message results
// (and per-message errors it could recover from) in t; a returned error
// means the session failed as a whole.
type sessionFunc func(c *config, a account, t *tally) error

// runWorkers runs c.Conc workers until c.N steps have started in all or
// c.Duration is over; a worker also gives up after maxConsecutiveErrors
// failed steps in a row. newWorker builds worker w's step function (called
// with k = 0, 1, ...; an error is counted as a failure) and an optional
// cleanup. It returns the merged tallies and the elapsed time.
func runWorkers(ctx context.Context, c *config, newWorker func(w int) (step func(k int, t *tally) error, done func())) (*tally, time.Duration) {
	if c.N == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Duration)
		defer cancel()
	}
	var started atomic.Int64
	tallies := make([]tally, c.Conc)
	var wg sync.WaitGroup
	begin := time.Now()
	for w := range c.Conc {
		wg.Go(func() {
			t := &tallies[w]
			step, done := newWorker(w)
			if done != nil {
				defer done()
			}
			bad := 0
			for k := 0; ctx.Err() == nil && bad < maxConsecutiveErrors; k++ {
				if c.N > 0 && started.Add(1) > int64(c.N) {
					return
				}
				if err := step(k, t); err != nil {
					t.fail(err)
					bad++
					continue
				}
				bad = 0
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	total := &tally{}
	for i := range tallies {
		total.merge(&tallies[i])
	}
	return total, elapsed
}

// loop runs whole sessions (see runWorkers); each worker cycles through its
// own accounts.
func loop(ctx context.Context, c *config, once sessionFunc) (*tally, time.Duration) {
	return runWorkers(ctx, c, func(w int) (func(int, *tally) error, func()) {
		mine := workerAccounts(c.Accounts, w, c.Conc)
		return func(k int, t *tally) error {
			t0 := time.Now()
			if err := once(c, mine[k%len(mine)], t); err != nil {
				return err
			}
			t.Sessions++
			t.SessionLat = append(t.SessionLat, time.Since(t0))
			return nil
		}, nil
	})
}

// workerAccounts returns the accounts worker w of conc uses: w, w+conc,
// w+2*conc... Servers lock a maildrop per session (RFC 1939 §8), so workers
// must not share accounts; only with fewer accounts than workers do they
// have to (worker w then uses account w mod len).
func workerAccounts(all []account, w, conc int) []account {
	if len(all) <= w {
		return []account{all[w%len(all)]}
	}
	var mine []account
	for i := w; i < len(all); i += conc {
		mine = append(mine, all[i])
	}
	return mine
}

// sessionOnce is the "sessions" mode: a complete short session, the way a
// mail client polls an empty or unchanged maildrop.
func sessionOnce(c *config, a account, _ *tally) error {
	cn, err := dial(context.Background(), c.Dial)
	if err != nil {
		return err
	}
	defer cn.Close()
	if err := cn.login(a.User, a.Pass); err != nil {
		return err
	}
	count, _, err := cn.stat()
	if err != nil {
		return err
	}
	uidls, err := cn.uidl()
	if err != nil {
		return err
	}
	list, err := cn.list()
	if err != nil {
		return err
	}
	if uidls != count || len(list) != count {
		return fmt.Errorf("STAT says %d messages, UIDL lists %d, LIST %d", count, uidls, len(list))
	}
	return cn.quit()
}

// download retrieves every listed message, deleting each when del is set,
// and records per-RETR latency. A size or termination error is recorded and
// the session goes on when the stream is still in step; otherwise it fails.
func download(cn *conn, t *tally, del bool) error {
	list, err := cn.list()
	if err != nil {
		return err
	}
	for _, m := range list {
		t0 := time.Now()
		got, err := cn.retr(m.Num, m.Size)
		t.Bytes += got
		var mismatch *sizeMismatch
		switch {
		case errors.As(err, &mismatch), errors.Is(err, errBareLF):
			t.Mismatches++
			t.fail(err)
		case err != nil:
			return err
		default:
			t.Messages++
			t.OpLat = append(t.OpLat, time.Since(t0))
		}
		if del {
			if err := cn.dele(m.Num); err != nil {
				return err
			}
		}
	}
	return nil
}

// retrOnce is the "retr" mode: download everything, delete nothing.
func retrOnce(c *config, a account, t *tally) error { return downloadSession(c, a, t, false) }

// persistent keeps one logged-in connection per worker (-persist), so a
// "session" is only the work done on it: the cost of a client that stays
// connected, without login and process start-up costs. A step that fails
// closes its connection; the worker's next step logs in again.
type persistent[C io.Closer] struct {
	login func(c *config, a account) (C, error)
	work  func(cn C, a account, t *tally) error
	mu    sync.Mutex
	conns map[*tally]C // by worker: each worker has its own tally
}

func (p *persistent[C]) step(c *config, a account, t *tally) error {
	p.mu.Lock()
	cn, ok := p.conns[t]
	p.mu.Unlock()
	if !ok {
		var err error
		if cn, err = p.login(c, a); err != nil {
			return err
		}
		p.mu.Lock()
		p.conns[t] = cn
		p.mu.Unlock()
	}
	if err := p.work(cn, a, t); err != nil {
		cn.Close()
		p.mu.Lock()
		delete(p.conns, t)
		p.mu.Unlock()
		return err
	}
	return nil
}

// closeAll closes the connections left once the workers are done.
func (p *persistent[C]) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t, cn := range p.conns {
		cn.Close()
		delete(p.conns, t)
	}
}

// persistentRetr is "retr -persist": LIST and a RETR of every message,
// again and again on one connection, as a client downloading a big
// maildrop does. Call the returned func when the run is over.
func persistentRetr() (sessionFunc, func()) {
	p := &persistent[*conn]{
		login: func(c *config, a account) (*conn, error) {
			cn, err := dial(context.Background(), c.Dial)
			if err != nil {
				return nil, err
			}
			if err := cn.login(a.User, a.Pass); err != nil {
				cn.Close()
				return nil, err
			}
			return cn, nil
		},
		work:  func(cn *conn, _ account, t *tally) error { return download(cn, t, false) },
		conns: map[*tally]*conn{},
	}
	return p.step, p.closeAll
}

// fetchdelOnce is one maildrop of the "fetchdel" mode: download and delete.
func fetchdelOnce(c *config, a account, t *tally) error { return downloadSession(c, a, t, true) }

func downloadSession(c *config, a account, t *tally, del bool) error {
	cn, err := dial(context.Background(), c.Dial)
	if err != nil {
		return err
	}
	defer cn.Close()
	if err := cn.login(a.User, a.Pass); err != nil {
		return err
	}
	if err := download(cn, t, del); err != nil {
		return err
	}
	return cn.quit()
}

// fetchdel runs c.N passes; a pass downloads and deletes every account's
// maildrop once, c.Conc accounts at a time. The refill command runs between
// passes and is not timed.
func fetchdel(ctx context.Context, c *config) (*tally, time.Duration, error) {
	total := &tally{}
	var elapsed time.Duration
	for pass := range max(c.N, 1) {
		if pass > 0 && c.Refill != "" {
			fmt.Fprintf(c.Out, "refilling: %s\n", c.Refill)
			cmd := exec.CommandContext(ctx, "sh", "-c", c.Refill)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return total, elapsed, fmt.Errorf("refill: %w", err)
			}
		}
		queue := make(chan account, len(c.Accounts))
		for _, a := range c.Accounts {
			queue <- a
		}
		close(queue)
		tallies := make([]tally, c.Conc)
		var wg sync.WaitGroup
		begin := time.Now()
		for w := range c.Conc {
			wg.Go(func() {
				t := &tallies[w]
				for a := range queue {
					t0 := time.Now()
					if err := fetchdelOnce(c, a, t); err != nil {
						t.fail(err)
						continue
					}
					t.Sessions++
					t.SessionLat = append(t.SessionLat, time.Since(t0))
				}
			})
		}
		wg.Wait()
		elapsed += time.Since(begin)
		for i := range tallies {
			total.merge(&tallies[i])
		}
	}
	return total, elapsed, nil
}

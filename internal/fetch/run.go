package fetch

import (
	"context"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// Run fetches from every source until ctx ends: one goroutine per
// source, each polling on its interval (or in IMAP IDLE), backing off
// after failures. The source list is re-read every Reload, so sources
// added, changed or removed by another process are picked up.
func (f *Fetcher) Run(ctx context.Context) {
	reload := f.Reload
	if reload <= 0 {
		reload = defaultReload
	}
	type worker struct {
		src    store.FetchSource
		cancel context.CancelFunc
		done   chan struct{}
	}
	workers := map[int64]*worker{}
	var wg sync.WaitGroup
	defer func() {
		for _, w := range workers {
			w.cancel()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(reload)
	defer tick.Stop()
	for {
		srcs, err := f.Store.ListFetchSources(ctx, 0)
		if err != nil && ctx.Err() == nil {
			f.log().Error("reading fetch sources", "err", err)
		}
		if err == nil {
			seen := map[int64]bool{}
			for _, src := range srcs {
				seen[src.ID] = true
				w := workers[src.ID]
				if w != nil && sameSetup(w.src, src) {
					continue
				}
				if w != nil {
					w.cancel()
					<-w.done
				}
				wctx, cancel := context.WithCancel(ctx)
				w = &worker{src: src, cancel: cancel, done: make(chan struct{})}
				workers[src.ID] = w
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer close(w.done)
					f.source(wctx, w.src)
				}()
			}
			for id, w := range workers {
				if !seen[id] {
					w.cancel()
					delete(workers, id)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sameSetup reports whether a source is unchanged in what a worker uses.
func sameSetup(a, b store.FetchSource) bool {
	return a.URL == b.URL && a.Password == b.Password && a.Delete == b.Delete && a.Interval == b.Interval &&
		a.AccountID == b.AccountID
}

// source runs one source until ctx ends. The first run waits for what
// is left of its interval since the last recorded run, so a restart does
// not poll every source at once; except a source that may IDLE, which
// connects at once so new mail keeps arriving within seconds.
func (f *Fetcher) source(ctx context.Context, src store.FetchSource) {
	failures := src.Failures
	var wait time.Duration
	spec, _ := ParseURL(src.URL)
	mayIdle := spec.Proto == IMAP && !f.NoIdle && failures == 0
	if !src.LastRun.IsZero() && !mayIdle {
		next := f.interval(src)
		if failures > 0 {
			next = f.backoff(src, failures)
		}
		wait = time.Until(src.LastRun.Add(next))
	}
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		res, err := f.run(ctx, src, func(r Result) { f.record(src, r, nil) })
		if ctx.Err() != nil {
			if res.Fetched > 0 {
				f.record(src, res, nil)
			}
			return
		}
		f.record(src, res, err)
		if err != nil {
			failures++
			wait = f.backoff(src, failures)
		} else {
			failures = 0
			wait = f.interval(src)
		}
	}
}

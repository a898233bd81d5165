package main

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Batching of last-login times: a login costs no write of its own; the
// times are written every loginFlushInterval and at shutdown.
const (
	loginFlushInterval = 30 * time.Second
	maxPendingLogins   = 100_000 // accounts remembered between two writes
)

type loginStore interface {
	RecordLogins(ctx context.Context, logins map[string]time.Time) error
}

// loginRecorder collects successful logins for pochta user list.
type loginRecorder struct {
	st        loginStore
	normalize func(login string) (string, error)
	log       *slog.Logger

	mu      sync.Mutex
	pending map[string]time.Time
}

func newLoginRecorder(st loginStore, normalize func(string) (string, error), log *slog.Logger) *loginRecorder {
	return &loginRecorder{st: st, normalize: normalize, log: log, pending: map[string]time.Time{}}
}

// note records a successful login of what the client typed.
func (r *loginRecorder) note(login string) {
	addr, err := r.normalize(login)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pending[addr]; ok || len(r.pending) < maxPendingLogins {
		r.pending[addr] = time.Now()
	}
}

func (r *loginRecorder) flush(ctx context.Context) {
	r.mu.Lock()
	batch := r.pending
	r.pending = map[string]time.Time{}
	r.mu.Unlock()
	if err := r.st.RecordLogins(ctx, batch); err != nil {
		r.log.Warn("recording last logins failed", "accounts", len(batch), "err", err)
	}
}

// run writes the batch every interval until ctx ends, then once more.
func (r *loginRecorder) run(ctx context.Context) {
	tick := time.NewTicker(loginFlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			r.flush(ctx)
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r.flush(final)
			cancel()
			return
		}
	}
}

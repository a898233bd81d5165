package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// defaultPollInterval is how often the watcher looks for changes made by
// other processes (`pochta deliver`) while anyone is subscribed.
const defaultPollInterval = 500 * time.Millisecond

// watcher notices changes committed by other processes and publishes them
// on the store's bus. Changes made through this Store are published
// directly by the method that made them; the watcher is for the rest.
//
// The check is cheap when nothing happened: SQLite's PRAGMA data_version,
// on one pinned connection, changes only when another connection committed
// (one statement, no table read). Only then does the watcher read the
// mod-sequences of the subscribed accounts' mailboxes (indexed by account)
// and publish the mailboxes whose value moved. With nobody subscribed it
// does not poll at all.
type watcher struct {
	s        *Store
	interval time.Duration
	kick     chan struct{}
	quit     chan struct{}
	stopped  chan struct{}

	conn    *sql.Conn
	version int64
	seen    map[int64]uint64 // mailbox id -> last mod-sequence seen
	known   map[int64]bool   // accounts seen subscribed at the last poll
}

func startWatcher(s *Store, interval time.Duration) *watcher {
	if interval <= 0 {
		interval = defaultPollInterval
	}
	w := &watcher{s: s, interval: interval, kick: make(chan struct{}, 1),
		quit: make(chan struct{}), stopped: make(chan struct{}),
		seen: map[int64]uint64{}, known: map[int64]bool{}}
	go w.run()
	return w
}

// wake tells an idle watcher that someone subscribed.
func (w *watcher) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *watcher) stop() {
	close(w.quit)
	<-w.stopped
	if w.conn != nil {
		w.conn.Close()
	}
}

func (w *watcher) run() {
	defer close(w.stopped)
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		if w.s.events.Subscribers() == 0 {
			clear(w.known)
			select {
			case <-w.kick:
			case <-w.quit:
				return
			}
		}
		select {
		case <-tick.C:
		case <-w.kick:
		case <-w.quit:
			return
		}
		if err := w.poll(); err != nil {
			w.s.log.Warn("watching for changes by other processes", "err", err)
			if w.conn != nil {
				w.conn.Close()
				w.conn = nil
			}
		}
	}
}

// poll publishes the subscribed mailboxes that changed since the last poll.
func (w *watcher) poll() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if w.conn == nil {
		c, err := w.s.reader.Conn(ctx)
		if err != nil {
			return err
		}
		w.conn, w.version = c, -1
	}
	accounts := w.s.events.Accounts()
	fresh := false
	for _, a := range accounts {
		if !w.known[a] {
			fresh = true
		}
	}
	var version int64
	if err := w.conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&version); err != nil {
		return err
	}
	if version == w.version && !fresh {
		return nil
	}
	w.version = version
	seen := make(map[int64]uint64, len(w.seen))
	known := make(map[int64]bool, len(accounts))
	for len(accounts) > 0 {
		chunk := accounts[:min(len(accounts), 500)]
		accounts = accounts[len(chunk):]
		args := make([]any, len(chunk))
		for i, a := range chunk {
			args[i] = a
			known[a] = true
		}
		rows, err := w.conn.QueryContext(ctx, `SELECT id, account_id, modseq FROM mailboxes WHERE account_id IN (?`+
			strings.Repeat(",?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, account int64
			var modseq uint64
			if err := rows.Scan(&id, &account, &modseq); err != nil {
				rows.Close()
				return err
			}
			seen[id] = modseq
			// A newly subscribed account is published once: its
			// subscriber may have read the mailbox just before a change
			// this poll would otherwise take as the baseline.
			if old, ok := w.seen[id]; (ok && old != modseq) || !w.known[account] {
				w.s.events.Publish(store.Event{Kind: store.EventUnknown, AccountID: account, MailboxID: id})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	w.seen, w.known = seen, known
	return nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pochta-mail/pochta/internal/store"
)

// Events cross nodes by LISTEN/NOTIFY on one channel per schema. A write
// transaction sends its events with pg_notify before it commits:
// PostgreSQL delivers them only at commit (and drops them on rollback),
// and folds identical payloads of one transaction into one. Each node
// keeps one connection of its own LISTENing and publishes what it hears
// on its Bus, skipping its own events (published locally at commit).
//
// Events are hints (store.Event). When the listening connection breaks,
// notifications sent meanwhile are lost, so after reconnecting the node
// tells every subscribed account "something changed" (EventUnknown) and
// its sessions resynchronise by re-reading.
//
// Payload: "node kind account mailbox", space-separated.

// channel is the NOTIFY channel of a schema.
func channel(schema string) string { return "pochta_events_" + schema }

// notify sends t's events to the other nodes, within t.
func (s *Store) notify(ctx context.Context, t *tx) error {
	if len(t.events) == 0 {
		return nil
	}
	payloads := make([]string, 0, len(t.events))
	for _, e := range t.events {
		payloads = append(payloads, s.payload(e))
	}
	_, err := t.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, channel(s.schema), payloads)
	return err
}

// payload is e's NOTIFY payload from this node.
func (s *Store) payload(e store.Event) string {
	return fmt.Sprintf("%s %d %d %d", s.node, e.Kind, e.AccountID, e.MailboxID)
}

// publishLocal publishes an event of a change this node committed, on
// this node only (NOTIFY told the others): after withTx's transactions
// and for changes made outside one. The directory cache drops the
// account, whose usage may have changed (the committer's own deliveries
// set it instead, see dirCache.delivered).
func (s *Store) publishLocal(e store.Event) {
	if e.Kind != store.EventFlags {
		s.cache.accountChanged(e.AccountID)
	}
	s.events.Publish(e)
}

// parsePayload reads a NOTIFY payload.
func parsePayload(p string) (node string, e store.Event, ok bool) {
	f := strings.Fields(p)
	if len(f) != 4 {
		return "", e, false
	}
	kind, err1 := strconv.ParseUint(f[1], 10, 8)
	acct, err2 := strconv.ParseInt(f[2], 10, 64)
	mbox, err3 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return "", e, false
	}
	return f[0], store.Event{Kind: store.EventKind(kind), AccountID: acct, MailboxID: mbox}, true
}

// listener is the node's LISTEN connection.
type listener struct {
	s       *Store
	cc      *pgx.ConnConfig
	cancel  context.CancelFunc
	stopped chan struct{}
	ready   chan struct{} // closed once LISTEN first succeeded
	heard   bool          // LISTEN succeeded before
}

// reconnectWait is the pause between attempts to re-establish LISTEN.
const reconnectWait = time.Second

func startListener(s *Store, cc *pgx.ConnConfig) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{s: s, cc: cc, cancel: cancel, stopped: make(chan struct{}), ready: make(chan struct{})}
	go l.run(ctx)
	// Wait briefly for LISTEN, so a delivery made on another node right
	// after Open returns is heard; a database that is slow to answer
	// only delays hints, it does not fail Open.
	select {
	case <-l.ready:
	case <-time.After(5 * time.Second):
	}
	return l
}

func (l *listener) stop() {
	l.cancel()
	<-l.stopped
}

func (l *listener) run(ctx context.Context) {
	defer close(l.stopped)
	for {
		err := l.listen(ctx)
		// Changes made from now on would not reach the cache.
		l.s.cache.reset(false)
		if ctx.Err() != nil {
			return
		}
		l.s.log.Warn("event listener lost its connection; reconnecting", "err", err)
		select {
		case <-time.After(reconnectWait):
		case <-ctx.Done():
			return
		}
	}
}

// listen connects, LISTENs and relays notifications until the
// connection fails or ctx ends.
func (l *listener) listen(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, l.cc)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{channel(l.s.schema)}.Sanitize()); err != nil {
		return err
	}
	// Whatever the cache held may have changed while nobody listened
	// (before the first LISTEN, or since the last connection broke).
	l.s.cache.reset(true)
	if !l.heard {
		l.heard = true
		close(l.ready)
	} else {
		// Whatever was sent while we were away is lost: every subscriber
		// looks again.
		for _, id := range l.s.events.Accounts() {
			l.s.events.Publish(store.Event{Kind: store.EventUnknown, AccountID: id})
		}
	}
	for {
		n, err := l.wait(ctx, conn)
		if err != nil {
			return err
		}
		if k, ok := parseDirPayload(n.Payload); ok {
			l.s.cache.invalidate(k)
			continue
		}
		node, e, ok := parsePayload(n.Payload)
		if !ok || node == l.s.node {
			continue
		}
		if e.Kind != store.EventFlags { // the account's usage may have changed
			l.s.cache.accountChanged(e.AccountID)
		}
		l.s.events.Publish(e)
	}
}

// listenerCheck is how long the listener waits quietly before it checks
// its connection with a round trip, and listenerCheckTimeout how long
// that may take: a connection that died without a word (no FIN, no RST)
// is noticed within their sum, and the directory cache, which relies on
// it, turned off.
const (
	listenerCheck        = 10 * time.Second
	listenerCheckTimeout = 5 * time.Second
)

// wait returns the next notification, checking the connection when
// none came for listenerCheck.
func (l *listener) wait(ctx context.Context, conn *pgx.Conn) (*pgconn.Notification, error) {
	for {
		wctx, cancel := context.WithTimeout(ctx, listenerCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return n, err
		}
		// A timeout leaves the connection usable (pgconn closes it on
		// any other error).
		pctx, cancel := context.WithTimeout(ctx, listenerCheckTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return nil, err
		}
	}
}

// Subscribe reports changes of the account's mailboxes made on any node.
func (s *Store) Subscribe(accountID int64) *store.Subscription {
	return s.events.Subscribe(accountID)
}

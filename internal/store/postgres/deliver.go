package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// Deliver stores d for every recipient (and on the outbound queue) and
// returns nil only once it is durable; on error nothing is visible.
//
// Group commit, as the SQLite engine does it: a delivery first streams
// its body into a transaction of its own that commits without waiting for
// the disk (synchronous_commit off), then hands its rows to the committer,
// which stores the rows of every delivery waiting at that moment in one
// transaction (a failing one is left out and the transaction run again).
// One WAL flush then makes many deliveries durable, and it covers their
// bodies too: PostgreSQL's WAL is sequential, so a synchronous commit is
// durable only with everything logged before it. A crash between the two
// commits leaves an unreferenced body, which sweepOrphans removes.
//
// The batch's transaction holds each target mailbox's row lock until it
// commits, so UIDs still become visible in the order they were given.
func (s *Store) Deliver(ctx context.Context, d store.Delivery) error {
	if err := store.CheckDelivery(d); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.now()
	p := &pending{d: d, date: d.InternalDate, now: now, done: make(chan struct{})}
	if p.date.IsZero() {
		p.date = now
	}
	// Recipients in account order: every delivery locks rows in the same
	// order, which keeps deadlocks between nodes' batches rare.
	p.d.Recipients = slices.Clone(d.Recipients)
	slices.SortStableFunc(p.d.Recipients, func(a, b store.Recipient) int { return cmp.Compare(a.AccountID, b.AccountID) })
	s.commits.arriving.Add(1)
	body, err := s.writeBodyAsync(ctx, d.Body)
	if err != nil {
		s.commits.arriving.Add(-1)
		return err
	}
	p.body = body
	return s.commits.submit(p)
}

// writeBodyAsync stores a body in a transaction of its own that does not
// wait for the WAL flush (see Deliver).
func (s *Store) writeBodyAsync(ctx context.Context, r interface{ Read([]byte) (int, error) }) (storedBody, error) {
	var body storedBody
	err := s.runTx(ctx, "storing message", func(t *tx) error {
		if _, err := t.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return temporary("storing message", err)
		}
		var err error
		body, err = s.writeBody(ctx, t, r, false)
		return err
	})
	return body, err
}

// pending is one delivery waiting for the committer.
type pending struct {
	d         store.Delivery
	body      storedBody
	date, now time.Time
	err       error
	done      chan struct{}
}

// committer runs the delivery transactions (see Deliver).
type committer struct {
	s        *Store
	reqs     chan *pending
	quit     chan struct{}
	stopped  chan struct{}
	arriving atomic.Int64 // deliveries writing their bodies or waiting
	commits  atomic.Int64 // transactions committed, for the benchmark
}

// maxBatch bounds the deliveries of one transaction; gatherWait how long
// a batch waits for deliveries whose bodies are still being written
// (small next to a WAL flush).
const (
	maxBatch   = 64
	gatherWait = 300 * time.Microsecond
)

func startCommitter(s *Store) *committer {
	c := &committer{s: s, reqs: make(chan *pending), quit: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c
}

// submit hands p to the committer and waits for its outcome. It does not
// give up when the caller's context ends: once submitted, the caller must
// learn whether the message was stored.
func (c *committer) submit(p *pending) error {
	defer c.arriving.Add(-1)
	select {
	case c.reqs <- p:
	case <-c.quit:
		return temporary("delivering", errors.New("store closed"))
	}
	<-p.done
	return p.err
}

func (c *committer) stop() {
	close(c.quit)
	<-c.stopped
}

func (c *committer) run() {
	defer close(c.stopped)
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case p := <-c.reqs:
			batch := c.gather(p, timer)
			c.commit(batch)
			for _, p := range batch {
				close(p.done)
			}
		case <-c.quit:
			return
		}
	}
}

// gather builds a batch starting with p: whatever queued up while the last
// commit ran, then, for at most gatherWait, deliveries still arriving.
func (c *committer) gather(p *pending, timer *time.Timer) []*pending {
	batch := []*pending{p}
	for len(batch) < maxBatch {
		select {
		case p := <-c.reqs:
			batch = append(batch, p)
			continue
		default:
		}
		break
	}
	if len(batch) >= maxBatch || c.arriving.Load() <= int64(len(batch)) {
		return batch
	}
	timer.Reset(gatherWait)
	defer timer.Stop()
	for len(batch) < maxBatch && c.arriving.Load() > int64(len(batch)) {
		select {
		case p := <-c.reqs:
			batch = append(batch, p)
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// commit stores a batch in one transaction and sets each delivery's err.
// The bodies are committed already, so the transaction can run again:
// it runs without savepoints (two round trips fewer per delivery), and
// when one delivery fails it is left out and the rest run again. A
// delivery PostgreSQL aborted to break a deadlock is tried again.
func (c *committer) commit(batch []*pending) {
	s := c.s
	ctx := context.Background() // callers cannot abandon a commit (submit)
	// Deliveries in order of their first account, like each delivery's
	// recipients: batches of two nodes lock mailboxes in the same order.
	slices.SortStableFunc(batch, func(a, b *pending) int { return cmp.Compare(firstAccount(a), firstAccount(b)) })
	live := slices.Clone(batch)
	for retries := 0; len(live) > 0; {
		var failed *pending
		err := s.runTx(ctx, "delivering", func(t *tx) error {
			for _, p := range live {
				if err := s.insertDelivery(ctx, t, p); err != nil {
					failed, p.err = p, err
					return errDelivery
				}
			}
			return nil
		})
		switch {
		case err == nil:
			c.commits.Add(1)
			return
		case !errors.Is(err, errDelivery):
			// BEGIN or COMMIT failed: nothing committed, or the
			// outcome is unknown; either way the caller may retry.
			for _, p := range live {
				p.err = err
			}
			return
		case retryable(failed.err) && retries < maxAttempts:
			retries++
			failed.err = nil
		default:
			live = slices.DeleteFunc(live, func(p *pending) bool { return p == failed })
		}
	}
}

// errDelivery stops a batch's transaction at a failing delivery.
var errDelivery = errors.New("a delivery of the batch failed")

func firstAccount(p *pending) int64 {
	if len(p.d.Recipients) > 0 {
		return p.d.Recipients[0].AccountID
	}
	return 0
}

// insertDelivery adds one delivery's rows within t.
func (s *Store) insertDelivery(ctx context.Context, t *tx, p *pending) error {
	if f := p.d.Fetched; f != nil {
		_, err := t.Exec(ctx, `INSERT INTO fetch_seen (source_id, scope, id, fingerprint) VALUES ($1, $2, $3, $4)`,
			f.SourceID, f.Scope, f.ID, f.Fingerprint)
		if isForeignKeyViolation(err) {
			return notFound("fetch source %d", f.SourceID)
		} else if err != nil {
			return dbError("recording fetched message", err)
		}
	}
	for _, r := range p.d.Recipients {
		if err := s.deliverOne(ctx, t, r, p.body, p.date, p.now); err != nil {
			return err
		}
	}
	if p.d.Outbound != nil {
		return insertQueued(ctx, t, p.d.Outbound, p.body, p.date)
	}
	return nil
}

// deliverOne adds the message row of one recipient.
func (s *Store) deliverOne(ctx context.Context, t *tx, r store.Recipient, body storedBody, date, now time.Time) error {
	mb, uid, err := s.targetUID(ctx, t, r)
	if err != nil {
		return err
	}
	if err := fitsQuota(ctx, t, r.AccountID, body.Size); err != nil {
		return err
	}
	_, err = insertRow(ctx, t, mb, uid, newRow{bodyID: body.id, size: body.Size, dotLines: body.DotLines,
		date: date, flags: store.FormatFlags(r.Flags), uidl: r.UIDL, saved: now}, false)
	if err != nil {
		return err
	}
	t.event(store.Event{Kind: store.EventNew, AccountID: r.AccountID, MailboxID: mb.ID})
	return nil
}

// targetUID takes the next UID of the mailbox r names, creating the
// mailbox when r asks for it, or of INBOX when the named mailbox cannot be
// used (see store.Recipient). Taking the UID locks the mailbox row.
func (s *Store) targetUID(ctx context.Context, t *tx, r store.Recipient) (store.Mailbox, uint32, error) {
	name := store.CanonicalMailboxName(r.Mailbox)
	if name == "" || !store.ValidMailboxName(name) {
		name = store.InboxName
	}
	var mb store.Mailbox
	var uid uint32
	next := func(name string) error {
		return t.QueryRow(ctx, `UPDATE mailboxes SET uidnext = uidnext + 1 WHERE account_id = $1 AND name = $2
			RETURNING id, account_id, name, uidvalidity, uidnext - 1`, r.AccountID, name).
			Scan(&mb.ID, &mb.AccountID, &mb.Name, &mb.UIDValidity, &uid)
	}
	err := next(name)
	if errors.Is(err, pgx.ErrNoRows) && name != store.InboxName && r.Create {
		var exists bool
		if err := t.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, r.AccountID).Scan(&exists); err != nil {
			return mb, 0, temporary("delivering", err)
		}
		if exists {
			// ON CONFLICT: another delivery may be creating it right now.
			if err := s.createParents(ctx, t, r.AccountID, name); err != nil {
				return mb, 0, err
			}
			validity, verr := s.nextUIDValidity(ctx, t)
			if verr != nil {
				return mb, 0, verr
			}
			if _, err := t.Exec(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity) VALUES ($1, $2, $3)
				ON CONFLICT DO NOTHING`, r.AccountID, name, validity); err != nil {
				return mb, 0, temporary("creating mailbox", err)
			}
			t.event(store.Event{Kind: store.EventMailboxes, AccountID: r.AccountID})
			err = next(name)
		}
	}
	if errors.Is(err, pgx.ErrNoRows) && name != store.InboxName {
		err = next(store.InboxName)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return mb, 0, notFound("account %d", r.AccountID)
	} else if err != nil {
		return mb, 0, temporary("delivering", err)
	}
	return mb, uid, nil
}
